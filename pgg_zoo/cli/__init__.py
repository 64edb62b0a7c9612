"""The ``pgg-zoo`` command."""
