"""Keypoint STAL metrics: frame-AP and video-AP under ACT conventions, video and person accuracy.

The ``act`` conventions (MCG-NJU/MOC-Detector ``ACT.py``): box IoU on inclusive pixel
coordinates (+1), greedy matching of score-sorted detections to the best *still unmatched*
ground-truth box of the same (video, frame), trapezoid AP of the raw PR curve prefixed with
(P = 1, R = 0), every frame of the evaluated videos counts (a detection on a frame without
ground truth of its class is a false positive), classes without ground truth are left out of
the mean; video-AP: spatio-temporal tube IoU (temporal IoU in frames, +1, times the mean
per-frame IoU over the overlap), per-video per-class 3D NMS at 0.3 before matching.

Box and tube IoU and the tube NMS are the core's (:mod:`pgg_zoo.vision.boxes`,
:mod:`pgg_zoo.video.tubes`), shared with the STAD plugin; frame-AP and video-AP are a compact
form of the STAD plugin's metrics (which a plugin must not import), and
``tests/test_keypoint_metrics.py`` checks that both agree.
All values returned by :class:`KeypointMetric` are percentages.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from pgg_zoo.video.tubes import tube_iou as core_tube_iou
from pgg_zoo.video.tubes import tube_nms
from pgg_zoo.vision.boxes import box_iou as core_box_iou
from pgg_zoo.vision.boxes import paired_box_iou

__all__ = ["box_iou", "tube_iou", "ap_trapezoid", "frame_ap", "video_ap", "person_tubes",
           "KeypointMetric", "METRIC_NAMES"]

METRIC_NAMES = ("frame_map@0.5[act]", "video_map@0.5[act]", "video_top1", "person_top1")


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU ``(N, M)`` of x1y1x2y2 boxes, inclusive pixels (ACT's +1)."""
    return core_box_iou(a, b, plus_one=True)


def tube_iou(a: np.ndarray, b: np.ndarray) -> float:
    """ACT ``iou3dt`` of tubes ``(n, 5+)`` (frame, x1, y1, x2, y2): temporal IoU in frames
    times the mean box IoU over the temporal overlap (a frame missing in one tube counts 0);
    :func:`pgg_zoo.video.tube_iou` with ACT's conventions (+1 in pixels and in frames)."""
    return core_tube_iou(a, b, plus_one=True, temporal_plus_one=True)


def ap_trapezoid(is_tp: np.ndarray, n_gt: int) -> float:
    """ACT ``pr_to_ap`` of score-sorted detections (``nan`` without ground truth)."""
    if n_gt <= 0:
        return float("nan")
    is_tp = np.asarray(is_tp, dtype=bool)
    tp = np.cumsum(is_tp, dtype=np.float64)
    fp = np.cumsum(~is_tp, dtype=np.float64)
    prec = np.concatenate([[1.0], tp / np.maximum(tp + fp, 1)])
    rec = np.concatenate([[0.0], tp / n_gt])
    return float(np.sum((rec[1:] - rec[:-1]) * (prec[1:] + prec[:-1]) * 0.5))


def _nanmean(xs: Iterable[float]) -> float:
    xs = [x for x in xs if not np.isnan(x)]
    return float(np.mean(xs)) if xs else float("nan")


