"""The WSOL task: a CAM classifier trained on synthesized images, scored by box metrics."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import Dataset

from pgg_zoo import Task, register_task
from pgg_zoo.task import ConfigError

from .backbones import build_backbone
from .evaluator import WSOLMetric
from .model import CAMClassifier


@register_task("wsol")
class WSOLTask(Task):
    """Weakly supervised object localization with a CAM classifier.

    Data: a CUB-200-2011 folder (``data_root``), or the embedded benchmark
    ``wsol-shapes-v1`` (written in CUB layout on first use) when ``data_root`` is None.
    """

    defaults = {
        "backbone": "tiny_cam",
        "image_size": 64,
        "num_classes": None,
        "output_stride": 16,
        "epochs": 12,
        "batch_size": 32,
        "lr": 1e-3,
        "optimizer": "adamw",
        "preset": "wsoleval",
        "hflip": False,
    }
    #: Columns of the demo / ablation tables.
    summary_metrics = ("top1", "maxboxacc_v2", "maxboxacc_v2@30", "maxboxacc_v2@50",
                       "maxboxacc_v2@70")

    def validate_config(self) -> None:
        c = self.config
        if int(c["image_size"]) < 16:
            raise ConfigError(f"image_size must be >= 16, got {c['image_size']}")
        if c["data_root"] is not None and not Path(c["data_root"]).is_dir():
            raise FileNotFoundError(f"data_root {c['data_root']} is not a folder")

    # -- data ----------------------------------------------------------------------------
    def data_root(self) -> Path:
        """The dataset folder; the embedded benchmark is generated on first use."""
        if self.config["data_root"] is not None:
            return Path(self.config["data_root"])
        from .data import ensure_shapes_benchmark

        return ensure_shapes_benchmark()

    def num_classes(self) -> int:
        if self.config["num_classes"] is not None:
            return int(self.config["num_classes"])
        if self.config["data_root"] is None:
            from .data import SPEC

            return len(SPEC["classes"])
        from .data import CUBDataset

        return CUBDataset(self.data_root(), split="train").num_classes

    def build_dataset(self, split: str) -> Dataset:
        from .data import CUBDataset

        return CUBDataset(self.data_root(), split=split, image_size=int(self.config["image_size"]),
                          hflip=bool(self.config["hflip"]) and split == "train")

    def collate(self, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        samples: dict[str, Any] = {
            "labels": torch.tensor([int(it["label"]) for it in items], dtype=torch.long),
            "boxes": [torch.as_tensor(it["boxes"], dtype=torch.float32) for it in items],
            "image_ids": [it["image_id"] for it in items],
        }
        if all("mask" in it for it in items):
            samples["masks"] = torch.stack([torch.as_tensor(it["mask"]) for it in items])
        return {"inputs": torch.stack([it["inputs"] for it in items]), "data_samples": samples}

    # -- model and metrics -----------------------------------------------------------------
    def build_model(self) -> nn.Module:
        feats = build_backbone(self.config["backbone"], output_stride=self.config["output_stride"])
        return CAMClassifier(feats, self.num_classes())

    def build_metrics(self) -> list[Any]:
        return [WSOLMetric(preset=self.config["preset"])]

    def demo_figure(self, tasks: Mapping[str, "WSOLTask"], path: Path, n: int = 6) -> Path:
        """CAM overlays with GT (red) and predicted (green) boxes, one row per model."""
        from .figures import cam_comparison_figure

        return cam_comparison_figure(tasks, self.build_dataset("test"), path, n=n)
