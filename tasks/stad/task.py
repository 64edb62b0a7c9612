"""The STAD task: a person-box action detector trained on pasted clips, scored by frame/video mAP."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from pgg_zoo import SYNTHESIZERS, Task, register_task
from pgg_zoo.benchmarks import benchmark_option
from pgg_zoo.task import ConfigError

from .data import AVADataset, SpritesSpec, TubeDataset, load_tube_annotations
from .data.scenes import ScenesSpec
from .evaluator import AVAMetric, STADMetric
from .metrics import AVA_METRIC
from .models import ActionDetector

SYNTHS = ("video_paste", "none")
#: Values of ``data_format``: "tubes" (UCF101-24 / JHMDB-21 pickle, or an embedded benchmark)
#: or "ava" (AVA v2.x CSVs, docs/data.md).
DATA_FORMATS = ("tubes", "ava")


@register_task("stad")
class STADTask(Task):
    """Spatio-temporal action detection (AVA-style: actions of given person boxes).

    Data: a UCF101-24 / JHMDB-21 folder with its pickle (``data_root`` + ``annotations``),
    an AVA v2.x folder (``data_format="ava"``: ``annotations`` the training CSV,
    ``test_annotations`` the evaluation CSV, optional ``label_map`` and ``exclusions`` /
    ``test_exclusions``; scored by AVA's key-frame ``frame_map@0.5[ava]``), or, when
    ``data_root`` is None, the embedded benchmark named by ``benchmark`` (any name
    registered for ``stad``, :func:`pgg_zoo.register_benchmark`): ``stad-sprites-v1``
    (default), ``stad-scenes-v1`` (a scene shortcut outside the actor boxes, with its own
    validation videos; docs/stad.md) or ``stad-scenes-v2`` (the same with three times the
    training videos). Evaluation
    classifies the ground-truth person boxes of every annotated test key frame (the
    frame-mAP/video-mAP "given boxes" setting), so it measures action recognition of actors,
    not person detection.
    """

    open_backbones = False  # only registered video backbones build a detector
    defaults = {
        "backbone": "tiny3d",
        "synthesizer": "video_paste",
        # "tubes": the UCF101-24/JHMDB pickle `annotations` (or the embedded benchmark);
        # "ava": AVA CSVs, `annotations` = training CSV, `test_annotations` = evaluation CSV.
        "data_format": "tubes",
        "annotations": None,
        "test_annotations": None,
        "label_map": None,  # ava: the pbtxt action list (the classes and their order)
        "exclusions": None,  # ava: excluded-timestamps CSVs of training and evaluation
        "test_exclusions": None,
        "clip_len": 8,
        "clip_stride": 1,
        "image_size": None,  # None: the embedded benchmark's frame size, else 64
        # The embedded benchmark used when data_root is None (a name registered for stad).
        "benchmark": "stad-sprites-v1",
        "train_key_frame_step": 4,
        "test_key_frame_step": 1,
        "protocol": "act",
        "linking": None,
        "num_classes": None,
        "multilabel": False,
        # "global": each box's logit also sees its clip's whole-frame average features
        # (an actor-context head; RoIActionHead's ``context``).
        "head_context": "none",
    }
    run_defaults = {
        "epochs": 6,
        "batch_size": 8,
        "lr": 1e-3,
        "optimizer": "adamw",
        "on_error": "raise",
    }
    summary_metrics = ("frame_map@0.5[act]", "video_map@0.2[act]", "video_map@0.5[act]",
                       "video_map@0.5:0.95[act]", AVA_METRIC)
    demo_variants = {
        "paste": {"synthesizer": "video_paste", "guidance": False},
        "paste+pgg": {"synthesizer": "video_paste", "guidance": True,
                      "guidance_mask": "provenance"},
    }

    def validate_config(self) -> None:
        c = self.options
        if c["synthesizer"] not in SYNTHS:
            raise ConfigError(f"stad supports synthesizers {SYNTHS}, got {c['synthesizer']!r}")
        if c["data_format"] not in DATA_FORMATS:
            raise ConfigError(f"data_format must be one of {list(DATA_FORMATS)}, got "
                              f"{c['data_format']!r}")
        if self._ava:
            self._validate_ava()
        elif self.run.data_root is not None and c["annotations"] is None:
            raise ConfigError("stad with data_root needs annotations=<pickle> (UCF101v2-GT.pkl, "
                              "JHMDB-GT.pkl)")
        if self.run.data_root is None and not self._ava:
            self._benchmark_spec()  # an unknown name is an error before anything is built
        from .models.head import CONTEXTS

        if c["head_context"] not in CONTEXTS:
            raise ConfigError(f"head_context must be one of {CONTEXTS}, got {c['head_context']!r}")
        if c["backbone"] == "slowfast_r50" and int(c["clip_len"]) % 4:
            raise ConfigError("slowfast_r50 needs clip_len divisible by 4 (alpha = 4)")

    def _validate_ava(self) -> None:
        c = self.options
        if self.run.data_root is None:
            raise ConfigError("data_format='ava' needs data_root (the AVA folder)")
        # The label map is required: without it each CSV would define its own classes, and
        # the evaluation CSV's columns would not be the model's.
        for key, example in (("annotations", "ava_train_v2.2.csv"),
                             ("test_annotations", "ava_val_v2.2.csv"),
                             ("label_map", "ava_action_list_v2.2_for_activitynet_2019.pbtxt")):
            if c[key] is None:
                raise ConfigError(f"data_format='ava' needs {key}=<file> (e.g. {example}, "
                                  "relative to data_root)")
        if not c["multilabel"]:
            raise ConfigError("data_format='ava' needs multilabel=true: an AVA person does "
                              "several actions at once (sigmoid scores, as AVA is scored)")

    # -- data -----------------------------------------------------------------------------
    @property
    def _ava(self) -> bool:
        return self.options["data_format"] == "ava"

    def _benchmark_spec(self) -> SpritesSpec | ScenesSpec | None:
        """The embedded benchmark's spec, or None for data under ``data_root``."""
        if self.run.data_root is not None or self._ava:
            return None
        return benchmark_option(  # type: ignore[return-value]
            self.options["benchmark"], "stad", (SpritesSpec, ScenesSpec))

    @property
    def _scenes(self) -> bool:
        return isinstance(self._benchmark_spec(), ScenesSpec)

    @property
    def native_val(self) -> bool:  # type: ignore[override]
        """``stad-scenes-*`` list their validation videos (carved by video at generation, with
        scenes independent of the class); other data get val carved by the core."""
        return self._scenes

    def image_size(self) -> int:
        size = self.options["image_size"]
        if size is None:
            spec = self._benchmark_spec()
            return 64 if spec is None else spec.size
        return int(size)

    def _source(self) -> tuple[Path, Any]:
        spec = self._benchmark_spec()
        if spec is not None:
            return spec.ensure(), spec.annotation_file
        return Path(self.run.data_root), self.options["annotations"]

    def _ava_dataset(self, split: str) -> AVADataset:
        """AVA's training CSV for "train" (and the val carved from it), the evaluation CSV
        for "test"."""
        c = self.options
        test = split == "test"
        return AVADataset(self.run.data_root, c["test_annotations" if test else "annotations"],
                          label_map=c["label_map"],
                          exclusions=c["test_exclusions" if test else "exclusions"],
                          clip_len=int(c["clip_len"]), stride=int(c["clip_stride"]),
                          size=self.image_size(), on_error=self.run.on_error)

    def build_dataset(self, split: str) -> Dataset:
        if self._ava:
            return self._ava_dataset(split)
        root, ann = self._source()
        c = self.options
        step = c["train_key_frame_step"] if split == "train" else c["test_key_frame_step"]
        if self._scenes and split in ("train", "val"):
            # Training videos minus the benchmark's validation videos, or those alone.
            ann = load_tube_annotations(root / ann)
            val = set(ann.extra["pgg_meta"]["val_videos"])
            keep = [v for v in ann.videos("train") if (v in val) == (split == "val")]
            ann = dataclasses.replace(ann, train_videos=[keep])
            split = "train"
        return TubeDataset(root, ann, split, clip_len=int(c["clip_len"]),
                           stride=int(c["clip_stride"]), size=self.image_size(),
                           key_frame_step=int(step), on_error=self.run.on_error)

    def holdout_keys(self, dataset: Dataset) -> tuple[list[Any] | None, list[Any] | None]:
        """Carve val by video (a clip's neighbours never sit on the other side), stratified by
        the lowest class id annotated in the video (-1 for a video without tubes)."""
        if isinstance(dataset, AVADataset):  # a key frame's class: its first person's first action
            return ([dataset.class_instances([i])[1][0] for i in range(len(dataset))],
                    [video for video, _ in dataset.keys])
        samples = getattr(dataset, "samples", None)
        ann = getattr(dataset, "ann", None)
        if samples is None or ann is None:
            return super().holdout_keys(dataset)
        videos = [v for v, _ in samples]
        labels = [min(ann.gttubes.get(v) or (-1,)) for v in videos]
        return labels, videos

    def num_classes(self) -> int:
        if self.options["num_classes"] is not None:
            return int(self.options["num_classes"])
        spec = self._benchmark_spec()
        if spec is not None:
            return len(spec.classes)
        return self.build_dataset("train").num_classes

    def collate(self, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        size = self.image_size()
        samples: dict[str, Any] = {
            "boxes": [torch.as_tensor(it["boxes"], dtype=torch.float32) for it in items],
            "box_labels": [torch.as_tensor(it["labels"]) for it in items],
            "video": [it["video"] for it in items],
            "frame": [int(it["frame"]) for it in items],
        }
        if self._ava:
            # AVA boxes are key-frame boxes (video paste holds them for the whole clip); the
            # metric scores normalized boxes, keyed by (video, timestamp).
            samples["timestamp"] = [int(it["timestamp"]) for it in items]
            samples["scale"] = [np.full(4, 1.0 / size) for _ in items]
        else:
            tubes = []
            for it in items:
                tb = torch.as_tensor(it["tube_boxes"], dtype=torch.float32).clone()
                tb[~torch.as_tensor(it["tube_valid"], dtype=torch.bool)] = float("nan")
                tubes.append(tb)
            samples["tubes"] = tubes
            # Input pixels -> original pixels, per axis (x, y, x, y), for the metrics.
            samples["scale"] = [np.array([it["orig_size"][1] / size,
                                          it["orig_size"][0] / size] * 2) for it in items]
        return {"inputs": torch.stack([it["inputs"] for it in items]), "data_samples": samples}

    # -- model and metrics ----------------------------------------------------------------
    def build_model(self) -> nn.Module:
        return ActionDetector(self.options["backbone"], num_classes=self.num_classes(),
                              multilabel=bool(self.options["multilabel"]),
                              head_context=str(self.options["head_context"]))

    def build_synthesizer(self) -> Any:
        opts = dict(self.options["synthesizer_options"] or {})
        if self.options["synthesizer"] == "none":
            opts["prob"] = 0.0  # no paste: every actor owns the whole clip
        return SYNTHESIZERS.build("video_paste", **opts)

    def build_metrics(self) -> list[Any]:
        if self._ava:
            # The ground truth of the split evaluated: test is the evaluation CSV, a carved
            # val the training CSV (the metric scores only the key frames it saw).
            split = "test" if self.run.eval_split == "test" else "train"
            return [AVAMetric(self._ava_dataset(split))]
        ds = self.build_dataset("test")
        linking = self.options["linking"]
        if linking is None:
            spec = self._benchmark_spec()
            linking = {} if spec is None else dict(spec.linking)
        # Every annotated video: the metric scores only those it saw, so the same metric
        # serves test, a carved val (training videos) and limit_test.
        return [STADMetric(ds.ann, ds.ann.videos("all"), protocol=self.options["protocol"],
                           linking=linking)]

    def demo_figure(self, tasks: Mapping[str, "STADTask"], path: Path, n: int = 4) -> Path:
        """Key frames with boxes and predicted actions, and input-gradient maps per model."""
        from .figures import stad_comparison_figure

        return stad_comparison_figure(tasks, self.build_dataset("test"), path, n=n)
