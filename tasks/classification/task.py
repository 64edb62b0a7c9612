"""The classification task: a CAM classifier trained on (edited) images, scored by top-1/top-5,
balanced, per-group and worst-group accuracy."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from pgg_zoo import Task, register_task
from pgg_zoo.registry import BACKBONES
from pgg_zoo.task import ConfigError
from pgg_zoo.vision.backbones import build_backbone, tiny_cam, vgg16_cam
from pgg_zoo.vision.cam import CAMClassifier

from .metrics import ClassificationMetric

__all__ = ["Classifier", "ClassificationTask", "DEMO_VARIANTS"]

#: Backbones of the WSOL plugin, used directly when that plugin is not loaded (its
#: ``register_backbones`` owns the registry names).
_WSOL_BACKBONES = {"tiny_cam": tiny_cam, "vgg16": vgg16_cam}

#: The classification demo: plain training, + edited data, + edited data with guidance
#: (only ``guidance`` differs between the last two).
DEMO_VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {"synthesizer": "none", "edits": False, "guidance": False},
    "edited": {"synthesizer": "edit_provenance", "edits": True, "guidance": False},
    "edited+pgg": {"synthesizer": "edit_provenance", "edits": True, "guidance": True,
                   "guidance_mask": "provenance"},
}


class Classifier(CAMClassifier):
    """:class:`~pgg_zoo.vision.cam.CAMClassifier` (backbone -> GAP -> linear; loss and
    label logits unchanged) whose ``predict`` returns what the classification metrics need."""

    @torch.no_grad()
    def predict(self, inputs: Tensor, batch: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Per image: ``top5`` class ids (best first, min(5, K)), ``label``, ``group``."""
        logits = self(inputs)["logits"].float()
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices.cpu().numpy()
        labels = batch["labels"].tolist()
        groups = batch["groups"].tolist() if "groups" in batch else [-1] * len(labels)
        return [{"top5": top[i], "label": int(labels[i]), "group": int(groups[i])}
                for i in range(len(labels))]


@register_task("classification")
class ClassificationTask(Task):
    """Image classification with edit provenance and group-robustness metrics.

    Data (``data_root``): an ImageFolder tree, a Waterbirds-style ``metadata.csv`` folder or
    CUB-200-2011 (``layout="auto"`` tells them apart); when ``data_root`` is None, the embedded
    ``waterbirds-shapes-v1`` benchmark (written on first use). ``edits``: False (no edited
    data), True (``<data_root>/edits/edits.csv``; the benchmark's own edits), or the path of
    an ``edits.csv`` (docs/classification.md). Default: edited data with edit-provenance
    guidance, the paper's setting.
    """

    defaults = {
        "backbone": "tiny_cam",
        "synthesizer": "edit_provenance",
        "image_size": 48,
        "num_classes": None,
        "output_stride": 16,
        "layout": "auto",
        "edits": True,
        "edit_min_difference": 24,
        "edit_mask_adjust": 0.0,
        "epochs": 10,
        "batch_size": 32,
        "lr": 1e-3,
        "optimizer": "adamw",
        "hflip": False,
        "eval_split": "test",
    }
    summary_metrics = ("top1", "worst_group_acc", "balanced_acc")
    #: ``eval_split="val"`` reads the data set's own val split (Waterbirds, ImageFolder val/).
    native_val = True
    demo_variants = DEMO_VARIANTS

    def validate_config(self) -> None:
        c = self.config
        if int(c["image_size"]) < 16:
            raise ConfigError(f"image_size must be >= 16, got {c['image_size']}")
        root = c["data_root"]
        if root is not None and not Path(root).is_dir():
            raise FileNotFoundError(f"data_root {root} is not a folder")
        if c["synthesizer"] == "edit_provenance" and not c["edits"]:
            raise ConfigError("synthesizer 'edit_provenance' needs edited data: set edits=True "
                              "or edits='<path to edits.csv>'")
        if float(c["edit_mask_adjust"]) <= -100:
            raise ConfigError(f"edit_mask_adjust is a percentage > -100, got {c['edit_mask_adjust']}")
        if c["eval_split"] not in ("val", "test"):
            raise ConfigError(f"eval_split must be 'val' or 'test', got {c['eval_split']!r}")

    # -- data ----------------------------------------------------------------------------
    def data_root(self) -> Path:
        """The dataset folder; the embedded benchmark is generated on first use."""
        if self.config["data_root"] is not None:
            return Path(self.config["data_root"])
        from .benchmark import ensure_benchmark

        return ensure_benchmark()

    def edits_csv(self) -> Path | None:
        e = self.config["edits"]
        if not e:
            return None
        path = self.data_root() / "edits" / "edits.csv" if e is True else Path(e)
        if not path.is_file():
            from pgg_zoo.data.errors import MissingFileError

            raise MissingFileError(path, "edits mapping file not found (edits=True reads "
                                   "<data_root>/edits/edits.csv; pass edits='<path>', or "
                                   "edits=False with synthesizer 'none', 'cutmix' or 'resizemix')")
        return path

    def _open(self, split: str, **kw: Any):
        from .data import open_split

        root = self.data_root()
        extra: dict[str, Any] = {}
        if self.config["data_root"] is None:
            from .benchmark import SPEC

            extra["class_names"] = SPEC["classes"]
        return open_split(root, split, self.config["layout"],
                          image_size=int(self.config["image_size"]), **extra, **kw)

    def num_classes(self) -> int:
        if self.config["num_classes"] is not None:
            return int(self.config["num_classes"])
        if not hasattr(self, "_num_classes"):
            self._num_classes = self._open("train").num_classes
        return self._num_classes

    def build_dataset(self, split: str) -> Dataset:
        """``"train"``: the train split (+ edited copies when ``edits``); ``"test"``: the
        configured ``eval_split`` (default test; "val" for model selection)."""
        if split == "train":
            ds = self._open("train", hflip=0.5 if self.config["hflip"] else 0.0)
            csv = self.edits_csv()
            if csv is None:
                return ds
            from .edits import WithEdits

            return WithEdits(ds, csv, self.data_root(),
                             min_difference=int(self.config["edit_min_difference"]),
                             adjust_percent=float(self.config["edit_mask_adjust"]))
        return self._open(self.config["eval_split"] if split == "test" else split)

    def collate(self, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """``inputs`` (B, 3, S, S); data_samples: ``labels`` (B,), ``groups`` (B,),
        ``image_ids``, and ``edit_masks`` (B, 1, S, S) when the items carry edit masks."""
        samples: dict[str, Any] = {
            "labels": torch.tensor([int(it["label"]) for it in items], dtype=torch.long),
            "groups": torch.tensor([int(it.get("group", -1)) for it in items], dtype=torch.long),
            "image_ids": [it["image_id"] for it in items],
        }
        if all("edit_mask" in it for it in items):
            samples["edit_masks"] = torch.stack([it["edit_mask"] for it in items])
        return {"inputs": torch.stack([it["inputs"] for it in items]), "data_samples": samples}

    # -- model and metrics -----------------------------------------------------------------
    def build_model(self) -> nn.Module:
        name = self.config["backbone"]
        kw = {"output_stride": self.config["output_stride"]}
        if name not in BACKBONES and name in _WSOL_BACKBONES:
            feats = _WSOL_BACKBONES[name](**kw)
        else:
            feats = build_backbone(name, **kw)
        return Classifier(feats, self.num_classes())

    def build_metrics(self) -> list[Any]:
        return [ClassificationMetric()]
