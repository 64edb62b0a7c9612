"""Frame-mAP: per-class AP of per-frame person-box detections against the tube annotations.

Every detection is scored on its own frame; a detection matches a ground-truth box of its class
on the same (video, frame) with IoU >= threshold, each ground-truth box at most once. Under
``eval_frames="all"`` (ACT) a detection on a frame without ground truth of its class is a false
positive; under ``"annotated"`` (YOWO) detections on frames where the video has no box at all
are ignored.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np

from .act_order import act_descending_order
from .ap import average_precision, pr_curve
from pgg_zoo.vision.boxes import box_iou
from .presets import Protocol, get_protocol


@dataclass
class MAPResult:
    """Result of a frame- or video-mAP evaluation.

    Attributes:
        value: mean AP over the classes with an AP, a fraction in [0, 1] (ACT prints x100;
            the STAD task's metrics, like every task's, are percentages: ``100 * value``).
        ap: ``{label_index: AP}``; ``nan`` (left out of the mean) for a class without ground
            truth, except that a class with neither ground truth nor detections gets the
            protocol's ``empty_class_ap`` when set (``act``: 0, as ACT).
        n_gt: ``{label_index: number of ground-truth instances}``.
        n_det: ``{label_index: number of detections evaluated}``.
        protocol: the :class:`Protocol` used; ``threshold``: the IoU threshold(s).
        per_threshold: for multi-threshold video-mAP, ``{threshold: mAP}``.
        curves: ``{label_index: (precision, recall)}`` arrays (single threshold only).
    """

    value: float
    ap: dict[int, float]
    n_gt: dict[int, int]
    n_det: dict[int, int]
    protocol: Protocol
    threshold: Any
    per_threshold: dict[float, float] = field(default_factory=dict)
    curves: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def __float__(self) -> float:
        return float(self.value)


def _gt_tables(gttubes: Any, videos: Optional[Sequence[str]]):
    """(gttubes dict, ordered video list) from a dict or TubeAnnotations."""
    tubes = getattr(gttubes, "gttubes", gttubes)
    if videos is None:
        videos = sorted(tubes)
    missing = [v for v in videos if v not in tubes]
    if missing:
        raise KeyError(f"videos {missing[:3]} have no entry in gttubes")
    return tubes, list(videos)


def _nanmean(xs: Iterable[float]) -> float:
    xs = [x for x in xs if not np.isnan(x)]
    return float(np.mean(xs)) if xs else float("nan")


def score_order(scores: "np.ndarray | Sequence[float]", protocol: Protocol) -> np.ndarray:
    """Indices of ``scores (N,)`` by decreasing score, equal scores in the protocol's order.

    ``tie_order="act"``: ACT's ``np.argsort(-scores)`` on float32 (:mod:`.act_order`);
    ``"stable"``: input order.
    """
    if protocol.tie_order == "act":
        return act_descending_order(scores)
    return np.argsort(-np.asarray(scores, dtype=np.float64).reshape(-1), kind="stable")


def class_ap(is_tp: np.ndarray, n_gt: int, protocol: Protocol) -> float:
    """AP of one class's score-sorted ``is_tp (N,)`` under ``protocol``.

    A class without ground truth has no AP (``nan``, left out of the mean), unless it has no
    detections either and the protocol sets ``empty_class_ap`` (ACT: its PR curve is the
    single point (P=1, R=0), whose trapezoid area is 0, and it is averaged in).
    """
    if n_gt <= 0 and len(is_tp) == 0 and protocol.empty_class_ap is not None:
        return float(protocol.empty_class_ap)
    return average_precision(is_tp, n_gt, protocol.ap_mode)


def normalize_frame_detections(detections: Any, videos: Sequence[str]) -> np.ndarray:
    """Detections as an ``(N, 8)`` float64 array ``video_index, frame, label, score, x1..y2``.

    Accepts that array itself (ACT's ``alldets`` layout, video index into ``videos``) or an
    iterable of tuples ``(video_name, frame, label, score, x1, y1, x2, y2)`` /
    ``(video_name, frame, label, score, box4)``.

    Raises:
        ValueError: a detection names a video not among ``videos``.
    """
    if isinstance(detections, np.ndarray):
        d = np.asarray(detections, dtype=np.float64).reshape(-1, 8)
        if len(d) and (d[:, 0].min() < 0 or d[:, 0].max() >= len(videos)):
            raise ValueError("frame detections: video index out of range of `videos`")
        return d
    index = {v: i for i, v in enumerate(videos)}
    rows = []
    for det in detections:
        if len(det) == 5:
            v, f, c, s, box = det
            box = list(np.asarray(box, dtype=np.float64).reshape(4))
        elif len(det) == 8:
            v, f, c, s, *box = det
        else:
            raise ValueError(f"frame detection {det!r}: expected (video, frame, label, score, box)"
                             " or (video, frame, label, score, x1, y1, x2, y2)")
        if v not in index:
            raise ValueError(f"frame detection on video {v!r} which is not among the evaluated "
                             "videos")
        rows.append([index[v], f, c, s, *box])
    return np.asarray(rows, dtype=np.float64).reshape(-1, 8)


def _check_array_videos(dets: np.ndarray, vlist: Sequence[str], gttubes: Any,
                        videos_given: bool) -> None:
    """An ``(N, 8)`` array names videos by position in ``videos``: check what can be checked.

    A list in another order than the one the indices refer to silently scores detections
    against the wrong videos (every one a false positive), so the order must be stated, and
    every detection's frame must exist in the video its index names (``nframes`` of a
    ``TubeAnnotations``).
    """
    if not len(dets):
        return
    if not videos_given and len(vlist) > 1:
        raise ValueError(
            "frame detections given as an (N, 8) array index their videos by position: pass "
            "videos= in the order those indices refer to (ACT's alldets index the split's "
            "video list), or give (video_name, frame, label, score, box) tuples")
    nframes = getattr(gttubes, "nframes", None)
    if not nframes:
        return
    idx = dets[:, 0].astype(np.int64)
    limit = np.array([nframes.get(v, np.inf) for v in vlist], dtype=np.float64)[idx]
    bad = np.flatnonzero((dets[:, 1] < 1) | (dets[:, 1] > limit))
    if len(bad):
        i = int(bad[0])
        v = vlist[idx[i]]
        raise ValueError(
            f"frame detection {i} (video index {idx[i]}, frame {dets[i, 1]:g}) lies outside "
            f"video {v!r} ({nframes.get(v)} frames): is videos= in the order of the detection "
            f"array's video indices? ({len(bad)} such detections)")


def match_detections(keys: Sequence[Any], boxes: np.ndarray, gt: Mapping[Any, np.ndarray],
                     iou_threshold: float, protocol: Protocol) -> np.ndarray:
    """Greedy matching of score-sorted detections; returns ``is_tp (N,)`` bool.

    Args:
        keys: per detection, the key of its ground-truth group (e.g. ``(video, frame)``).
        boxes: ``(N, 4)`` detection boxes in the same (sorted) order.
        gt: ``{key: (k, 4) ground-truth boxes}``.
    """
    taken = {k: np.zeros(len(g), dtype=bool) for k, g in gt.items()}
    is_tp = np.zeros(len(keys), dtype=bool)
    for i, k in enumerate(keys):
        g = gt.get(k)
        if g is None or len(g) == 0:
            continue
        ious = box_iou(g, boxes[i:i + 1], plus_one=protocol.box_plus_one)[:, 0]
        if protocol.matching == "unmatched":
            ious = np.where(taken[k], -1.0, ious)  # ACT deletes matched GT boxes
            j = int(np.argmax(ious))
            if ious[j] >= iou_threshold:
                is_tp[i] = True
                taken[k][j] = True
        else:
            j = int(np.argmax(ious))
            if ious[j] >= iou_threshold and not taken[k][j]:
                is_tp[i] = True
                taken[k][j] = True
    return is_tp


def frame_map(
    detections: Any,
    gttubes: Any,
    *,
    iou_threshold: float = 0.5,
    protocol: "str | Protocol" = "act",
    videos: Optional[Sequence[str]] = None,
    labels: "int | Sequence[Any] | None" = None,
) -> MAPResult:
    """Frame-mAP of per-frame detections.

    Args:
        detections: see :func:`normalize_frame_detections`; frames are 1-based like the GT.
        gttubes: ``{video: {label: [tube (n, 5)]}}`` or a ``TubeAnnotations``.
        iou_threshold: match threshold (IoU >= threshold).
        protocol: a preset name ("act", "voc", "mmaction2") or a :class:`Protocol`.
        videos: evaluated videos (e.g. the test split); default all videos of ``gttubes``.
            Only these videos' ground truth is scored. With an ``(N, 8)`` detection array it
            is required (when the GT has several videos) and must be in the order of the
            array's video indices.
        labels: number of classes or a label list; default the labels present in the GT.

    Returns:
        :class:`MAPResult` (``value`` a fraction in [0, 1]).

    Raises:
        ValueError: a detection on a video not in ``videos``; an array without ``videos``; an
            array detection on a frame its indexed video does not have (``TubeAnnotations``
            know each video's length), the sign of ``videos`` in another order.
    """
    proto = get_protocol(protocol)
    tubes, vlist = _gt_tables(gttubes, videos)
    dets = normalize_frame_detections(detections, vlist)
    if isinstance(detections, np.ndarray):
        _check_array_videos(dets, vlist, gttubes, videos is not None)
    if labels is None:
        classes = sorted({int(c) for v in vlist for c in tubes[v]})
    else:
        classes = list(range(labels if isinstance(labels, int) else len(labels)))
    annotated: set[tuple[int, int]] = set()
    gt_by_class: dict[int, dict[tuple[int, int], list]] = {c: {} for c in classes}
    for vi, v in enumerate(vlist):
        for c, tl in tubes[v].items():
            for t in tl:
                t = np.asarray(t, dtype=np.float64)
                for row in t:
                    k = (vi, int(row[0]))
                    annotated.add(k)
                    if int(c) in gt_by_class:
                        gt_by_class[int(c)].setdefault(k, []).append(row[1:5])
    res = MAPResult(float("nan"), {}, {}, {}, proto, iou_threshold)
    for c in classes:
        gt = {k: np.asarray(b).reshape(-1, 4) for k, b in gt_by_class[c].items()}
        n_gt = sum(len(b) for b in gt.values())
        d = dets[dets[:, 2] == c]
        if proto.eval_frames == "annotated" and len(d):
            keep = np.array([(int(r[0]), int(r[1])) in annotated for r in d], dtype=bool)
            d = d[keep]
        d = d[score_order(d[:, 3], proto)]
        keys = [(int(r[0]), int(r[1])) for r in d]
        is_tp = match_detections(keys, d[:, 4:8], gt, iou_threshold, proto)
        res.ap[c] = class_ap(is_tp, n_gt, proto)
        res.n_gt[c], res.n_det[c] = n_gt, len(d)
        res.curves[c] = pr_curve(is_tp, n_gt)
    res.value = _nanmean(res.ap.values())
    return res
