"""What the engine needs from a task, as a protocol.

:class:`pgg_zoo.Task` satisfies it, and ``Task.train`` / ``Task.evaluate`` call the engine; the
engine names the protocol instead of the class, so the two modules do not import each other
and any object with these members can be run.
"""
from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence

from torch import nn
from torch.utils.data import Dataset

from ..config import RunConfig


class EngineTask(Protocol):
    """A built task as the engine sees it.

    Attributes:
        name: the registered task name (folder names, log names).
        options: the task options (what is built); the engine reads only the names that
            identify a run (``benchmark``, ``backbone``, ``synthesizer``, ``alpha``, ...).
        run: the run options, a :class:`~pgg_zoo.config.RunConfig`.
        model: the task model (``pgg_zoo.TaskModel``).
        synthesizer: the batch synthesizer (``(batch, generator) -> SynthesizedBatch``).
        guidance: the :class:`pgg_zoo.ProvenanceGuidance`.
        build_info: how it was built beyond its options (``allow_unverified``, ``recipe``),
            recorded in the run's ``config.yaml``.
    """

    name: str
    options: Mapping[str, Any]
    run: RunConfig
    model: nn.Module
    synthesizer: Any
    guidance: Any
    build_info: Mapping[str, Any]

    def dataset(self, split: str) -> Dataset:
        """The dataset the engine loads for ``split`` ("train", "val" or "test")."""
        ...

    def leakage_dataset(self, split: str) -> Dataset | None:
        """Items to measure gradient leakage on, or None for the evaluation split."""
        ...

    def collate(self, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """``{"inputs": (B, C, *grid), "data_samples": {...}}``."""
        ...

    def build_metrics(self) -> list[Any]:
        """mmengine ``BaseMetric`` instances."""
        ...
