"""The shared CAM-to-box core of the WSOL metrics.

One path from a CAM to "the best IoU against the ground truth at every CAM threshold", with
every convention an explicit field of :class:`~.presets.BoxConvention`. Two implementations:

* ``method="reference"``: the straightforward loop -- per threshold ``cv2.threshold`` (or a numpy
  comparison for ``>=`` / float CAMs), ``cv2.findContours(RETR_TREE, CHAIN_APPROX_SIMPLE)``,
  ``cv2.boundingRect`` per contour -- exactly the steps of wsolevaluation's
  ``compute_bboxes_from_scoremaps``.
* ``method="fast"`` (default), exact, equal to the reference (tested on random CAMs):
  thresholds are first mapped to integer levels, so thresholds giving the same binary map are
  computed once (at most 256 maps for a uint8 CAM however fine the grid). For
  ``contours="all"`` the boxes of all levels come from one component tree
  (:mod:`.components`): 8-connected components of the foreground (outer contours) and
  4-connected enclosed background regions (hole contours), no per-level labelling. For
  ``contours="largest"`` the choice depends on ``cv2.contourArea`` of the traced polygon, so each
  distinct map is still traced with cv2 (only the deduplication applies).

Coordinates: CAM and boxes are in the same pixel frame (``x0, y0, x1, y1``). Use
:func:`resize_scoremap` and :func:`resize_boxes` to go between image size and the evaluation
size (wsolevaluation evaluates at 224 x 224: CAM resized with ``INTER_CUBIC``, boxes scaled and
truncated to int).
"""
from __future__ import annotations

import cv2
import numpy as np

from pgg_zoo.vision.boxes import box_iou

from .components import component_extents, hole_extents
from .presets import BoxConvention

__all__ = [
    "check_scoremap",
    "normalize_scoremap",
    "resize_scoremap",
    "resize_boxes",
    "check_boxes",
    "threshold_levels",
    "boxes_at_thresholds",
    "best_iou_per_threshold",
]


def check_scoremap(cam: np.ndarray, name: str = "cam") -> np.ndarray:
    """Validate a CAM (2-D, finite, within [0, 1]) and return it as float64.

    Mirrors wsolevaluation ``util.check_scoremap_validity`` but raises ``ValueError`` for every
    problem (that one raises ``TypeError`` for non-float64 input; here float32 is accepted and
    cast to float64 *before* the uint8 scaling, which is what wsolevaluation computes for float64
    input).
    """
    if not isinstance(cam, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(cam).__name__}")
    if cam.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) array, got shape {cam.shape}")
    if cam.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {cam.shape}")
    if not np.issubdtype(cam.dtype, np.floating):
        raise ValueError(f"{name} must be a float array in [0, 1], got dtype {cam.dtype}")
    cam = cam.astype(np.float64, copy=False)
    if not np.isfinite(cam).all():
        raise ValueError(f"{name} contains NaN or inf; normalize it first "
                         "(normalize_scoremap maps NaN maps to zeros)")
    lo, hi = float(cam.min()), float(cam.max())
    if lo < 0 or hi > 1:
        raise ValueError(f"{name} must be in [0, 1] (min={lo}, max={hi}); "
                         "use normalize_scoremap")
    return cam


def normalize_scoremap(cam: np.ndarray) -> np.ndarray:
    """Min-max normalize a CAM to [0, 1] (wsolevaluation ``inference.normalize_scoremap``).

    A CAM containing NaN, or a constant CAM, becomes all zeros. Returns a new float64 array.
    """
    cam = np.array(cam, dtype=np.float64, copy=True)
    if cam.size == 0 or np.isnan(cam).any():
        return np.zeros_like(cam)
    lo, hi = cam.min(), cam.max()
    if lo == hi:
        return np.zeros_like(cam)
    cam -= lo
    cam /= cam.max()
    return cam


def resize_scoremap(cam: np.ndarray, size: tuple[int, int], normalize: bool = True) -> np.ndarray:
    """Resize a CAM to ``size = (width, height)`` with bicubic interpolation, then normalize.

    wsolevaluation (``inference.py``) casts the CAM to float64 (``util.t2n``), resizes it with
    ``cv2.INTER_CUBIC`` to the evaluation size and min-max normalizes afterwards (cubic
    overshoots [0, 1]). The cast comes first here too: cv2 resizes float32 input in float32,
    whose rounding turns a constant map into noise that normalization then stretches to
    [0, 1]; in float64 a constant map stays constant (and normalizes to zeros).
    """
    cam = np.asarray(cam, dtype=np.float64)
    out = cv2.resize(cam, (int(size[0]), int(size[1])), interpolation=cv2.INTER_CUBIC)
    return normalize_scoremap(out) if normalize else out


