"""Box IoU (the shared :func:`pgg_zoo.vision.boxes.box_iou`, re-exported) and spatio-temporal
tube IoU with explicit pixel / frame conventions.

``plus_one=True`` is the ACT/MOC (and old PASCAL devkit) convention: coordinates are inclusive
pixel indices, so a box ``[x1, x2]`` spans ``x2 - x1 + 1`` pixels. ``plus_one=False`` treats
coordinates as continuous (mmaction2's MultiSports port, COCO).
"""
from __future__ import annotations

import numpy as np

from pgg_zoo.vision.boxes import box_area, box_iou  # noqa: F401  (part of this module's API)


def paired_box_iou(a: np.ndarray, b: np.ndarray, plus_one: bool = False) -> np.ndarray:
    """Element-wise IoU of ``a (N, 4)`` and ``b (N, 4)`` -> ``(N,)``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    e = 1.0 if plus_one else 0.0
    iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]) + e
    ih = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]) + e
    inter = np.maximum(iw, 0) * np.maximum(ih, 0)
    union = box_area(a, plus_one=plus_one) + box_area(b, plus_one=plus_one) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def tube_iou(a: np.ndarray, b: np.ndarray, *, plus_one: bool = False,
             temporal_plus_one: bool = True) -> float:
    """Spatio-temporal IoU of two tubes ``(n, 5+)`` rows ``frame, x1, y1, x2, y2[, score]``.

    ``tIoU * mean spatial IoU over the temporal overlap`` (ACT's ``iou3dt``):

    * temporal: ``[max(start), min(end)]`` over ``[min(start), max(end)]``, counted in frames
      (``temporal_plus_one=True``: ``end - start + 1``, ACT) or as a length
      (``False``: ``end - start``, mmaction2's port; two equal single-frame tubes then have
      temporal IoU defined as 1);
    * spatial: mean per-frame IoU over the frames of the overlap. Tubes from the annotation
      files and from linking are contiguous, then this is exactly ACT's; if a tube has gaps, a
      frame of the overlap present in only one tube counts IoU 0 (ACT would misalign rows).

    Returns 0.0 when the tubes do not overlap in time.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        return 0.0
    a = a[np.argsort(a[:, 0], kind="stable")]
    b = b[np.argsort(b[:, 0], kind="stable")]
    tmin, tmax = max(a[0, 0], b[0, 0]), min(a[-1, 0], b[-1, 0])
    if tmax < tmin:
        return 0.0
    e = 1.0 if temporal_plus_one else 0.0
    t_inter = tmax - tmin + e
    t_union = max(a[-1, 0], b[-1, 0]) - min(a[0, 0], b[0, 0]) + e
    t_iou = 1.0 if t_union == 0 else t_inter / t_union
    aa = a[(a[:, 0] >= tmin) & (a[:, 0] <= tmax)]
    bb = b[(b[:, 0] >= tmin) & (b[:, 0] <= tmax)]
    frames = np.union1d(aa[:, 0], bb[:, 0])
    ia = np.searchsorted(aa[:, 0], frames)
    ib = np.searchsorted(bb[:, 0], frames)
    both = (ia < len(aa)) & (ib < len(bb))
    both &= aa[np.minimum(ia, len(aa) - 1), 0] == frames
    both &= bb[np.minimum(ib, len(bb) - 1), 0] == frames
    ious = np.zeros(len(frames))
    if both.any():
        ious[both] = paired_box_iou(aa[ia[both], 1:5], bb[ib[both], 1:5], plus_one)
    return float(t_iou * ious.mean())
