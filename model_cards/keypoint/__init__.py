"""Model cards (data only: a package so that setuptools ships these files; see docs/model_cards.md)."""
