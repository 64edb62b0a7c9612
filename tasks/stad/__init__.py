"""Spatio-temporal action detection (STAD) task plugin.

Subpackages: ``data`` (video decoding, UCF101-24/JHMDB pickle and AVA CSV readers, the embedded
``stad-sprites-v1`` benchmark), ``metrics`` (frame-mAP, video-mAP, tube linking, named protocol
presets), ``models`` (3-D backbones and the RoI action head), ``roi`` (RoIAlign that is
differentiable twice) and ``paste`` (the video-paste synthesizer).
"""


def register() -> None:
    """Entry point of the ``pgg_zoo.plugins`` group: registers the STAD task and its parts."""
    from pathlib import Path

    from pgg_zoo.benchmarks import register_benchmark
    from pgg_zoo.recipes import register_recipes

    from . import task  # noqa: F401  (the @register_task decorator registers "stad")
    from .data.benchmark import SPRITES_V1
    from .data.scenes import SCENES_V1, SCENES_V2
    from .metrics import register_metrics
    from .models import register_backbones
    from .paste import register_synthesizers

    register_backbones()
    register_synthesizers()
    register_metrics()
    # the embedded benchmarks, by the public call a third party's benchmark uses
    for spec in (SPRITES_V1, SCENES_V1, SCENES_V2):
        register_benchmark(spec)
    # the paper's protocols on the real data sets, as shipped run configurations
    register_recipes(Path(__file__).parent / "recipes")
