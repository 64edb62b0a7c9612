"""The classification task: a CAM classifier trained on (edited) images, scored by top-1/top-5,
balanced, per-group and worst-group accuracy."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from pgg_zoo import Task, register_task
from pgg_zoo.benchmarks import benchmark_option
from pgg_zoo.registry import BACKBONES
from pgg_zoo.task import ConfigError
from pgg_zoo.vision.backbones import build_backbone, tiny_cam, vgg16_cam
from pgg_zoo.vision.cam import CAMClassifier

from .benchmark import WaterbirdsShapesSpec
from .metrics import ClassificationMetric

__all__ = ["Classifier", "ClassificationTask", "DEMO_VARIANTS", "STUDY_VARIANTS"]

#: Backbones of the WSOL plugin, used directly when that plugin is not loaded (its
#: ``register_backbones`` owns the registry names).
_WSOL_BACKBONES = {"tiny_cam": tiny_cam, "vgg16": vgg16_cam}

#: The classification demo: plain training, + edited data, + edited data with guidance
#: (only ``guidance`` differs between the last two). ``plain`` keeps the edit-provenance
#: synthesizer with no edited copies (``edit_share=0``: every mask is all ones, so it trains
#: exactly as without a synthesizer) so that its leakage is measured on the same held-out
#: edits as the other variants'.
DEMO_VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {"synthesizer": "edit_provenance", "edits": True, "edit_share": 0.0,
              "guidance": False},
    "edited": {"synthesizer": "edit_provenance", "edits": True, "guidance": False},
    "edited+pgg": {"synthesizer": "edit_provenance", "edits": True, "guidance": True,
                   "guidance_mask": "provenance"},
}

#: The study of studies/log/classification.md (5 paired seeds): the demo's variants and the paper's
#: two controls, on the same data and seeds.
STUDY_VARIANTS: dict[str, dict[str, Any]] = {
    **DEMO_VARIANTS,
    "edited+random-mask": {"synthesizer": "edit_provenance", "edits": True, "guidance": True,
                           "guidance_mask": "random"},
    "edited+no-mask": {"synthesizer": "edit_provenance", "edits": True, "guidance": True,
                       "guidance_mask": "none"},
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
    benchmark named by ``benchmark`` (default ``waterbirds-shapes-v2``; written on first use).
    ``edits``: False (no edited data), True (``<data_root>/edits/edits.csv``; the benchmark's
    own edits), or the path of an ``edits.csv`` (docs/classification.md); ``edit_share`` uses
    a fixed fraction of its rows. ``heldout_edits``: edited copies of val images on which
    gradient leakage is measured (:meth:`leakage_dataset`). Default: edited data with
    edit-provenance guidance, the paper's setting.
    """

    defaults = {
        "backbone": "tiny_cam",
        "synthesizer": "edit_provenance",
        "image_size": 32,  # the embedded benchmarks are rendered at 48 and read at 32
        "num_classes": None,
        "output_stride": 16,
        "layout": "auto",
        "edits": True,
        "edit_min_difference": 24,
        "edit_mask_adjust": 0.0,
        # Fraction of the edits.csv rows used (stratified by class, nested: 0.1 is inside 0.3).
        "edit_share": 1.0,
        # Held-out edits for the leakage metric: "auto" (<data_root>/edits/val_edits.csv when it
        # exists), a path to a mapping file of val-split originals, or False.
        "heldout_edits": "auto",
        # The embedded benchmark used when data_root is None.
        "benchmark": "waterbirds-shapes-v2",
        # The best positive alpha of the val study on waterbirds-shapes-v2 (alpha 0, no
        # guidance, scored best there: studies/log/classification.md, "Results").
        "alpha": 0.1,
        "hflip": False,
    }
    run_defaults = {
        "epochs": 10,
        "batch_size": 32,
        "lr": 1e-3,
        "optimizer": "adamw",
        "eval_split": "test",
    }
    summary_metrics = ("top1", "worst_group_acc", "balanced_acc")
    #: Model selection (alpha on val) by worst-group accuracy, the Waterbirds convention.
    selection_metric = "worst_group_acc"
    #: ``eval_split="val"`` reads the data set's own val split (Waterbirds, ImageFolder val/).
    native_val = True
    demo_variants = DEMO_VARIANTS
    #: ``pgg-zoo ablate``: the study's variants (plain, edited, + guidance, both controls).
    ablation_variants = STUDY_VARIANTS

    def validate_config(self) -> None:
        c = self.options
        if int(c["image_size"]) < 16:
            raise ConfigError(f"image_size must be >= 16, got {c['image_size']}")
        root = self.run.data_root
        if root is not None and not Path(root).is_dir():
            raise FileNotFoundError(f"data_root {root} is not a folder")
        if c["synthesizer"] == "edit_provenance" and not c["edits"]:
            raise ConfigError("synthesizer 'edit_provenance' needs edited data: set edits=True "
                              "or edits='<path to edits.csv>'")
        if float(c["edit_mask_adjust"]) <= -100:
            raise ConfigError(f"edit_mask_adjust is a percentage > -100, got {c['edit_mask_adjust']}")
        share = c["edit_share"]
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise ConfigError(f"edit_share is a fraction in [0, 1], got {share!r}")
        if self.run.data_root is None:
            self._benchmark_spec()  # an unknown name is an error before anything is built
        if self.run.eval_split not in ("val", "test"):
            raise ConfigError(f"eval_split must be 'val' or 'test', got {self.run.eval_split!r}")

    # -- data ----------------------------------------------------------------------------
    def data_root(self) -> Path:
        """The dataset folder; the embedded benchmark is generated on first use."""
        if self.run.data_root is not None:
            return Path(self.run.data_root)
        return self._benchmark_spec().ensure()

    def _benchmark_spec(self) -> WaterbirdsShapesSpec:
        """The spec registered under the ``benchmark`` option (for ``classification``)."""
        return benchmark_option(  # type: ignore[return-value]
            self.options["benchmark"], "classification", (WaterbirdsShapesSpec,))

    def edits_csv(self) -> Path | None:
        e = self.options["edits"]
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
        if self.run.data_root is None:
            extra["class_names"] = list(self._benchmark_spec().params["classes"])
        return open_split(root, split, self.options["layout"],
                          image_size=int(self.options["image_size"]), **extra, **kw)

    def num_classes(self) -> int:
        if self.options["num_classes"] is not None:
            return int(self.options["num_classes"])
        if not hasattr(self, "_num_classes"):
            self._num_classes = self._open("train").num_classes
        return self._num_classes

    def build_dataset(self, split: str) -> Dataset:
        """``"train"``: the train split (+ edited copies when ``edits``); ``"test"``: the
        configured ``eval_split`` (default test; "val" for model selection)."""
        if split == "train":
            ds = self._open("train", hflip=0.5 if self.options["hflip"] else 0.0)
            csv = self.edits_csv()
            if csv is None:
                return ds
            from .edits import WithEdits

            return WithEdits(ds, csv, self.data_root(),
                             min_difference=int(self.options["edit_min_difference"]),
                             adjust_percent=float(self.options["edit_mask_adjust"]),
                             share=float(self.options["edit_share"]))
        return self._open(self.run.eval_split if split == "test" else split)

    def heldout_edits_csv(self) -> Path | None:
        """The mapping file of held-out edits (val-split originals), or None."""
        h = self.options["heldout_edits"]
        if h is False or h is None:
            return None
        if h == "auto":
            path = self.data_root() / "edits" / "val_edits.csv"
            return path if path.is_file() else None
        path = Path(h)
        if not path.is_file():
            from .data import MissingFileError

            raise MissingFileError(path, "heldout_edits mapping file not found")
        return path

    def leakage_dataset(self, split: str) -> Dataset | None:
        """Edited copies of **val** images with their edit masks (``heldout_edits``), for the
        edit-provenance synthesizer; None otherwise (the engine then uses the evaluation split).

        The evaluation splits hold no edited images, so the edit-provenance leakage can only be
        measured on held-out edits. They are val images, never trained on, and the same
        whichever split the run evaluates on (the masks are held-out data, not test data).
        """
        if self.options["synthesizer"] != "edit_provenance":
            return None
        csv = self.heldout_edits_csv()
        if csv is None:
            return None
        from .edits import WithEdits

        return WithEdits(self._open("val"), csv, self.data_root(),
                         min_difference=int(self.options["edit_min_difference"]),
                         include_base=False, split="val")

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
        name = self.options["backbone"]
        kw = {"output_stride": self.options["output_stride"]}
        if name not in BACKBONES and name in _WSOL_BACKBONES:
            feats = _WSOL_BACKBONES[name](**kw)
        else:
            feats = build_backbone(name, **kw)
        return Classifier(feats, self.num_classes())

    def build_metrics(self) -> list[Any]:
        return [ClassificationMetric()]
