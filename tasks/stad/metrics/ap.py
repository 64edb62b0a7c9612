"""Precision/recall curves and average precision (trapezoid as ACT, VOC all-point).

The input of every function is the detections of one class **sorted by decreasing score**,
reduced to a boolean ``is_tp (N,)``, plus the number of ground-truth instances ``n_gt``.
"""
from __future__ import annotations

import numpy as np


def pr_curve(is_tp: np.ndarray, n_gt: int) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall after each detection: two float64 arrays ``(N,)``.

    ``n_gt == 0`` gives recall 0 everywhere (callers skip such classes).
    """
    is_tp = np.asarray(is_tp, dtype=bool).reshape(-1)
    tp = np.cumsum(is_tp, dtype=np.float64)
    fp = np.cumsum(~is_tp, dtype=np.float64)
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / n_gt if n_gt > 0 else np.zeros_like(tp)
    return precision, recall


def ap_trapezoid(precision: np.ndarray, recall: np.ndarray) -> float:
    """ACT's ``pr_to_ap``: trapezoid area of the raw PR curve prefixed with (P=1, R=0).

    ``sum_i (r_i - r_{i-1}) * (p_i + p_{i-1}) / 2`` with ``(p_0, r_0) = (1, 0)``; precision is
    *not* made monotone. No detections -> 0.
    """
    p = np.concatenate([[1.0], np.asarray(precision, dtype=np.float64)])
    r = np.concatenate([[0.0], np.asarray(recall, dtype=np.float64)])
    return float(np.sum((r[1:] - r[:-1]) * (p[1:] + p[:-1]) * 0.5))


def ap_voc(precision: np.ndarray, recall: np.ndarray) -> float:
    """PASCAL VOC 2010+ all-point interpolated AP (mmaction2 ``pr_to_ap_voc``).

    Precision envelope (max precision at any recall >= r) integrated over the recall steps,
    with sentinels ``(r=0, p=0)`` and ``(r=1, p=0)``. No detections -> 0.
    """
    r = np.concatenate([[0.0], np.asarray(recall, dtype=np.float64), [1.0]])
    p = np.concatenate([[0.0], np.asarray(precision, dtype=np.float64), [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    idx = np.nonzero(r[1:] != r[:-1])[0] + 1
    return float(np.sum((r[idx] - r[idx - 1]) * p[idx]))


AP_FUNCTIONS = {"trapezoid": ap_trapezoid, "voc": ap_voc}


def average_precision(is_tp: np.ndarray, n_gt: int, mode: str = "trapezoid") -> float:
    """AP of score-sorted detections ``is_tp (N,)`` against ``n_gt`` instances.

    Args:
        mode: "trapezoid" (ACT) or "voc" (all-point interpolated).

    Returns:
        AP in [0, 1]; ``nan`` when ``n_gt == 0`` (the class is left out of the mean).
    """
    if mode not in AP_FUNCTIONS:
        raise ValueError(f"unknown AP mode {mode!r}; use one of {sorted(AP_FUNCTIONS)}")
    if n_gt <= 0:
        return float("nan")
    p, r = pr_curve(is_tp, n_gt)
    return AP_FUNCTIONS[mode](p, r)
