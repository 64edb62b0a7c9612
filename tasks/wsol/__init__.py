"""Weakly supervised object localization (WSOL) task plugin."""


def register() -> None:
    """Entry point of the ``pgg_zoo.plugins`` group: registers the WSOL task and its parts.

    Uses only the public registration API, exactly as a third-party plugin would.
    """
    from pathlib import Path

    from pgg_zoo.benchmarks import register_benchmark
    from pgg_zoo.recipes import register_recipes

    from . import task  # noqa: F401  (the @register_task decorator registers "wsol")
    from .backbones import register_backbones
    from .data.benchmark import SHAPES_V1, SHAPES_V2
    from .data.finegrained import FINEGRAINED_V1, FINEGRAINED_V2
    from .metrics import register_metrics

    register_backbones()
    register_metrics()
    # the embedded benchmarks, by the public call a third party's benchmark uses
    for spec in (SHAPES_V1, SHAPES_V2, FINEGRAINED_V1, FINEGRAINED_V2):
        register_benchmark(spec)
    # the paper's protocols on the real data sets, as shipped run configurations
    register_recipes(Path(__file__).parent / "recipes")
