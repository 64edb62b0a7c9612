"""PxAP: pixel average precision of CAMs against GT masks (wsolevaluation ``MaskEvaluator``).

Per image, the CAM values at foreground pixels and at background pixels are histogrammed over
the bins ``[t_0, t_1), ..., [t_last, 1), [1, 2), [2, 3]`` (the CAM threshold grid with
``[1, 2, 3]`` appended as right edges). Ignored pixels (the ignore region minus the foreground,
OpenImages' ``*_ignore.png``) enter neither histogram. At the end, TP/FP are cumulative sums
from the top bin down; ``precision = TP / (TP + FP)``, ``recall = TP / #foreground`` and
``PxAP = 100 * sum(precision[1:] * diff(recall))`` over the points where ``TP + FP > 0``.
"""
from __future__ import annotations

import numpy as np

from .core import check_scoremap
from .presets import wsoleval_thresholds

__all__ = ["PxAPAccumulator"]


def _check_mask(mask, shape, name: str) -> np.ndarray:
    m = np.asarray(mask)
    if m.shape != shape:
        raise ValueError(f"{name} must have the CAM's shape {shape}, got {m.shape}")
    if m.dtype != bool:
        if not np.isfinite(m).all():
            raise ValueError(f"{name} contains NaN or inf")
        m = m > 0.5  # wsolevaluation binarizes loaded masks with > 0.5
    return m


class PxAPAccumulator:
    """Stream CAMs with GT masks; :meth:`compute` returns PxAP (percent).

    Args:
        cam_thresholds: the bin edges (default wsolevaluation's ``np.arange(0, 1, 0.001)``).
    """

    def __init__(self, cam_thresholds=None) -> None:
        t = wsoleval_thresholds(0.001) if cam_thresholds is None else cam_thresholds
        self.thresholds = np.asarray(t, dtype=np.float64).ravel()
        if len(self.thresholds) == 0 or (np.diff(self.thresholds) <= 0).any():
            raise ValueError("cam_thresholds must be a non-empty increasing sequence")
        self._edges = np.append(self.thresholds, [1.0, 2.0, 3.0])
        self.reset()

    def reset(self) -> None:
        """Forget all accumulated images."""
        nb = len(self._edges) - 1
        self._pos = np.zeros(nb, dtype=np.float64)
        self._neg = np.zeros(nb, dtype=np.float64)
        self.count = 0

    def update(self, cam: np.ndarray, gt_mask, ignore_mask=None) -> None:
        """Add one image.

        Args:
            cam: ``(H, W)`` CAM in [0, 1].
            gt_mask: ``(H, W)`` foreground mask (bool, or numbers binarized with ``> 0.5``); the
                union over instances.
            ignore_mask: optional ``(H, W)`` ignore region; pixels in it that are not
                foreground are excluded (wsolevaluation ``get_mask``).
        """
        cam = check_scoremap(cam)
        fg = _check_mask(gt_mask, cam.shape, "gt_mask")
        bg = ~fg
        if ignore_mask is not None:
            bg &= ~_check_mask(ignore_mask, cam.shape, "ignore_mask")
        self._pos += np.histogram(cam[fg], bins=self._edges)[0]
        self._neg += np.histogram(cam[bg], bins=self._edges)[0]
        self.count += 1

    def merge(self, other: "PxAPAccumulator") -> None:
        """Add the histograms of another accumulator with the same thresholds."""
        if not np.array_equal(other.thresholds, self.thresholds):
            raise ValueError("cannot merge PxAPAccumulators with different thresholds")
        self._pos += other._pos
        self._neg += other._neg
        self.count += other.count

    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """``(precision, recall)`` from the highest bin down (NaN precision where TP+FP=0)."""
        tp = self._pos[::-1].cumsum()
        fp = self._neg[::-1].cumsum()
        if self._pos.sum() <= 0:
            raise ValueError("PxAP needs at least one foreground pixel in the evaluated masks")
        if ((tp + fp) <= 0).all():
            raise ValueError("PxAP needs at least one non-ignored pixel")
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = tp / (tp + fp)
        recall = tp / self._pos.sum()
        return precision, recall

    def compute(self) -> dict[str, float]:
        """``{"pxap": ..., "num_images": ...}``; PxAP in percent."""
        precision, recall = self.curve()
        valid = (self._pos[::-1].cumsum() + self._neg[::-1].cumsum()) != 0
        auc = float((precision[1:] * np.diff(recall))[valid[1:]].sum() * 100)
        return {"pxap": auc, "num_images": float(self.count)}