def frame_ap(detections: Sequence[tuple[str, int, int, float, Sequence[float]]],
             gttubes: Mapping[str, Mapping[int, Sequence[np.ndarray]]], videos: Sequence[str],
             num_classes: int, iou_threshold: float = 0.5) -> tuple[float, dict[int, float]]:
    """Frame-mAP (fraction) and per-class AP of ``(video, frame, class, score, box)``
    detections (1-based frames) against ``gttubes`` of ``videos``."""
    vindex = {v: i for i, v in enumerate(videos)}
    det = [d for d in detections if d[0] in vindex]
    n = len(det)
    keys = np.array([vindex[d[0]] * 1_000_000 + int(d[1]) for d in det], dtype=np.int64)
    cls = np.array([int(d[2]) for d in det], dtype=np.int64)
    scores = np.array([float(d[3]) for d in det], dtype=np.float64)
    boxes = np.array([np.asarray(d[4], dtype=np.float64).reshape(4) for d in det]).reshape(n, 4)
    aps: dict[int, float] = {}
    for c in range(num_classes):
        gt: dict[int, list] = defaultdict(list)
        for v in videos:
            for tube in gttubes[v].get(c, []):
                for row in np.asarray(tube, dtype=np.float64):
                    gt[vindex[v] * 1_000_000 + int(row[0])].append(row[1:5])
        n_gt = sum(len(b) for b in gt.values())
        sel = np.nonzero(cls == c)[0]
        sel = sel[np.argsort(-scores[sel], kind="stable")]
        g = max((len(b) for b in gt.values()), default=1)
        row_of = {k: r for r, k in enumerate(gt)}
        pad = np.full((len(gt) + 1, g, 4), np.nan)
        for k, r in row_of.items():
            pad[r, :len(gt[k])] = gt[k]
        rows = np.array([row_of.get(int(k), len(gt)) for k in keys[sel]], dtype=np.int64)
        ious = np.nan_to_num(paired_box_iou(boxes[sel, None, :], pad[rows], plus_one=True),
                             nan=-1.0)
        ious[np.isnan(pad[rows, :, 0])] = -1.0
        taken = np.zeros((len(gt) + 1, g), dtype=bool)
        is_tp = np.zeros(len(sel), dtype=bool)
        for i in np.nonzero(rows < len(gt))[0]:
            r = rows[i]
            cand = np.where(taken[r], -1.0, ious[i])
            j = int(np.argmax(cand))
            if cand[j] >= iou_threshold:
                is_tp[i] = taken[r, j] = True
        aps[c] = ap_trapezoid(is_tp, n_gt)
    return _nanmean(aps.values()), aps


def video_ap(tubes: Sequence[tuple[str, int, float, np.ndarray]],
             gttubes: Mapping[str, Mapping[int, Sequence[np.ndarray]]], videos: Sequence[str],
             num_classes: int, iou_threshold: float = 0.5) -> tuple[float, dict[int, float]]:
    """Video-mAP (fraction) of ``(video, class, score, tube (n, 5))`` detections, ACT style
    (3D NMS 0.3 per video and class, matching among unmatched ground-truth tubes)."""
    grouped: dict[tuple[str, int], list[tuple[float, np.ndarray]]] = defaultdict(list)
    for v, c, s, t in tubes:
        grouped[(v, int(c))].append((float(s), np.asarray(t, dtype=np.float64)))
    aps: dict[int, float] = {}
    for c in range(num_classes):
        dets: list[tuple[str, float, np.ndarray]] = []
        for v in videos:
            lst = grouped.get((v, c), [])
            keep = tube_nms([t for _, t in lst], [sc for sc, _ in lst], 0.3, plus_one=True,
                            temporal_plus_one=True)
            dets += [(v, lst[i][0], lst[i][1]) for i in keep]
        dets.sort(key=lambda d: -d[1])
        gt = {v: [np.asarray(g) for g in gttubes[v].get(c, [])] for v in videos}
        taken = {v: np.zeros(len(g), dtype=bool) for v, g in gt.items()}
        n_gt = sum(len(g) for g in gt.values())
        is_tp = np.zeros(len(dets), dtype=bool)
        for i, (v, _, t) in enumerate(dets):
            if not gt[v]:
                continue
            ious = np.where(taken[v], -1.0, [tube_iou(g, t) for g in gt[v]])
            j = int(np.argmax(ious))
            if ious[j] >= iou_threshold:
                is_tp[i] = taken[v][j] = True
        aps[c] = ap_trapezoid(is_tp, n_gt)
    return _nanmean(aps.values()), aps


