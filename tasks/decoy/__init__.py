"""Decoy task plugin: the RRR decoy-digits benchmark (Ross et al., IJCAI 2017, "Right for the
Right Reasons"), where input-gradient penalties are known to work.

Each training digit carries a small swatch whose shade encodes its class; at test the shade is
random. A model that reads the swatch fails at test. The swatch is drawn in by synthesis, so
the data records which pixels are *not* the label's target (the swatch) — the provenance. Two
variants: the swatch in a random corner (RRR's setting) and anywhere in the background (a
random-mask control cannot cover it there).

Modules: ``data`` (the benchmark writer and its ImageFolder + decoys.csv reader), ``model``
(the 784-50-30-10 MLP), ``task`` (the task, its metric and study variants).
"""


def register() -> None:
    """Entry point of the ``pgg_zoo.plugins`` group: registers the ``decoy`` task, its ``mlp``
    and ``convnet`` backbones, the ``top1[decoy]`` metric and the released benchmarks
    ``decoy-digits-corner-v1`` / ``decoy-digits-anywhere-v1``."""
    from pgg_zoo.registry import BACKBONES, METRICS

    from . import task  # noqa: F401  (the @register_task decorator registers "decoy")
    from .model import convnet, mlp

    if "top1[decoy]" not in METRICS:
        METRICS.add("top1[decoy]", task.top1_accuracy, task="decoy", protocol="decoy",
                    higher_is_better=True)
    if "mlp" not in BACKBONES:
        BACKBONES.add("mlp", mlp, tasks=("decoy",))
    if "convnet" not in BACKBONES:
        BACKBONES.add("convnet", convnet, tasks=("decoy",))
    from pgg_zoo.benchmarks import register_benchmark

    from .data import RELEASED

    for spec in RELEASED.values():
        register_benchmark(spec)
