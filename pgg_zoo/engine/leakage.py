"""The leakage hook: gradient leakage on held-out synthesized batches, logged with every run."""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..guidance import LeakageMeter
from .distributed import is_main_process

#: Seed offset of the leakage batches' synthesis: fixed per run seed, so that paired runs
#: (same seed, other variant) are measured on the same synthesized inputs.
LEAKAGE_SEED_OFFSET = 7919


def measure_leakage(model: Any, loader: Any, seed: int) -> dict[str, float]:
    """Mean leakage (percent) of ``model`` over the batches of ``loader``.

    The batches are synthesized by the model's own synthesizer from a generator seeded with
    ``seed + LEAKAGE_SEED_OFFSET``; the model is measured in eval mode (as it is deployed) and
    put back in its previous mode. Returns ``leakage`` with its chance level and slot count
    (``leakage_chance``, ``leakage_slots``), and ``cam_leakage`` for a model with label maps
    (measured on the same slots, so the same chance level and count apply); ``{}`` when no
    synthesized label owned less than its whole input (plain training, or data without
    provenance on this split).
    """
    model = model.module if is_model_wrapper(model) else model
    gen = torch.Generator()
    gen.manual_seed(int(seed) + LEAKAGE_SEED_OFFSET)
    meters: dict[str, LeakageMeter] = {}
    was_training = model.training
    model.eval()
    try:
        for data in loader:
            data = model.data_preprocessor(data, False)
            batch = {**(data.get("data_samples") or {}), "inputs": data["inputs"]}
            for name, parts in model.leakage(batch, gen).items():
                meters.setdefault(name, LeakageMeter(name=name)).update(*parts)
    finally:
        model.train(was_training)
    # Every meter counts the same slots (PGGModel.leakage): the chance level and the slot count
    # are the gradient meter's, reported once, not again under each map's name.
    return {k: v for m in meters.values() for k, v in m.result().items()
            if m.name == "leakage" or k == m.name}


class LeakageHook(Hook):
    """Adds ``leakage`` / ``leakage_chance`` to each evaluation's metrics and logs the leakage
    after every training epoch to ``<work_dir>/leakage.jsonl``.

    The items are a fixed, class-stratified held-out sample (``leakage_items`` of them; the
    engine's ``_leakage_loader``): of the task's declared leakage data
    (:meth:`pgg_zoo.Task.leakage_dataset`) or of the evaluation split. They are synthesized as
    in training. A synthesizer that cannot run on them (data whose provenance exists only for
    training items) is reported once and the metric is left out.

    Args:
        seed: the run's seed (the synthesis of the sample is drawn from it).
        split: name of the evaluation split, written into the log records.
        loader: the sample's batches; None disables the hook.
        declared: whether the items are the task's leakage data; the records then say
            ``"data": "leakage_dataset"``.
    """

    priority = "NORMAL"  # before MetricsRecorderHook (LOW) writes metrics.json

    def __init__(self, seed: int, split: str, loader: Any = None, declared: bool = False) -> None:
        self.seed = int(seed)
        self.split = split
        self.loader = loader
        self.declared = bool(declared)
        self._failed: str | None = None
        # (iteration, result) of the last end-of-epoch measurement: the evaluation that follows
        # the last epoch sees the same weights and batches, so it reuses it.
        self._last: tuple[int, dict[str, float]] | None = None

    def _measure(self, runner: Any) -> dict[str, float]:
        if self.loader is None or self._failed is not None:
            return {}
        try:
            return measure_leakage(runner.model, self.loader, self.seed)
        except (KeyError, ValueError) as exc:
            self._failed = str(exc)
            where = "the task's leakage data" if self.declared else f"the {self.split} split"
            warnings.warn(f"leakage not measured on {where}: {exc}", stacklevel=2)
            return {}

    def after_train_epoch(self, runner: Any) -> None:
        result = self._measure(runner)
        self._last = (runner.iter, result)
        if result and is_main_process():
            record = {"epoch": runner.epoch, "iter": runner.iter, "split": self.split,
                      "data": "leakage_dataset" if self.declared else self.split,
                      "metrics": result}
            with open(Path(runner.work_dir) / "leakage.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")

    def after_val_epoch(self, runner: Any, metrics: Any = None) -> None:
        if metrics is None:
            return
        if self._last is not None and self._last[0] == runner.iter:
            metrics.update(self._last[1])
        else:
            metrics.update(self._measure(runner))

    def after_test_epoch(self, runner: Any, metrics: Any = None) -> None:
        if metrics is not None:
            metrics.update(self._measure(runner))
