"""The decoy task: a classifier trained on decoyed digits, with the swatch as recorded
provenance, scored by accuracy on digits whose swatch shade is random."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from torch import nn
from torch.utils.data import Dataset

from pgg_zoo import Task, register_task
from pgg_zoo.registry import BACKBONES
from pgg_zoo.task import ConfigError, RunConfig

from .data import VARIANTS, DecoyDigits, ensure_benchmark
from .model import DigitClassifier

__all__ = ["DecoyTask", "DecoyAccuracy", "DEMO_VARIANTS", "SETTINGS"]

#: The RRR comparison: the clean ceiling, plain training on decoyed data, guidance with the
#: recorded provenance, and the paper's two controls (random mask, no mask).
DEMO_VARIANTS: dict[str, dict[str, Any]] = {
    "clean": {"train_set": "clean", "guidance": False},
    "plain": {"guidance": False},
    "pgg": {"guidance": True, "guidance_mask": "provenance"},
    "random-mask": {"guidance": True, "guidance_mask": "random"},
    "no-mask": {"guidance": True, "guidance_mask": "none"},
}


#: Named settings (task option ``setting``): task options and run options filled in where the
#: caller gave none. ``anywhere-convnet`` is the demo where the true provenance beats the
#: random-mask control (docs/decoy.md, study v3): study v2's data and convnet, at the alpha
#: chosen on val for that separation.
SETTINGS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "anywhere-convnet": ({"variant": "anywhere", "backbone": "convnet", "alpha": 1.0},
                         {"epochs": 15}),
}


def top1_accuracy(preds: Sequence[int], labels: Sequence[int]) -> float:
    """Percent of ``preds`` equal to ``labels`` (registered as ``top1[decoy]``)."""
    p, y = np.asarray(preds), np.asarray(labels)
    if len(y) == 0:
        return float("nan")
    return 100.0 * float((p == y).mean())


class DecoyAccuracy(BaseMetric):
    """Top-1 accuracy in percent (``top1``)."""

    default_prefix = ""

    def process(self, data_batch: Any, data_samples: Sequence[Mapping[str, Any]]) -> None:
        self.results.extend((int(p["pred"]), int(p["label"])) for p in data_samples)

    def compute_metrics(self, results: list) -> dict[str, float]:
        arr = np.asarray(results)
        return {"top1": top1_accuracy(arr[:, 0], arr[:, 1])}


@register_task("decoy")
class DecoyTask(Task):
    """RRR-style decoy digits (docs/decoy.md).

    ``setting``: a named setting of :data:`SETTINGS` (``"anywhere-convnet"``: the demo where
    true provenance beats the random-mask control), filling in what is not given.
    ``variant``: ``"corner"`` (RRR's swatch in a random corner) or ``"anywhere"`` (a swatch in
    the background at a position that changes per image). ``train_set``: ``"decoy"`` (the
    decoyed training digits, with the swatch as recorded provenance) or ``"clean"`` (the same
    digits without swatch: the ceiling). ``data_root``: a decoy-digits folder (default: the
    embedded benchmark of ``variant``, written on first use). Splits: train, val (300 digits,
    random shades like test) and test.
    """

    defaults = {
        "backbone": "mlp",
        "synthesizer": "recorded",
        "variant": "corner",
        "train_set": "decoy",
        # Chosen on the val split by `pgg-zoo alpha decoy` (docs/decoy.md, "Choosing alpha").
        "alpha": 1.0,
        # A named setting (SETTINGS) filling in the options not given; None: these defaults.
        "setting": None,
    }
    run_defaults = {
        "epochs": 30,
        "batch_size": 64,
        "lr": 1e-3,
        "weight_decay": 0.0,
        "optimizer": "adam",
    }
    summary_metrics = ("top1", "leakage")
    demo_variants = DEMO_VARIANTS
    # the demo already is the whole RRR ablation (ceiling, plain, guided, both mask controls);
    # the default would add a no-mix run that is the same as plain
    ablation_variants = DEMO_VARIANTS
    native_val = True

    def __init__(self, options: Mapping[str, Any] | None = None, run: Any = None,
                 **kwargs: Any) -> None:
        """As :class:`~pgg_zoo.Task`; a ``setting`` (:data:`SETTINGS`) first fills in the task
        options and run options the caller did not give (a complete ``RunConfig`` is kept as
        it is). The built task's options and run hold the values, as if given one by one."""
        options = dict(options or {})
        name = options.get("setting")
        if name is not None:
            if name not in SETTINGS:
                raise ConfigError(f"option setting: must be one of {sorted(SETTINGS)} or null, "
                                  f"got {name!r}")
            task_opts, run_opts = SETTINGS[name]
            options = {**task_opts, **options}
            if not isinstance(run, RunConfig):
                run = {**run_opts, **dict(run or {})}
        super().__init__(options, run, **kwargs)

    def validate_config(self) -> None:
        c = self.options
        if c["variant"] not in VARIANTS:
            raise ConfigError(f"variant must be one of {list(VARIANTS)}, got {c['variant']!r}")
        if c["train_set"] not in ("decoy", "clean"):
            raise ConfigError(f"train_set must be 'decoy' or 'clean', got {c['train_set']!r}")
        if self.run.data_root is not None and not Path(self.run.data_root).is_dir():
            raise FileNotFoundError(f"data_root {self.run.data_root} is not a folder")

    def data_root(self) -> Path:
        """The decoy-digits folder; the embedded benchmark is written on first use."""
        if self.run.data_root is not None:
            return Path(self.run.data_root)
        return ensure_benchmark(self.options["variant"])

    def build_dataset(self, split: str) -> Dataset:
        """``"train"`` (decoyed or clean per ``train_set``), ``"val"`` or ``"test"``."""
        if split not in ("train", "val", "test"):
            raise ConfigError(f"split must be 'train', 'val' or 'test', got {split!r}")
        if split == "train" and self.options["train_set"] == "clean":
            split = "train_clean"
        return DecoyDigits(self.data_root(), split)

    def collate(self, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """``inputs`` (B, 1, 28, 28); data_samples: ``labels`` (B,), ``image_ids``,
        ``provenance_masks`` (B, 1, 28, 28)."""
        return {"inputs": torch.stack([it["inputs"] for it in items]),
                "data_samples": {
                    "labels": torch.tensor([it["label"] for it in items], dtype=torch.long),
                    "image_ids": [it["image_id"] for it in items],
                    "provenance_masks": torch.stack([it["provenance_mask"] for it in items])}}

    def num_classes(self) -> int:
        """The ten digit classes."""
        return 10

    def build_model(self) -> nn.Module:
        name = self.options["backbone"]
        net = BACKBONES.build(name) if isinstance(name, str) else name
        return DigitClassifier(net)

    def build_metrics(self) -> list[Any]:
        return [DecoyAccuracy()]

    def demo_figure(self, tasks: Mapping[str, "DecoyTask"], path: Path, n: int = 6) -> Path:
        """Input-gradient maps of each variant's model on the same test digits."""
        from .figures import gradient_figure

        return gradient_figure(tasks, self.build_dataset("test"), path, n=n)
