"""A complete third-party pgg_zoo task plugin: "toy_blobs".

Images are 16 x 16 noise with one bright square whose colour channel is the class. The task
shows everything a plugin provides: a model that follows ``pgg_zoo.TaskModel``, a dataset, a
collate function and an mmengine metric. The package's ``pyproject.toml`` declares::

    [project.entry-points."pgg_zoo.plugins"]
    toy = "pgg_toy_plugin:register"
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from torch import Tensor, nn
from torch.utils.data import Dataset

import pgg_zoo


class ToyBlobs(Dataset):
    """``n`` images ``(3, 16, 16)``; class ``k`` has a bright square in channel ``k``."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.rand(n, 3, 16, 16, generator=g) * 0.2
        self.y = torch.randint(0, 3, (n,), generator=g)
        for i in range(n):
            r, c = torch.randint(0, 10, (2,), generator=g).tolist()
            self.x[i, self.y[i], r : r + 6, c : c + 6] += 1.0

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"inputs": self.x[i], "label": int(self.y[i])}


class ToyNet(nn.Module):
    """Conv -> global average pool -> linear, following ``pgg_zoo.TaskModel``."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, inputs: Tensor, batch: Mapping[str, Any] | None = None) -> Tensor:
        return self.fc(F.relu(self.conv(inputs)).mean(dim=(2, 3)))

    def label_logits(self, outputs: Tensor, provenance, batch) -> Tensor:
        return outputs.gather(1, provenance.labels)  # (B, L)

    def task_loss(self, outputs: Tensor, provenance, batch) -> Tensor:
        nll = -F.log_softmax(outputs, 1).gather(1, provenance.labels)
        return (nll * provenance.weights * provenance.valid).sum(1).mean()

    @torch.no_grad()
    def predict(self, inputs: Tensor, batch: Mapping[str, Any]) -> list[dict[str, Any]]:
        pred = self(inputs).argmax(1)
        return [{"pred": int(p), "label": int(y)} for p, y in zip(pred, batch["labels"])]


class ToyAccuracy(BaseMetric):
    default_prefix = ""  # keys stay unprefixed ("top1"), without mmengine's warning

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        self.results.extend(int(s["pred"] == s["label"]) for s in data_samples)

    def compute_metrics(self, results: list) -> dict[str, float]:
        return {"top1": 100.0 * sum(results) / max(len(results), 1)}


class ToyBlobsTask(pgg_zoo.Task):
    defaults = {"backbone": "toynet"}
    run_defaults = {"epochs": 2, "batch_size": 16, "lr": 0.01}
    summary_metrics = ("top1",)

    def build_model(self) -> nn.Module:
        return ToyNet()

    def build_dataset(self, split: str) -> Dataset:
        return ToyBlobs(64 if split == "train" else 32, seed=0 if split == "train" else 1)

    def collate(self, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return {
            "inputs": torch.stack([it["inputs"] for it in items]),
            "data_samples": {"labels": torch.tensor([it["label"] for it in items])},
        }

    def build_metrics(self) -> list[Any]:
        return [ToyAccuracy()]


def register() -> None:
    """The ``pgg_zoo.plugins`` entry point: register through the public API only."""
    pgg_zoo.register_task("toy_blobs")(ToyBlobsTask)
    pgg_zoo.BACKBONES.add("toynet", ToyNet, tasks=("toy_blobs",))