def person_tubes(pred: Mapping[str, Any]) -> list[tuple[int, float, np.ndarray]]:
    """Per person track and class: the longest run of present frames scoring at least half the
    track's maximum for the class, as ``(class, mean score over the run, tube (n, 5))``."""
    scores, present, boxes, frames = (pred["person_scores"], pred["present"], pred["boxes"],
                                      np.asarray(pred["frames"]))
    out = []
    for m in range(scores.shape[0]):
        on = present[m]
        if not on.any():
            continue
        for c in range(scores.shape[2]):
            s = np.where(on, scores[m, :, c], -np.inf)
            keep = s >= 0.5 * s.max()
            best, run, best_range = 0, 0, (0, 0)
            for t, k in enumerate(keep):
                run = run + 1 if k else 0
                if run > best:
                    best, best_range = run, (t - run + 1, t + 1)
            lo, hi = best_range
            idx = np.arange(lo, hi)
            tube = np.concatenate([frames[idx, None].astype(np.float64), boxes[m, idx]], 1)
            out.append((c, float(scores[m, idx, c].mean()), tube))
    return out


class KeypointMetric(BaseMetric):
    """``frame_map@0.5[act]``, ``video_map@0.5[act]`` (person-wise, needs ground-truth tubes),
    ``video_top1`` (the top video-level class is one of the video's actions: the tube labels,
    or the video ``label`` without tubes) and ``person_top1`` (each ground-truth actor tube,
    matched to the person track of highest mean box IoU over its frames, classified by that
    track's mean person-frame scores over those frames). Percentages.

    Args:
        num_classes: K.
        gttubes: ``{video: {class: [tube]}}`` (None: only ``video_top1``).
    """

    default_prefix = ""

    def __init__(self, num_classes: int, gttubes: Optional[Mapping[str, Any]] = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.gttubes = gttubes

    def process(self, data_batch: Any, data_samples: Sequence[Mapping[str, Any]]) -> None:
        for pred in data_samples:
            self.results.append(dict(pred))

    def compute_metrics(self, results: list[dict[str, Any]]) -> dict[str, float]:
        videos = [r["video"] for r in results]
        correct = []
        for r in results:
            labels = set(self.gttubes[r["video"]]) if self.gttubes else {r["label"]}
            correct.append(int(np.argmax(r["video_scores"])) in labels)
        out = {"video_top1": 100.0 * float(np.mean(correct)) if correct else float("nan")}
        if not self.gttubes:
            return out
        missing = [v for v in videos if v not in self.gttubes]
        if missing:
            raise KeyError(f"no ground-truth tubes for videos {missing[:3]}")
        dets, tubes, person_ok = [], [], []
        for r in results:
            v = r["video"]
            sc, pres, boxes, frames = r["person_scores"], r["present"], r["boxes"], r["frames"]
            ms, ts = np.nonzero(pres)
            for m, t in zip(ms, ts):
                for c in range(self.num_classes):
                    dets.append((v, int(frames[t]), c, float(sc[m, t, c]), boxes[m, t]))
            tubes += [(v, c, s, tube) for c, s, tube in person_tubes(r)]
            index = {int(f): i for i, f in enumerate(frames)}
            for c, gts in self.gttubes[v].items():
                for g in gts:
                    rows = [(index[int(f)], row) for f, row in zip(g[:, 0], g[:, 1:5])
                            if int(f) in index]
                    if not rows:
                        continue
                    ti = np.array([i for i, _ in rows])
                    gb = np.array([row for _, row in rows])
                    ious = [np.mean([box_iou(gb[k], boxes[m, ti[k]])[0, 0] if pres[m, ti[k]]
                                     else 0.0 for k in range(len(ti))])
                            for m in range(sc.shape[0])]
                    m = int(np.argmax(ious))
                    person_ok.append(int(np.argmax(sc[m, ti].mean(0))) == int(c))
        out["frame_map@0.5[act]"] = 100.0 * frame_ap(dets, self.gttubes, videos,
                                                     self.num_classes)[0]
        out["video_map@0.5[act]"] = 100.0 * video_ap(tubes, self.gttubes, videos,
                                                     self.num_classes)[0]
        out["person_top1"] = 100.0 * float(np.mean(person_ok)) if person_ok else float("nan")
        return out