def resize_boxes(boxes: np.ndarray, image_size: tuple[int, int], target_size: tuple[int, int],
                 integer: bool = True) -> np.ndarray:
    """Scale ``(n, 4)`` boxes from ``image_size=(w, h)`` to ``target_size=(w, h)``.

    Computed as ``x * new_w / w`` in float64, in that order, as wsolevaluation ``resize_bbox``
    does: ``x * (new_w / w)`` rounds differently and truncates one pixel lower for some boxes
    (``x0=45, w=80 -> 224``: ``45 * 224 / 80 = 126.0`` but ``45 * (224 / 80) = 125.99...``).
    ``integer=True`` truncates like ``resize_bbox``'s ``int()``.
    """
    b = check_boxes(boxes, "boxes").astype(np.float64)
    w, h = float(image_size[0]), float(image_size[1])
    tw, th = float(target_size[0]), float(target_size[1])
    out = np.empty_like(b)
    out[:, [0, 2]] = b[:, [0, 2]] * tw / w
    out[:, [1, 3]] = b[:, [1, 3]] * th / h
    return np.trunc(out) if integer else out


def check_boxes(boxes, name: str = "gt_boxes") -> np.ndarray:
    """Validate boxes as an ``(n, 4)`` float array of ``x0, y0, x1, y1`` with ``x1>=x0, y1>=y0``."""
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim == 1 and b.shape[0] == 4:
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4 or b.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n, 4) with n >= 1 (x0, y0, x1, y1), "
                         f"got {np.shape(boxes)}")
    if not np.isfinite(b).all():
        raise ValueError(f"{name} contains NaN or inf")
    if (b[:, 2] < b[:, 0]).any() or (b[:, 3] < b[:, 1]).any():
        raise ValueError(f"{name} must follow x0, y0, x1, y1 with x1 >= x0 and y1 >= y0")
    return b


def _pixel_map(cam: np.ndarray, conv: BoxConvention, literal: bool = False):
    """The map that is thresholded (uint8 or float) and its per-threshold pixel thresholds.

    With ``literal=False`` the thresholds are adjusted so that ``foreground == (map cmp thr)``
    holds for every convention: ``THRESH_TOZERO`` zeroes pixels of value 0 even when ``>=`` keeps
    them, so ``>=`` with a threshold <= 0 becomes "> 0" there.
    """
    t = conv.thresholds
    if conv.quantize == "uint8":
        # wsolevaluation: (scoremap * 255).astype(np.uint8); thresh=int(threshold * max)
        q = (cam * 255).astype(np.uint8)
        top = float(q.max()) if conv.relative_to_max else 255.0
        k = np.floor(t * top).astype(np.int64)
        if not literal and conv.threshold_type == "tozero" and conv.compare == ">=":
            k = np.maximum(k, 1)
        return q, k
    top = float(cam.max()) if conv.relative_to_max else 1.0
    k = t * top
    if not literal and conv.threshold_type == "tozero" and conv.compare == ">=":
        k = np.maximum(k, np.nextafter(0.0, 1.0))
    return cam, k


def threshold_levels(cam: np.ndarray, conv: BoxConvention):
    """Map thresholds to integer levels: ``foreground(t) == (r > level[t])``.

    Returns ``(r, level, n_levels)``: ``r`` an integer map with values ``0..n_levels``,
    ``level`` one index per CAM threshold. Thresholds giving the same binary map share a level.
    """
    v, k = _pixel_map(cam, conv)
    uniq, level = np.unique(k, return_inverse=True)
    side = "left" if conv.compare == ">" else "right"
    if v.dtype == np.uint8:
        # a 256-entry lookup table instead of a per-pixel binary search
        r = np.searchsorted(uniq, np.arange(256), side=side)[v]
    else:
        r = np.searchsorted(uniq, v, side=side)
    return r, level.ravel(), len(uniq)


def _rect_to_box(x, y, w, h, W, H, conv: BoxConvention):
    if conv.box_end == "exclusive_clipped":
        return x, y, np.minimum(x + w, W - 1), np.minimum(y + h, H - 1)
    if conv.box_end == "exclusive":
        return x, y, x + w, y + h
    return x, y, x + w - 1, y + h - 1


def _reference_mask(cam: np.ndarray, conv: BoxConvention, thresh) -> np.ndarray:
    v, _ = _pixel_map(cam, conv, literal=True)
    if conv.quantize == "uint8" and conv.compare == ">":
        kind = cv2.THRESH_BINARY if conv.threshold_type == "binary" else cv2.THRESH_TOZERO
        # wsolevaluation: cv2.threshold(src=uint8[..., None], thresh=int(t * max), maxval=255)
        _, out = cv2.threshold(v[:, :, None], int(thresh), 255, kind)
        return out.reshape(v.shape)
    keep = (v > thresh) if conv.compare == ">" else (v >= thresh)
    out = keep if conv.threshold_type == "binary" else np.where(keep, v, 0)
    # findContours takes every non-zero pixel as foreground
    return (out != 0).astype(np.uint8) * 255


