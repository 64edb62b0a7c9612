"""The keypoint task: weakly supervised spatio-temporal action localization from skeletons.

Video-level labels train an SKP-style point network (``model``) on BatchMix samples
(``batchmix``); at inference every person-frame is scored (Pooling-Switching) and evaluated
with person boxes from keypoint extents (``metrics``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import Dataset

from pgg_zoo import SYNTHESIZERS, Task, register_task
from pgg_zoo.benchmarks import benchmark_option
from pgg_zoo.data import holdout_indices
from pgg_zoo.registry import BACKBONES
from pgg_zoo.task import ConfigError

from .benchmark import SticksSpec
from .data import GTTubes, KeypointDataset, SkeletonAnnotations, load_gt_tubes, load_skeleton_pickle
from .metrics import KeypointMetric

__all__ = ["KeypointTask", "DEMO_VARIANTS"]

SYNTHS = ("batchmix", "none")

#: The keypoint study: no mixing, BatchMix, + guidance, and the two mask controls (only the
#: loss differs between the last four; same data, initialization and synthesis draws).
DEMO_VARIANTS: dict[str, dict[str, Any]] = {
    "no-mix": {"synthesizer": "none", "guidance": False},
    "batchmix": {"synthesizer": "batchmix", "guidance": False},
    "batchmix+pgg": {"synthesizer": "batchmix", "guidance": True, "guidance_mask": "provenance"},
    "batchmix+random-mask": {"synthesizer": "batchmix", "guidance": True,
                             "guidance_mask": "random"},
    "batchmix+no-mask": {"synthesizer": "batchmix", "guidance": True, "guidance_mask": "none"},
}


@register_task("keypoint")
class KeypointTask(Task):
    """Skeleton action localization with BatchMix provenance.

    Data: ``skeletons`` (a PoseC3D/pyskl pickle) and optionally ``annotations`` (UCF101-24 /
    JHMDB ground-truth tubes, for the person-wise metrics); with neither (and ``data_root``
    None) the embedded benchmark named by ``benchmark`` (a name registered for ``keypoint``;
    default ``keypoint-sticks-v1``). ``data_root`` may name a folder holding
    ``sticks_2d.pkl`` / ``gt_tubes.pkl`` instead. Splits: ``"train"`` is the pickle's
    ``train_split`` minus a stratified ``val_fraction`` carved from it (fixed across run seeds),
    ``"val"`` that carved part, ``"test"`` the ``test_split``. The carve is the same for every
    run and every ``eval_split``, so paired runs always train on the same videos; alpha is
    chosen with ``eval_split="val"``.
    """

    #: ``build_dataset`` carves its own val split (and always trains without it).
    native_val = True
    open_backbones = False
    defaults = {
        "backbone": "skp_tiny",
        "synthesizer": "batchmix",
        "skeletons": None,
        "annotations": None,
        "train_split": "train",
        "test_split": "test",
        "max_persons": 3,
        "clip_len": None,
        "context": True,
        "loss": "bce",
        "num_classes": None,
        # The embedded benchmark used when neither skeletons nor data_root is given.
        "benchmark": "keypoint-sticks-v1",
        # The best guided alpha on val (studies/log/keypoint.md); validation preferred no guidance.
        "alpha": 0.01,
    }
    run_defaults = {
        "epochs": 20,
        "batch_size": 16,
        "lr": 1e-2,
        "optimizer": "adamw",
    }
    summary_metrics = ("frame_map@0.5[act]", "video_map@0.5[act]", "person_top1", "video_top1")
    demo_variants = DEMO_VARIANTS

    def validate_config(self) -> None:
        c = self.options
        if (c["synthesizer"] or "none") not in SYNTHS:
            raise ConfigError(f"keypoint supports synthesizers {SYNTHS}, got {c['synthesizer']!r}")
        if self.run.eval_split not in ("val", "test"):
            raise ConfigError(f"eval_split must be 'val' or 'test', got {self.run.eval_split!r}")
        if not 0 < float(self.run.val_fraction) < 1:
            raise ConfigError(f"val_fraction must lie in (0, 1), got {self.run.val_fraction}")
        if int(c["max_persons"]) < 1:
            raise ConfigError(f"max_persons must be >= 1, got {c['max_persons']}")
        if c["loss"] not in ("bce", "ce"):
            raise ConfigError(f"loss must be 'bce' or 'ce', got {c['loss']!r}")
        if c["skeletons"] is None and self.run.data_root is None:
            self._benchmark_spec()  # an unknown name is an error before anything is built

    def _benchmark_spec(self) -> SticksSpec:
        """The spec registered under the ``benchmark`` option (for ``keypoint``)."""
        return benchmark_option(self.options["benchmark"], "keypoint", (SticksSpec,))  # type: ignore[return-value]

    # -- data -----------------------------------------------------------------------------
    def _paths(self) -> tuple[Path, Path | None]:
        c = self.options
        if c["skeletons"] is not None:
            return Path(c["skeletons"]), None if c["annotations"] is None else Path(c["annotations"])
        from .benchmark import SKELETON_FILE, TUBES_FILE

        root = self._benchmark_spec().ensure() if self.run.data_root is None \
            else Path(self.run.data_root)
        tubes = root / TUBES_FILE if c["annotations"] is None else Path(c["annotations"])
        return root / SKELETON_FILE, tubes if tubes.is_file() else None

    def skeletons(self) -> SkeletonAnnotations:
        if not hasattr(self, "_skeletons"):
            self._skeletons = load_skeleton_pickle(self._paths()[0])
        return self._skeletons

    def gt_tubes(self) -> GTTubes | None:
        if not hasattr(self, "_gt"):
            path = self._paths()[1]
            self._gt = None if path is None else load_gt_tubes(path)
        return self._gt

    def split_videos(self, split: str) -> list[str]:
        """Video ids (frame_dirs) of ``"train"`` (minus the carved val), ``"val"``, ``"test"``."""
        sk = self.skeletons()
        if split == "test":
            return sk.videos(self.options["test_split"])
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
        names = sk.videos(self.options["train_split"])
        labels = [int(sk.annotations[n]["label"]) for n in names]
        train, val = holdout_indices(labels, fraction=float(self.run.val_fraction))
        return [names[i] for i in (train if split == "train" else val)]

    def build_dataset(self, split: str) -> Dataset:
        c = self.options
        return KeypointDataset(self.skeletons(), self.split_videos(split),
                               max_persons=int(c["max_persons"]), clip_len=c["clip_len"]
                               if split == "train" else None, train=split == "train",
                               seed=int(self.run.seed))

    def num_classes(self) -> int:
        if self.options["num_classes"] is not None:
            return int(self.options["num_classes"])
        gt = self.gt_tubes()
        return len(gt.labels) if gt is not None else self.skeletons().num_classes

    def collate(self, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """``inputs`` (B, 3, M, T, V), frames zero-padded to the longest item (absent);
        data_samples: ``labels``, ``videos``, ``img_shapes``, ``frame_inds`` (B, T; -1 = pad)."""
        t = max(int(it["inputs"].shape[2]) for it in items)
        xs, inds = [], []
        for it in items:
            x, fi = it["inputs"], it["frame_inds"]
            pad = t - x.shape[2]
            xs.append(torch.nn.functional.pad(x, (0, 0, 0, pad)))
            inds.append(torch.cat([fi, torch.full((pad,), -1, dtype=fi.dtype)]))
        samples = {"labels": torch.tensor([int(it["label"]) for it in items], dtype=torch.long),
                   "videos": [it["video"] for it in items],
                   "img_shapes": [tuple(it["img_shape"]) for it in items],
                   "frame_inds": torch.stack(inds)}
        return {"inputs": torch.stack(xs), "data_samples": samples}

    # -- model, synthesis, metrics -------------------------------------------------------
    def build_model(self) -> nn.Module:
        c = self.options
        fn = BACKBONES.get(c["backbone"]) if isinstance(c["backbone"], str) else c["backbone"]
        return fn(self.num_classes(), context=bool(c["context"]), loss=c["loss"])

    def build_synthesizer(self) -> Any:
        name = self.options["synthesizer"] or "none"
        return SYNTHESIZERS.build(name, **dict(self.options["synthesizer_options"] or {}))

    def build_metrics(self) -> list[Any]:
        gt = self.gt_tubes()
        return [KeypointMetric(self.num_classes(), None if gt is None else gt.gttubes)]

    def demo_figure(self, tasks: Mapping[str, "KeypointTask"], path: Path) -> Path:
        """Test scenes drawn as stick figures, each person coloured by each model's score of
        the scene's actions."""
        from .figures import keypoint_comparison_figure

        return keypoint_comparison_figure(tasks, self.build_dataset("test"), path)
