"""Classification task plugin: edit provenance (a generative editor's unedited region as the
label's target) and group-robustness metrics (Waterbirds protocol).

Modules: ``data`` (ImageFolder, Waterbirds metadata-CSV and CUB readers), ``edits`` (edits.csv,
Otsu edit masks, mask dilation/erosion by area percentage), ``synthesizers`` (the
``edit_provenance`` synthesizer), ``metrics``, ``benchmark`` (the embedded
``waterbirds-shapes-v1`` with its procedural background editor) and ``task``.
"""


def register() -> None:
    """Entry point of the ``pgg_zoo.plugins`` group: registers the classification task, the
    ``edit_provenance`` synthesizer and the protocol-named metrics (``top1[cls]``,
    ``worst_group_acc[waterbirds]``, ...). ResizeMix is a core synthesizer (``resizemix``)."""
    from pathlib import Path

    from pgg_zoo.benchmarks import register_benchmark
    from pgg_zoo.recipes import register_recipes
    from pgg_zoo.registry import SYNTHESIZERS
    from pgg_zoo.vision.backbones import register_image_backbones

    from . import task  # noqa: F401  (the @register_task decorator registers "classification")
    from .benchmark import RELEASED
    from .metrics import register_metrics
    from .synthesizers import EditProvenance

    SYNTHESIZERS.add("edit_provenance", EditProvenance, modality="image")
    register_metrics()
    register_image_backbones("classification")
    # the embedded benchmarks, by the public call a third party's benchmark uses
    for spec in RELEASED:
        register_benchmark(spec)
    # the paper's protocols on the real data sets, as shipped run configurations
    register_recipes(Path(__file__).parent / "recipes")
