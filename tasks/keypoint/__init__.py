"""Keypoint task plugin: weakly supervised spatio-temporal action localization from skeletons.

Modules: ``data`` (PoseC3D/pyskl skeleton pickles, UCF101-24-style ground-truth tubes, the
dataset), ``batchmix`` (the BatchMix synthesizer with provenance), ``model`` (the SKP-style
point network with the Pooling-Switching Trick), ``metrics`` (frame-/video-AP under ACT
conventions, video and person accuracy), ``benchmark`` (the embedded ``keypoint-sticks-v1``),
``figures`` and ``task``. Documentation: docs/keypoint.md.
"""


def register() -> None:
    """Entry point of the ``pgg_zoo.plugins`` group: registers the ``keypoint`` task, the
    ``batchmix`` synthesizer, the ``skp_tiny`` / ``skp_small`` backbones and the embedded
    ``keypoint-sticks-v1`` benchmark."""
    from pgg_zoo.benchmarks import register_benchmark
    from pgg_zoo.registry import BACKBONES, SYNTHESIZERS

    from . import task  # noqa: F401  (the @register_task decorator registers "keypoint")
    from .benchmark import STICKS_V1
    from .batchmix import BatchMix
    from .model import skp_small, skp_tiny

    if "batchmix" not in SYNTHESIZERS:
        SYNTHESIZERS.add("batchmix", BatchMix, modality="keypoint")
    for name, fn in (("skp_tiny", skp_tiny), ("skp_small", skp_small)):
        if name not in BACKBONES:
            BACKBONES.add(name, fn, tasks=("keypoint",), modality="keypoint")
    register_benchmark(STICKS_V1)
