"""Linking per-frame detections into action tubes (for video-mAP).

Implemented: the greedy linking of **Kalogeiton et al., "Action Tubelet Detector" (ACT, ICCV
2017)** as in act-detector / MOC-Detector ``ACT_build.BuildTubes``, specialised to per-frame
detections (tubelet length K = 1), per class:

1. on each frame, the class's detections go through ACT's one-pass linear soft-NMS
   (overlap 0.6: boxes overlapping a kept box are *kept* with score ``* (1 - IoU)``) and the
   ``top_k`` (10) best are candidates;
2. active tubes are visited by decreasing mean score; each takes, among the candidates with
   IoU >= ``iou_threshold`` (0.5) with its last box, the one with the highest score (which is
   then no longer available); a tube that gets nothing is finished (ACT with K = 1 allows no
   gap; ``max_gap > 0`` keeps it alive that many frames and interpolates the missing boxes);
3. unclaimed candidates start new tubes;
4. a tube's score is the mean of its detection scores; tubes with score < ``min_score``
   (0.005) or shorter than ``min_length`` frames (15) are dropped.

This is not the online linking of Singh et al. (ICCV 2017), which scores candidates with
``score + IoU`` and uses label-consistent temporal trimming; ACT's rule is what MOC and
mmaction2's MultiSports evaluation use, so video-mAP numbers are comparable with theirs.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np

from pgg_zoo.vision.boxes import box_iou


def soft_nms_linear(boxes: np.ndarray, scores: np.ndarray, overlap: float = 0.6,
                    top_k: Optional[int] = None, plus_one: bool = True
                    ) -> tuple[np.ndarray, np.ndarray]:
    """ACT's ``nms_tubelets`` for K = 1: a single pass of linear soft-NMS.

    Visit boxes by decreasing score; boxes with IoU > ``overlap`` with the visited one get
    score ``* (1 - IoU)`` and are not visited themselves. Returns ``(boxes (k, 4), scores (k,))``
    re-sorted by the new scores, at most ``top_k``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1).copy()
    if len(boxes) == 0:
        return boxes, scores
    ious = box_iou(boxes, boxes, plus_one=plus_one)
    order = list(np.argsort(-scores, kind="stable"))
    weight = np.ones_like(scores)
    while order:
        i = order.pop(0)
        rest = np.asarray(order, dtype=np.int64)
        if rest.size == 0:
            break
        ov = ious[i, rest]
        sup = ov > overlap
        weight[rest[sup]] = 1 - ov[sup]
        order = [int(j) for j in rest[~sup]]
    scores = scores * weight
    new = np.argsort(-scores, kind="stable")[: top_k if top_k is not None else len(scores)]
    return boxes[new], scores[new]


def link_frame_detections(
    frames: Mapping[int, tuple[np.ndarray, np.ndarray]],
    *,
    iou_threshold: float = 0.5,
    nms_overlap: Optional[float] = 0.6,
    top_k: Optional[int] = 10,
    min_length: int = 15,
    min_score: float = 0.005,
    max_gap: int = 0,
    plus_one: bool = True,
    frame_range: Optional[tuple[int, int]] = None,
) -> list[tuple[np.ndarray, float]]:
    """Link one class's per-frame detections of one video into tubes.

    Args:
        frames: ``{frame (1-based): (boxes (n, 4), scores (n,))}``; missing frames have none.
        iou_threshold: minimum IoU with a tube's last box to extend it.
        nms_overlap, top_k: per-frame soft-NMS and candidate cap (``None`` disables).
        min_length: minimum tube length in frames (ACT 15 for UCF101-24; lower it for short
            clips); ``min_score``: minimum mean score.
        max_gap: frames a tube may miss before it ends (ACT: 0); gaps are interpolated.
        frame_range: ``(first, last)`` frames to iterate; default the span of ``frames``.

    Returns:
        list of ``(tube (L, 6): frame, x1, y1, x2, y2, score; tube score)``, by decreasing score.
    """
    if not frames and frame_range is None:
        return []
    first, last = frame_range if frame_range is not None else (min(frames), max(frames))
    active: list[list[tuple[int, np.ndarray, float]]] = []
    finished: list[list[tuple[int, np.ndarray, float]]] = []
    mean_score = lambda t: float(np.mean([s for _, _, s in t]))  # noqa: E731
    for f in range(int(first), int(last) + 1):
        b, s = frames.get(f, (np.zeros((0, 4)), np.zeros(0)))
        b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
        s = np.asarray(s, dtype=np.float64).reshape(-1)
        if nms_overlap is not None:
            b, s = soft_nms_linear(b, s, nms_overlap, top_k, plus_one)
        elif top_k is not None:
            o = np.argsort(-s, kind="stable")[:top_k]
            b, s = b[o], s[o]
        free = np.ones(len(b), dtype=bool)
        active.sort(key=mean_score, reverse=True)
        still = []
        for t in active:
            lf, lb, _ = t[-1]
            ok = np.zeros(0, dtype=bool)
            if free.any():
                ious = box_iou(b, lb[None], plus_one=plus_one)[:, 0]
                ok = (ious >= iou_threshold) & free
            if ok.any():
                j = int(np.flatnonzero(ok)[np.argmax(s[ok])])
                t.append((f, b[j], float(s[j])))
                free[j] = False
                still.append(t)
            elif f - lf > max_gap:
                finished.append(t)
            else:
                still.append(t)
        active = still + [[(f, b[j], float(s[j]))] for j in np.flatnonzero(free)]
    finished += active
    out = []
    for t in finished:
        score = mean_score(t)
        begin, end = t[0][0], t[-1][0]
        if score < min_score or end - begin + 1 < min_length:
            continue
        fr = np.array([x[0] for x in t], dtype=np.float64)
        allf = np.arange(begin, end + 1, dtype=np.float64)
        tube = np.zeros((len(allf), 6))
        tube[:, 0] = allf
        for col in range(4):
            tube[:, 1 + col] = np.interp(allf, fr, [x[1][col] for x in t])
        tube[:, 5] = np.interp(allf, fr, [x[2] for x in t])
        out.append((tube, score))
    out.sort(key=lambda x: -x[1])
    return out


def link_video(
    frame_dets: Mapping[int, tuple[np.ndarray, np.ndarray]],
    num_classes: int,
    **kwargs: Any,
) -> dict[int, list[tuple[np.ndarray, float]]]:
    """Link a video's detections for every class.

    Args:
        frame_dets: ``{frame: (boxes (n, 4), class_scores (n, C))}`` -- one box set per frame
            scored for every class (a detector's person boxes with per-class action scores).
        num_classes: ``C``.
        **kwargs: passed to :func:`link_frame_detections`.

    Returns:
        ``{class: [(tube (L, 6), score), ...]}``.
    """
    out = {}
    for c in range(num_classes):
        per = {}
        for f, (b, sc) in frame_dets.items():
            sc = np.asarray(sc, dtype=np.float64)
            sc = sc.reshape(len(np.asarray(b).reshape(-1, 4)), -1)
            per[f] = (b, sc[:, c])
        out[c] = link_frame_detections(per, **kwargs)
    return out


def tubes_for_video_map(video: str, linked: Mapping[int, Sequence[tuple[np.ndarray, float]]]
                        ) -> list[tuple[str, int, float, np.ndarray]]:
    """``link_video`` output -> the ``(video, label, score, tube)`` list :func:`video_map` takes."""
    return [(video, int(c), float(s), t) for c, lst in linked.items() for t, s in lst]
