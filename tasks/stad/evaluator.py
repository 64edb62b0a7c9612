"""mmengine metrics for STAD: frame-mAP and video-mAP of per-box action scores (tube data),
AVA's key-frame frame-mAP (AVA data)."""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from pgg_zoo.video.tubes import TubeAnnotations

from .metrics import (AVA_METRIC, ava_frame_map, frame_map, link_video, tubes_for_video_map,
                      video_map)


class STADMetric(BaseMetric):
    """frame-mAP@0.5 and video-mAP@{0.2, 0.5, 0.5:0.95} under a named protocol.

    Every evaluated key frame contributes one detection per (person box, class) with the
    class probability as score; per video, the frame detections are linked into tubes
    (ACT-style linking, ``linking`` options) for video-mAP. Values are percentages (ACT prints
    its mAPs x100 too), like every task's metrics: ``74.9`` means 74.9 %.

    Only the videos of which at least one key frame was evaluated are scored: with
    ``limit_test`` (a prefix of the test items) the ground truth of the videos left out is not
    counted as missed.

    Args:
        annotations: the ground truth (all tubes of the evaluated videos).
        videos: the videos of the evaluated split, in order.
        protocol: "act", "voc" or "mmaction2" (see docs/stad_data_metrics.md).
        linking: keyword options of :func:`link_video` (e.g. ``min_length`` for short clips).
    """

    default_prefix = ""  # keys stay unprefixed ("top1"), without mmengine's warning

    def __init__(self, annotations: TubeAnnotations, videos: Sequence[str],
                 protocol: str = "act", linking: Mapping[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.annotations = annotations
        self.videos = list(videos)
        self.protocol = protocol
        self.linking = dict(linking or {})

    def process(self, data_batch: Any, data_samples: Sequence[dict[str, Any]]) -> None:
        meta = data_batch["data_samples"]
        for i, pred in enumerate(data_samples):
            self.results.append({
                "video": meta["video"][i],
                "frame": int(meta["frame"][i]),
                "boxes": np.asarray(pred["boxes"], dtype=np.float64).reshape(-1, 4) * meta["scale"][i],
                "scores": np.asarray(pred["scores"], dtype=np.float64),
            })

    def compute_metrics(self, results: list[dict[str, Any]]) -> dict[str, float]:
        n_classes = len(self.annotations.labels)
        detections = []
        per_video: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = defaultdict(dict)
        for r in results:
            for box, sc in zip(r["boxes"], r["scores"].reshape(len(r["boxes"]), -1)):
                for c in range(n_classes):
                    detections.append((r["video"], r["frame"], c, float(sc[c]), box))
            per_video[r["video"]][r["frame"]] = (r["boxes"], r["scores"].reshape(len(r["boxes"]), -1))
        p = self.protocol
        seen = {r["video"] for r in results}
        kw = dict(videos=[v for v in self.videos if v in seen], labels=n_classes, protocol=p)
        out = {f"frame_map@0.5[{p}]": 100 * float(frame_map(detections, self.annotations,
                                                             iou_threshold=0.5, **kw))}
        tubes = []
        for video, dets in per_video.items():
            tubes += tubes_for_video_map(video, link_video(dets, n_classes, **self.linking))
        for th in ("0.2", "0.5", "0.5:0.95"):
            thr: Any = th if ":" in th else float(th)
            out[f"video_map@{th}[{p}]"] = 100 * float(video_map(tubes, self.annotations,
                                                                iou_threshold=thr, **kw))
        return out


class AVAMetric(BaseMetric):
    """AVA's key-frame ``frame_map@0.5[ava]`` (:func:`~.metrics.ava_frame_map`: the AVA
    challenge kit's protocol) of per-box action scores, as a percentage.

    Every evaluated key frame contributes one detection per (person box, class) with the
    class probability as score; boxes arrive normalized to [0, 1] (the task's ``collate``
    scales them so), as the AVA CSVs hold them. Only the key frames seen are scored, so the
    same metric serves the evaluation CSV and a val carved from the training CSV.

    Args:
        dataset: the :class:`~.data.AVADataset` whose annotations are the ground truth.
    """

    default_prefix = ""

    def __init__(self, dataset: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.annotations = dataset.annotations
        self.class_ids = list(dataset.class_ids)
        self._col = {a: i for i, a in enumerate(self.class_ids)}

    def process(self, data_batch: Any, data_samples: Sequence[dict[str, Any]]) -> None:
        meta = data_batch["data_samples"]
        for i, pred in enumerate(data_samples):
            boxes = np.asarray(pred["boxes"], dtype=np.float64).reshape(-1, 4) * meta["scale"][i]
            self.results.append({
                "key": (meta["video"][i], int(meta["timestamp"][i])),
                "boxes": boxes,
                "scores": np.asarray(pred["scores"], dtype=np.float64).reshape(len(boxes), -1),
            })

    def compute_metrics(self, results: list[dict[str, Any]]) -> dict[str, float]:
        detections = [(r["key"], c, float(sc[c]), box) for r in results
                      for box, sc in zip(r["boxes"], r["scores"]) for c in range(len(sc))]
        seen = {r["key"] for r in results}
        gt = {k: [(p.box, [self._col[a] for a in p.actions]) for p in persons]
              for k, persons in self.annotations.items() if k in seen}
        res = ava_frame_map(detections, gt, num_classes=len(self.class_ids))
        return {AVA_METRIC: 100 * float(res)}