def _contour_boxes(mask: np.ndarray, conv: BoxConvention, contours: str) -> np.ndarray:
    H, W = mask.shape[:2]
    found = cv2.findContours(mask, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
    # OpenCV 3 returns (image, contours, hierarchy); 2, 4 and 5 return (contours, hierarchy)
    cs = found[1] if len(found) == 3 else found[0]
    if len(cs) == 0:
        return np.asarray([conv.empty_box], dtype=np.float64)
    if contours == "largest":
        cs = [max(cs, key=cv2.contourArea)]  # first of the largest, like Python's max
    rects = np.asarray([cv2.boundingRect(c) for c in cs], dtype=np.float64).reshape(-1, 4)
    x, y, w, h = rects.T
    return np.stack(_rect_to_box(x, y, w, h, W, H, conv), axis=1)


def boxes_at_thresholds(cam: np.ndarray, conv: BoxConvention,
                        contours: str | None = None) -> list[np.ndarray]:
    """Estimated boxes ``(k, 4)`` at every CAM threshold, by the straightforward cv2 loop.

    This is the reference implementation (wsolevaluation ``compute_bboxes_from_scoremaps``
    generalized to the conventions); the metrics use :func:`best_iou_per_threshold`.
    """
    cam = check_scoremap(cam)
    contours = contours or conv.contours
    _, k = _pixel_map(cam, conv, literal=True)
    return [_contour_boxes(_reference_mask(cam, conv, t), conv, contours) for t in k]


def best_iou_per_threshold(cam: np.ndarray, gt_boxes, conv: BoxConvention,
                           contours: str | None = None, method: str = "fast") -> np.ndarray:
    """Best IoU over (estimated boxes x GT boxes) at every CAM threshold of ``conv``.

    Args:
        cam: ``(H, W)`` float CAM in [0, 1] (see :func:`normalize_scoremap`).
        gt_boxes: ``(n, 4)`` ground-truth boxes ``x0, y0, x1, y1`` in the CAM's pixel frame.
        conv: the conventions (:func:`~.presets.get_preset`).
        contours: ``"all"`` or ``"largest"``; default ``conv.contours``.
        method: ``"fast"`` (exact, default) or ``"reference"`` (per-threshold cv2 loop).

    Returns:
        float64 array with one IoU per threshold of ``conv.cam_thresholds``.
    """
    cam = check_scoremap(cam)
    gt = check_boxes(gt_boxes)
    contours = contours or conv.contours
    if contours not in ("all", "largest"):
        raise ValueError(f"contours must be 'all' or 'largest', got {contours!r}")
    if method == "reference":
        return np.array([box_iou(b, gt, plus_one=conv.iou_plus_one).max()
                         for b in boxes_at_thresholds(cam, conv, contours)])
    if method != "fast":
        raise ValueError(f"method must be 'fast' or 'reference', got {method!r}")
    r, level, n_levels = threshold_levels(cam, conv)
    if contours == "largest":
        best = _largest_per_level(cam, r, n_levels, gt, conv)
    else:
        best = _all_per_level(r, n_levels, gt, conv)
    return best[level]


def _largest_per_level(cam, r, n_levels, gt, conv) -> np.ndarray:
    # the largest contour is chosen by cv2.contourArea of the traced polygon: trace each distinct
    # binary map once with cv2 (exact by construction)
    best = np.empty(n_levels)
    for j in range(n_levels):
        mask = ((r > j).astype(np.uint8)) * 255
        best[j] = box_iou(_contour_boxes(mask, conv, "largest"), gt,
                          plus_one=conv.iou_plus_one).max()
    return best


def _all_per_level(r, n_levels, gt, conv) -> np.ndarray:
    H, W = r.shape
    j, x0, y0, x1, y1, _, _ = component_extents(r, n_levels, connectivity=8)
    hj, hx0, hy0, hx1, hy1 = hole_extents(r, n_levels)
    # a hole's contour runs along the foreground pixels around it: one pixel wider each side
    lv = np.concatenate([j, hj])
    px0 = np.concatenate([x0, hx0 - 1]).astype(np.float64)
    py0 = np.concatenate([y0, hy0 - 1]).astype(np.float64)
    px1 = np.concatenate([x1, hx1 + 1]).astype(np.float64)
    py1 = np.concatenate([y1, hy1 + 1]).astype(np.float64)
    boxes = np.stack(_rect_to_box(px0, py0, px1 - px0 + 1, py1 - py0 + 1, W, H, conv), axis=1)
    ious = box_iou(boxes, gt, plus_one=conv.iou_plus_one).max(axis=1)
    best = np.full(n_levels, -np.inf)
    np.maximum.at(best, lv, ious)
    empty = np.ones(n_levels, dtype=bool)
    empty[j] = False
    if empty.any():
        best[empty] = box_iou(np.asarray([conv.empty_box]), gt, plus_one=conv.iou_plus_one).max()
    return best
