"""Weakly supervised object localization (WSOL) task plugin."""


def register() -> None:
    """Entry point of the ``pgg_zoo.plugins`` group: registers the WSOL task and its parts.

    Uses only the public registration API, exactly as a third-party plugin would.
    """
    from pathlib import Path

    from pgg_zoo.recipes import register_recipes

    from . import task  # noqa: F401  (the @register_task decorator registers "wsol")
    from .backbones import register_backbones
    from .metrics import register_metrics

    register_backbones()
    register_metrics()
    # the paper's protocols on the real data sets, as shipped run configurations
    register_recipes(Path(__file__).parent / "recipes")
