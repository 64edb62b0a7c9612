"""The WSOL task: a CAM classifier trained on synthesized images, scored by box metrics."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import Dataset

from pgg_zoo import Task, register_task
from pgg_zoo.benchmarks import benchmark_option
from pgg_zoo.task import ConfigError
from pgg_zoo.vision.backbones import build_backbone
from pgg_zoo.vision.cam import CAMClassifier

from .data.benchmark import ShapesSpec
from .data.finegrained import FinegrainedSpec
from .evaluator import WSOLMetric

#: Values of the WSOL config key ``data_format``.
DATA_FORMATS = ("cub", "wsoleval")


@register_task("wsol")
class WSOLTask(Task):
    """Weakly supervised object localization with a CAM classifier.

    Data (``data_format``):

    * ``"cub"`` (default): a CUB-200-2011 folder (``data_root``), or the embedded benchmark
      ``wsol-shapes-v2`` (option ``benchmark``; written in CUB layout on first use) when
      ``data_root`` is None.
      Splits ``train`` / ``test`` (CUB's ``train_test_split.txt``).
    * ``"wsoleval"``: clovaai/wsolevaluation metadata (``metadata_root``) for ``dataset``
      ``"CUB"``, ``"ILSVRC"`` or ``"OpenImages"``, images under ``data_root`` (masks under
      ``mask_root``, default ``data_root``). Splits ``train`` -> ``train`` (train-weaksup),
      ``test`` -> ``test``, and ``evaluate(split="val")`` -> ``val`` (train-fullsup).

    Localization: ``cam_method`` ``"cam"`` or ``"gradcam"``; scored in the ``eval_size`` frame
    (``"input"``: S x S, wsolevaluation's 224 protocol at ``image_size=224``; ``"original"``:
    each image's own size). PxAP is reported when the split has masks (OpenImages, CUB
    segmentations); OpenImages ignore masks are honoured.

    Model variants: ``loss`` ``"ce"`` (softmax cross-entropy on the mixed targets, default) or
    ``"bce"`` (one-vs-rest binary cross-entropy); ``cam_logits`` ``"gap"`` (default) or
    ``"relu_mean"`` (logits = mean of each class's ReLU'd map); any registered image backbone
    (``tiny_cam``, ``tiny_cam_nobn``, ``tiny_cam_gelu``, ``tiny_cam_softplus``, ``vgg16``, ...).
    """

    defaults = {
        "backbone": "tiny_cam",
        "image_size": 64,
        "num_classes": None,
        "output_stride": 16,
        "preset": "wsoleval",
        # Embedded benchmark used when data_root is None: a name registered for wsol
        # (docs/benchmarks.md).
        "benchmark": "wsol-shapes-v2",
        "hflip": False,
        # localization map of predict(): "cam" | "gradcam"
        "cam_method": "cam",
        # task loss on the synthesized targets: "ce" (softmax) | "bce" (one-vs-rest)
        "loss": "ce",
        # logits: "gap" (head on averaged features) | "relu_mean" (mean of ReLU'd class maps)
        "cam_logits": "gap",
        # frame in which maps are scored: "input" (S x S) | "original" (image size)
        "eval_size": "input",
        # data: "cub" (CUB layout / embedded benchmark) | "wsoleval" (wsolevaluation metadata)
        "data_format": "cub",
        "metadata_root": None,
        "dataset": "CUB",
        "mask_root": None,
    }
    run_defaults = {
        "epochs": 12,
        "batch_size": 32,
        "lr": 1e-3,
        "optimizer": "adamw",
    }
    #: Columns of the demo / ablation tables.
    summary_metrics = ("top1", "maxboxacc_v2", "maxboxacc_v2@30", "maxboxacc_v2@50",
                       "maxboxacc_v2@70")

    @property
    def native_val(self) -> bool:  # type: ignore[override]
        """wsolevaluation metadata has its own val split (train-fullsup); CUB layout has none,
        so the core carves one from train."""
        return self.options["data_format"] == "wsoleval"

    def validate_config(self) -> None:
        from pgg_zoo.vision.cam import LOGIT_POOLS, LOSSES
        from pgg_zoo.vision.localization import CAM_METHODS

        from .data.wsoleval import DATASETS
        from .evaluator import EVAL_SIZES

        c = self.options
        if int(c["image_size"]) < 16:
            raise ConfigError(f"image_size must be >= 16, got {c['image_size']}")
        for key, allowed in (("cam_method", CAM_METHODS), ("eval_size", EVAL_SIZES),
                             ("data_format", DATA_FORMATS), ("loss", tuple(LOSSES)),
                             ("cam_logits", LOGIT_POOLS)):
            if c[key] not in allowed:
                raise ConfigError(f"{key} must be one of {list(allowed)}, got {c[key]!r}")
        if self.run.data_root is not None and not Path(self.run.data_root).is_dir():
            raise FileNotFoundError(f"data_root {self.run.data_root} is not a folder")
        if self.run.data_root is None and c["data_format"] == "cub":
            self._benchmark_spec()  # an unknown name is an error before anything is built
        if c["data_format"] == "wsoleval":
            if self.run.data_root is None or c["metadata_root"] is None:
                raise ConfigError("data_format='wsoleval' needs data_root (the image root) and "
                                  "metadata_root (wsolevaluation's metadata/ folder)")
            if c["dataset"] not in DATASETS:
                raise ConfigError(f"dataset must be one of {sorted(DATASETS)}, got {c['dataset']!r}")
            md = Path(c["metadata_root"]) / c["dataset"]
            if not md.is_dir():
                raise FileNotFoundError(f"metadata folder {md} not found (metadata_root/"
                                        f"{c['dataset']}/{{train,val,test}}/)")

    # -- data ----------------------------------------------------------------------------
    def data_root(self) -> Path:
        """The dataset folder; the embedded benchmark is generated on first use."""
        if self.run.data_root is not None:
            return Path(self.run.data_root)
        return self._benchmark_spec().ensure()

    def _benchmark_spec(self) -> ShapesSpec | FinegrainedSpec:
        """The spec registered under the ``benchmark`` option (for ``wsol``)."""
        return benchmark_option(  # type: ignore[return-value]
            self.options["benchmark"], "wsol", (ShapesSpec, FinegrainedSpec))

    def num_classes(self) -> int:
        if self.options["num_classes"] is not None:
            return int(self.options["num_classes"])
        if self.options["data_format"] == "wsoleval":
            from .data.wsoleval import DATASETS

            return DATASETS[self.options["dataset"]][0]
        if self.run.data_root is None:
            return self._benchmark_spec().num_classes()
        from pgg_zoo.vision.cub import CUBDataset

        return CUBDataset(self.data_root(), split="train").num_classes

    def build_dataset(self, split: str) -> Dataset:
        """``split``: ``"train"``, ``"test"``; ``"val"`` (train-fullsup) for wsoleval data."""
        c = self.options
        hflip = bool(c["hflip"]) and split == "train"
        # Under on_error="raise" a bad file would stop the run when first loaded: find the
        # missing, truncated and non-image files now (headers and file ends only, no decoding).
        # Under "skip" they are skipped and reported as they come.
        check = self.run.on_error == "raise"
        if c["data_format"] == "wsoleval":
            from .data import WSOLEvalDataset

            if split not in ("train", "val", "test"):
                raise ConfigError(f"split must be 'train', 'val' or 'test', got {split!r}")
            return WSOLEvalDataset(self.run.data_root, c["metadata_root"], dataset=c["dataset"],
                                   split=split, image_size=int(c["image_size"]),
                                   mask_root=c["mask_root"], num_classes=self.num_classes(),
                                   hflip=hflip, check_files=check)
        from pgg_zoo.vision.cub import CUBDataset

        if split not in ("train", "test"):
            raise ConfigError(f"CUB-layout data has splits 'train' and 'test', got {split!r} "
                              "(a 'val' split needs data_format='wsoleval')")
        return CUBDataset(self.data_root(), split=split, image_size=int(c["image_size"]),
                          hflip=hflip, check_files=check)

    def collate(self, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """``{"inputs": (B, 3, S, S), "data_samples": {...}}``.

        ``data_samples``: ``labels`` (B,) long; ``image_ids``; ``orig_sizes`` (B, 2) long
        ``(h, w)``; ``boxes`` list of (n_i, 4) float32 when any item has boxes (an item without
        boxes gets (0, 4)); ``orig_boxes`` the same in the original frame (float64) when every
        item has them; ``masks`` / ``ignores`` (B, 1, S, S) when every item has them.
        """
        samples: dict[str, Any] = {
            "labels": torch.tensor([int(it["label"]) for it in items], dtype=torch.long),
            "image_ids": [it["image_id"] for it in items],
        }
        if any("boxes" in it for it in items):
            samples["boxes"] = [torch.as_tensor(it["boxes"], dtype=torch.float32).reshape(-1, 4)
                                if "boxes" in it else torch.zeros(0, 4) for it in items]
        if all("orig_boxes" in it for it in items):
            samples["orig_boxes"] = [torch.as_tensor(it["orig_boxes"], dtype=torch.float64)
                                     .reshape(-1, 4) for it in items]
        if all("orig_size" in it for it in items):
            samples["orig_sizes"] = torch.tensor([tuple(it["orig_size"]) for it in items],
                                                 dtype=torch.long)
        for key, out in (("mask", "masks"), ("ignore", "ignores")):
            if all(key in it for it in items):
                samples[out] = torch.stack([torch.as_tensor(it[key]) for it in items])
        return {"inputs": torch.stack([it["inputs"] for it in items]), "data_samples": samples}

    # -- model and metrics -----------------------------------------------------------------
    def build_model(self) -> nn.Module:
        feats = build_backbone(self.options["backbone"], output_stride=self.options["output_stride"])
        return CAMClassifier(feats, self.num_classes(), cam_method=self.options["cam_method"],
                             loss=self.options["loss"], logit_pool=self.options["cam_logits"])

    def build_metrics(self) -> list[Any]:
        return [WSOLMetric(preset=self.options["preset"], eval_size=self.options["eval_size"])]

    def demo_figure(self, tasks: Mapping[str, "WSOLTask"], path: Path, n: int = 6) -> Path:
        """CAM overlays with GT (red) and predicted (green) boxes, one row per model.

        Also writes ``guided_gradcam_cutmix.png`` beside ``path`` (Guided Grad-CAM of the host
        and pasted labels on CutMix test inputs, see :meth:`ablation_figures`).
        """
        from .figures import cam_comparison_figure, guided_gradcam_cutmix_figure

        test = self.build_dataset("test")
        guided_gradcam_cutmix_figure(tasks, test, Path(path).with_name("guided_gradcam_cutmix.png"))
        return cam_comparison_figure(tasks, test, path, n=n)

    def ablation_figures(self, tasks: Mapping[str, "WSOLTask"], out_dir: str | Path,
                         n: int = 4, seed: int = 0) -> list[Path]:
        """Figures of an ablation run, written to ``out_dir``; returns their paths.

        * ``cams.png``: CAM overlays of every variant on the same test images;
        * ``guided_gradcam_cutmix.png``: Guided Grad-CAM of the host and pasted labels on the
          same CutMix test inputs (fixed ``seed``), for ``cutmix`` vs ``cutmix+pgg`` when both
          are present, else for every variant.
        """
        from .figures import cam_comparison_figure, guided_gradcam_cutmix_figure

        out_dir = Path(out_dir)
        test = self.build_dataset("test")
        paths = [cam_comparison_figure(tasks, test, out_dir / "cams.png", n=max(n, 6))]
        pair = {k: tasks[k] for k in ("cutmix", "cutmix+pgg") if k in tasks}
        chosen = pair if len(pair) == 2 else dict(tasks)
        paths.append(guided_gradcam_cutmix_figure(chosen, test,
                                                  out_dir / "guided_gradcam_cutmix.png",
                                                  n=n, seed=seed))
        return paths
