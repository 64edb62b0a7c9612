"""Box metrics on the shared core: MaxBoxAccV1/V2, GT-known Loc, Top-1 Loc, Top-5 Loc.

All are computed from the same per-image "best IoU at every CAM threshold" vector
(:func:`~.core.best_iou_per_threshold`), streamed through :class:`BoxAccumulator`.

Definitions (``acc_delta(t)`` = percent of images whose best IoU at CAM threshold ``t`` passes
IoU threshold ``delta``; the CAM passed per image is the ground-truth class's CAM):

* ``MaxBoxAcc(delta) = max_t acc_delta(t)`` (wsolevaluation ``BoxEvaluator.compute``);
  MaxBoxAccV1 = MaxBoxAcc(50) with the largest contour; MaxBoxAccV2 = mean over delta in
  {30, 50, 70} with all contours, each delta at its own best threshold.
* GT-known Loc = ``acc_50(t*)``, Top-1 Loc = percent of images with the top-1 class correct and
  the box passing at ``t*``, Top-5 Loc the same with the label among the top 5. ``t*`` is the
  CAM threshold given as ``loc_threshold``, else the threshold that maximizes GT-known Loc
  (``best_threshold@50``, chosen without class information; reported as ``loc_threshold``).
  With a one-threshold grid (the ``tscam`` preset) ``t*`` is that threshold.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .core import best_iou_per_threshold
from .presets import BoxConvention, get_preset

__all__ = ["BoxAccumulator", "VARIANTS"]

VARIANTS: dict[str, dict[str, Any]] = {
    "v1": {"iou_thresholds": (50,), "contours": "largest"},
    "v2": {"iou_thresholds": (30, 50, 70), "contours": "all"},
}


def _passes(iou: np.ndarray, delta: float, compare: str) -> np.ndarray:
    return iou >= delta if compare == ">=" else iou > delta


class BoxAccumulator:
    """Stream CAMs and ground truth; compute MaxBoxAcc, GT-known, Top-1 and Top-5 Loc.

    Args:
        preset: a preset name (``"wsoleval"``, ``"tscam"``) or a :class:`BoxConvention`.
        variant: ``"v2"`` (IoU 30/50/70, all contours), ``"v1"`` (IoU 50, largest contour) or
            ``None`` (use ``iou_thresholds`` / ``contours`` / the preset's ``contours``).
            Names the keys: ``maxboxacc_v2``, ``maxboxacc_v2@30``, ...
        iou_thresholds: IoU thresholds in percent (override the variant's).
        contours: ``"all"`` or ``"largest"`` (override the variant's).
        loc_iou: IoU threshold (percent) of GT-known / Top-1 / Top-5 Loc (default 50).
        loc_threshold: fixed CAM threshold for GT-known / Top-k Loc; default: the optimal one.
        method: ``"fast"`` (default) or ``"reference"`` (per-threshold cv2 loop).
        **overrides: :class:`BoxConvention` fields, e.g. ``cam_thresholds=np.arange(0, 1, .01)``.

    Example::

        acc = BoxAccumulator("wsoleval", variant="v2")
        for cam, boxes in data:
            acc.update(cam, boxes)
        acc.compute()["maxboxacc_v2"]
    """

    def __init__(self, preset: str | BoxConvention = "wsoleval", variant: str | None = "v2",
                 iou_thresholds: Sequence[float] | None = None, contours: str | None = None,
                 loc_iou: float = 50, loc_threshold: float | None = None, method: str = "fast",
                 **overrides: Any) -> None:
        self.conv = get_preset(preset, **overrides)
        if variant is not None and variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)} or None, got {variant!r}")
        spec = VARIANTS.get(variant, {}) if variant else {}
        self.variant = variant
        self.prefix = f"maxboxacc_{variant}" if variant else "maxboxacc"
        self.iou_thresholds = tuple(float(d) for d in (
            iou_thresholds if iou_thresholds is not None else spec.get("iou_thresholds", (50,))))
        if not self.iou_thresholds or any(not 0 <= d <= 100 for d in self.iou_thresholds):
            raise ValueError(f"iou_thresholds must be percentages in [0, 100], "
                             f"got {self.iou_thresholds}")
        self.contours = contours or spec.get("contours") or self.conv.contours
        if method not in ("fast", "reference"):
            raise ValueError(f"method must be 'fast' or 'reference', got {method!r}")
        self.method = method
        self.loc_iou = float(loc_iou)
        self.thresholds = self.conv.thresholds
        self.loc_index: int | None = None
        if loc_threshold is not None:
            hits = np.flatnonzero(np.isclose(self.thresholds, loc_threshold, rtol=0, atol=1e-12))
            if not len(hits):
                raise ValueError(f"loc_threshold {loc_threshold} is not on the CAM threshold grid")
            self.loc_index = int(hits[0])
        self.reset()

    def reset(self) -> None:
        """Forget all accumulated images."""
        nt = len(self.thresholds)
        deltas = sorted(set(self.iou_thresholds) | {self.loc_iou})
        self._correct = {d: np.zeros(nt, dtype=np.int64) for d in deltas}
        self._loc = np.zeros(nt, dtype=np.int64)     # box passes at loc_iou (topk compare)
        self._top1 = np.zeros(nt, dtype=np.int64)
        self._top5 = np.zeros(nt, dtype=np.int64)
        self.count = 0
        self.count_labelled = 0

    def update(self, cam: np.ndarray, gt_boxes, pred_top5: Sequence[int] | None = None,
               gt_label: int | None = None) -> np.ndarray:
        """Add one image.

        Args:
            cam: ``(H, W)`` CAM of the ground-truth class, float in [0, 1].
            gt_boxes: ``(n, 4)`` GT boxes ``x0, y0, x1, y1`` in the CAM's pixel frame; the best
                IoU over them counts.
            pred_top5: predicted class indices, best first (at least 1; 5 for Top-5 Loc).
            gt_label: the ground-truth class index (needed with ``pred_top5``).

        Returns:
            The image's best IoU at every CAM threshold.
        """
        if (pred_top5 is None) != (gt_label is None):
            raise ValueError("pass both pred_top5 and gt_label, or neither")
        iou = best_iou_per_threshold(cam, gt_boxes, self.conv, self.contours, self.method)
        for d, c in self._correct.items():
            c += _passes(iou, d / 100.0, self.conv.iou_compare)
        if pred_top5 is not None:
            top = [int(x) for x in np.asarray(pred_top5).ravel()]
            if not top:
                raise ValueError("pred_top5 must hold at least one class index")
            loc = _passes(iou, self.loc_iou / 100.0, self.conv.topk_iou_compare)
            self._loc += loc
            if top[0] == int(gt_label):
                self._top1 += loc
            if int(gt_label) in top[:5]:
                self._top5 += loc
            self.count_labelled += 1
        self.count += 1
        return iou

    def merge(self, other: "BoxAccumulator") -> None:
        """Add the counts of another accumulator with the same settings (e.g. another rank)."""
        if (other.conv != self.conv or other.iou_thresholds != self.iou_thresholds
                or other.contours != self.contours or other.loc_iou != self.loc_iou):
            raise ValueError("cannot merge BoxAccumulators with different settings")
        for d in self._correct:
            self._correct[d] += other._correct[d]
        self._loc += other._loc
        self._top1 += other._top1
        self._top5 += other._top5
        self.count += other.count
        self.count_labelled += other.count_labelled

    def curves(self) -> dict[float, np.ndarray]:
        """Box accuracy (percent) at every CAM threshold, per IoU threshold."""
        if self.count == 0:
            raise ValueError("no image was added; call update() first")
        return {d: c * 100.0 / self.count for d, c in self._correct.items()}

    def compute(self) -> dict[str, float]:
        """The metrics, in percent.

        Keys: ``<prefix>`` (mean over IoU thresholds), ``<prefix>@<d>`` and
        ``best_threshold@<d>`` per IoU threshold, ``gt_known_loc``, ``loc_threshold``,
        ``num_images``; with labels also ``top1_loc``, ``top5_loc``. ``<prefix>`` is
        ``maxboxacc_v1``, ``maxboxacc_v2`` or ``maxboxacc``.
        """
        curves = self.curves()
        out: dict[str, float] = {}
        vals = []
        for d in self.iou_thresholds:
            c = curves[d]
            i = int(np.argmax(c))  # first best threshold, like np.argmax over the curve
            out[f"{self.prefix}@{d:g}"] = float(c[i])
            out[f"best_threshold@{d:g}"] = float(self.thresholds[i])
            vals.append(float(c[i]))
        out[self.prefix] = float(np.mean(vals))
        gk = curves[self.loc_iou]
        li = self.loc_index if self.loc_index is not None else int(np.argmax(gk))
        out["gt_known_loc"] = float(gk[li])
        out["loc_threshold"] = float(self.thresholds[li])
        if self.count_labelled:
            out["top1_loc"] = float(self._top1[li] * 100.0 / self.count_labelled)
            out["top5_loc"] = float(self._top5[li] * 100.0 / self.count_labelled)
        out["num_images"] = float(self.count)
        return out
