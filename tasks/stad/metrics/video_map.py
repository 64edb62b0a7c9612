"""Video-mAP: per-class AP of detected tubes against ground-truth tubes (spatio-temporal IoU).

A detected tube ``(video, label, score, tube)`` matches a ground-truth tube of the same label in
the same video when :func:`~.iou.tube_iou` >= threshold; each ground-truth tube at most once.
``"0.5:0.95"`` averages the mAP over 0.5, 0.55, ..., 0.95 (ACT ``videoAP_050_095``).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Optional, Sequence

import numpy as np

from pgg_zoo.video.tubes import tube_nms

from .ap import average_precision, pr_curve
from .frame_map import MAPResult, _gt_tables, _nanmean
from .iou import tube_iou
from .presets import Protocol, get_protocol, parse_thresholds

__all__ = ["tube_nms", "video_map"]


def video_map(
    tubes: Any,
    gttubes: Any,
    *,
    iou_threshold: "float | str | tuple[float, ...]" = 0.5,
    protocol: "str | Protocol" = "act",
    videos: Optional[Sequence[str]] = None,
    labels: "int | Sequence[Any] | None" = None,
) -> MAPResult:
    """Video-mAP of detected tubes.

    Args:
        tubes: iterable of ``(video, label, score, tube)`` with ``tube`` an ``(L, 5)`` or
            ``(L, 6)`` array ``frame (1-based), x1, y1, x2, y2[, frame score]`` (the output of
            :func:`~.linking.link_video`).
        gttubes: ``{video: {label: [tube (n, 5)]}}`` or a ``TubeAnnotations``.
        iou_threshold: a float, ``"0.5:0.95"`` or a tuple; several thresholds are averaged.
        protocol: preset name or :class:`Protocol` (``tube_nms`` is applied per video+class).
        videos: evaluated videos (default all of ``gttubes``); tubes on other videos raise.
        labels: number of classes or label list; default labels present in the GT.

    Returns:
        :class:`MAPResult`; for several thresholds ``value`` is the mean over thresholds,
        ``per_threshold`` holds each mAP and ``ap`` the per-class AP averaged over thresholds.
    """
    proto = get_protocol(protocol)
    gt_all, vlist = _gt_tables(gttubes, videos)
    vset = set(vlist)
    ths = parse_thresholds(iou_threshold)
    if labels is None:
        classes = sorted({int(c) for v in vlist for c in gt_all[v]})
    else:
        classes = list(range(labels if isinstance(labels, int) else len(labels)))
    grouped: dict[tuple[str, int], list[tuple[float, np.ndarray]]] = defaultdict(list)
    for det in tubes:
        v, c, s, t = det
        if v not in vset:
            raise ValueError(f"detected tube on video {v!r} which is not among the evaluated "
                             "videos")
        t = np.asarray(t, dtype=np.float64)
        if t.ndim != 2 or t.shape[1] < 5 or len(t) == 0:
            raise ValueError(f"detected tube of video {v!r} has shape {t.shape}; need (L>0, 5+)")
        grouped[(v, int(c))].append((float(s), t))
    iou_kw = dict(plus_one=proto.box_plus_one, temporal_plus_one=proto.temporal_plus_one)

    per_th_ap: dict[float, dict[int, float]] = {th: {} for th in ths}
    res = MAPResult(float("nan"), {}, {}, {}, proto, iou_threshold)
    for c in classes:
        dets: list[tuple[str, float, np.ndarray]] = []
        for v in vlist:
            lst = grouped.get((v, c), [])
            if proto.tube_nms is not None and len(lst) > 1:
                keep = tube_nms([t for _, t in lst], [s for s, _ in lst], proto.tube_nms,
                                **iou_kw)
                lst = [lst[i] for i in keep]
            dets += [(v, s, t) for s, t in lst]
        order = np.argsort(-np.array([s for _, s, _ in dets], dtype=np.float64), kind="stable")
        dets = [dets[i] for i in order]
        gt = {v: [np.asarray(g, dtype=np.float64) for g in gt_all[v].get(c, [])] for v in vlist}
        n_gt = sum(len(g) for g in gt.values())
        # IoUs do not depend on the threshold: compute each det-vs-GT row once
        ious = [np.array([tube_iou(g, t, **iou_kw) for g in gt[v]]) for v, _, t in dets]
        for th in ths:
            taken = {v: np.zeros(len(g), dtype=bool) for v, g in gt.items()}
            is_tp = np.zeros(len(dets), dtype=bool)
            for i, (v, _, _) in enumerate(dets):
                row = ious[i]
                if len(row) == 0:
                    continue
                if proto.matching == "unmatched":
                    row = np.where(taken[v], -1.0, row)
                    j = int(np.argmax(row))
                    if row[j] >= th:
                        is_tp[i] = taken[v][j] = True
                else:
                    j = int(np.argmax(row))
                    if row[j] >= th and not taken[v][j]:
                        is_tp[i] = taken[v][j] = True
            per_th_ap[th][c] = average_precision(is_tp, n_gt, proto.ap_mode)
            if len(ths) == 1:
                res.curves[c] = pr_curve(is_tp, n_gt)
        res.n_gt[c], res.n_det[c] = n_gt, len(dets)
        res.ap[c] = _nanmean([per_th_ap[th][c] for th in ths]) if n_gt else float("nan")
    res.per_threshold = {th: _nanmean(per_th_ap[th].values()) for th in ths}
    res.value = _nanmean(res.per_threshold.values())
    return res
