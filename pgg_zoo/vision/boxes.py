"""Box geometry shared by the localization metrics (WSOL box accuracy, STAD frame-/video-mAP).

Boxes are ``x0, y0, x1, y1``. The pixel convention is always the caller's explicit choice,
because the reference implementations disagree and the metrics must match each of them:

* ``plus_one=True``: coordinates are inclusive pixel indices, a box ``[x0, x1]`` spans
  ``x1 - x0 + 1`` pixels (wsolevaluation's ``calculate_multiple_iou``, ACT/MOC, the old PASCAL
  devkit);
* ``plus_one=False``: continuous coordinates, width ``x1 - x0`` (COCO, mmaction2's MultiSports
  port).
"""
from __future__ import annotations

import numpy as np

__all__ = ["box_area", "box_iou", "paired_box_iou"]


def box_area(b: np.ndarray, *, plus_one: bool) -> np.ndarray:
    """Areas of boxes ``(..., 4)`` -> ``(...)`` float64; a degenerate box has area 0."""
    b = np.asarray(b, dtype=np.float64)
    e = 1.0 if plus_one else 0.0
    return np.maximum(b[..., 2] - b[..., 0] + e, 0) * np.maximum(b[..., 3] - b[..., 1] + e, 0)


def box_iou(a: np.ndarray, b: np.ndarray, *, plus_one: bool) -> np.ndarray:
    """Pairwise IoU of boxes ``a (N, 4)`` and ``b (M, 4)`` -> ``(N, M)`` float64.

    A pair whose union is not positive (two empty boxes under ``plus_one=False``) has IoU 0.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    e = 1.0 if plus_one else 0.0
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + e
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + e
    inter = np.maximum(iw, 0) * np.maximum(ih, 0)
    union = (box_area(a, plus_one=plus_one)[:, None] + box_area(b, plus_one=plus_one)[None, :]
             - inter)
    ok = union > 0
    return np.where(ok, inter / np.where(ok, union, 1.0), 0.0)


def paired_box_iou(a: np.ndarray, b: np.ndarray, *, plus_one: bool) -> np.ndarray:
    """IoU of boxes ``a (..., 4)`` and ``b (..., 4)`` element by element (the leading shapes
    broadcast) -> ``(...)`` float64; a pair whose union is not positive has IoU 0."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    e = 1.0 if plus_one else 0.0
    iw = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + e
    ih = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + e
    inter = np.maximum(iw, 0) * np.maximum(ih, 0)
    union = box_area(a, plus_one=plus_one) + box_area(b, plus_one=plus_one) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
