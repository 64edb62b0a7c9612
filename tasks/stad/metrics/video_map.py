"""Video-mAP: per-class AP of detected tubes against ground-truth tubes (spatio-temporal IoU).

A detected tube ``(video, label, score, tube)`` matches a ground-truth tube of the same label in
the same video when :func:`~.iou.tube_iou` >= threshold; each ground-truth tube at most once.
``"0.5:0.95"`` averages the mAP over 0.5, 0.55, ..., 0.95 (ACT ``videoAP_050_095``; under
``act`` the thresholds are ACT's unrounded ``0.5 + 0.05 * i``).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Optional, Sequence

import numpy as np

from pgg_zoo.video.tubes import tube_iou, tube_nms

from .act_order import act_nms3dt
from .ap import pr_curve
from .frame_map import MAPResult, _gt_tables, _nanmean, class_ap, score_order
from .presets import Protocol, get_protocol, parse_thresholds

__all__ = ["video_map"]


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
        iou_threshold: a float, ``"0.5:0.95"`` (built per the protocol's ``threshold_steps``)
            or a tuple; several thresholds are averaged.
        protocol: preset name or :class:`Protocol` (``tube_nms`` is applied per video+class,
            ties resolved per its ``tie_order``).
        videos: evaluated videos (default all of ``gttubes``); tubes on other videos raise.
        labels: number of classes or label list; default labels present in the GT.

    Returns:
        :class:`MAPResult`; for several thresholds ``value`` is the mean over thresholds,
        ``per_threshold`` holds each mAP and ``ap`` the per-class AP averaged over thresholds.
    """
    proto = get_protocol(protocol)
    gt_all, vlist = _gt_tables(gttubes, videos)
    vset = set(vlist)
    ths = parse_thresholds(iou_threshold, proto.threshold_steps)
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

    def nms(lst: list[tuple[float, np.ndarray]]) -> np.ndarray:
        tubes_, scores_ = [t for _, t in lst], [s for s, _ in lst]
        if proto.tie_order == "act":
            return act_nms3dt(tubes_, scores_, proto.tube_nms,
                              lambda a, b: tube_iou(a, b, **iou_kw))
        return tube_nms(tubes_, scores_, proto.tube_nms, **iou_kw)

    per_th_ap: dict[float, dict[int, float]] = {th: {} for th in ths}
    res = MAPResult(float("nan"), {}, {}, {}, proto, iou_threshold)
    for c in classes:
        dets: list[tuple[str, float, np.ndarray]] = []
        for v in vlist:
            lst = grouped.get((v, c), [])
            if proto.tube_nms is not None and len(lst) > 1:
                lst = [lst[i] for i in nms(lst)]
            dets += [(v, s, t) for s, t in lst]
        dets = [dets[i] for i in score_order([s for _, s, _ in dets], proto)]
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
            per_th_ap[th][c] = class_ap(is_tp, n_gt, proto)
            if len(ths) == 1:
                res.curves[c] = pr_curve(is_tp, n_gt)
        res.n_gt[c], res.n_det[c] = n_gt, len(dets)
        res.ap[c] = _nanmean([per_th_ap[th][c] for th in ths])
    res.per_threshold = {th: _nanmean(per_th_ap[th].values()) for th in ths}
    res.value = _nanmean(res.per_threshold.values())
    return res
