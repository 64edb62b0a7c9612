"""Named CAM-to-box conventions (protocols) for WSOL box metrics.

A :class:`BoxConvention` holds every choice that shifts WSOL numbers: how the CAM is quantized,
how a CAM threshold becomes a pixel threshold, the comparison, how a contour becomes a box, the
IoU convention, and the threshold grid. Presets name the conventions of reference code bases so
that a metric name such as ``maxboxacc_v2[wsoleval]`` pins every one of them.

Verified against the reference sources (see docs/wsol_metrics.md for the line-level notes):

* ``wsoleval`` -- clovaai/wsolevaluation ``evaluation.py`` (``compute_bboxes_from_scoremaps``,
  ``calculate_multiple_iou``, ``BoxEvaluator``, ``resize_bbox``), ``config.py``
  (``--cam_curve_interval`` default ``.001``) and ``inference.py`` (the CAM cast to float64,
  resized with ``cv2.INTER_CUBIC``, then normalized): the whole evaluation path.
* ``wsoleval_bilinear`` -- the same box conventions on pgg_zoo's first evaluation path (torch
  bilinear upsampling, float boxes); not wsolevaluation's numbers.
* ``tscam`` -- vasgaowei/TS-CAM ``lib/cams_deit.py`` (``get_bboxes``, ``cal_iou``,
  ``cls_loc_err``): fixed CAM threshold, ``THRESH_TOZERO``, unclipped ``x + w`` box end,
  ``[0, 0, 1, 1]`` when no contour, Top-1/Top-5 need ``IoU > 0.5`` (strict), GT-known ``>= 0.5``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["BoxConvention", "PRESETS", "get_preset", "wsoleval_thresholds"]

_QUANTIZE = (None, "uint8")
_COMPARE = (">", ">=")
_THRESH_TYPE = ("binary", "tozero")
_BOX_END = ("exclusive_clipped", "exclusive", "inclusive")
_IOU_CMP = (">=", ">")
_CAM_RESIZE = ("cv2_bicubic", "torch_bilinear")


def wsoleval_thresholds(interval: float = 0.001) -> np.ndarray:
    """The CAM threshold grid of wsolevaluation: ``np.arange(0, 1, interval)``.

    ``config.py`` and ``evaluate_wsol`` default to ``interval=0.001`` (1000 thresholds); the
    standalone ``evaluation.py`` command line uses ``0.01``.
    """
    if not 0 < interval <= 1:
        raise ValueError(f"cam_curve_interval must be in (0, 1], got {interval}")
    return np.arange(0, 1, interval)


@dataclass(frozen=True)
class BoxConvention:
    """Every convention of the CAM-to-box pipeline, as explicit fields.

    Attributes:
        quantize: ``"uint8"``: the CAM is scaled as ``(cam * 255).astype(np.uint8)`` (truncation)
            before thresholding, as wsolevaluation and TS-CAM do; ``None``: threshold the float
            CAM directly.
        relative_to_max: the pixel threshold is ``t * max(map)`` (wsolevaluation, TS-CAM) rather
            than ``t`` (on the uint8 scale: ``t * 255``). With ``quantize="uint8"`` the threshold
            is then truncated to an int, ``int(t * max(q))``, as both references do.
        compare: ``">"`` (cv2 ``THRESH_BINARY``/``THRESH_TOZERO`` keep ``src > thresh``) or
            ``">="``.
        threshold_type: ``"binary"`` or ``"tozero"``. Recorded for fidelity; both give the same
            foreground (``src > thresh`` implies ``src > 0`` since ``thresh >= 0``), hence the
            same contours and boxes. Tested.
        contours: ``"largest"`` (max ``cv2.contourArea``, MaxBoxAccV1, TS-CAM) or ``"all"`` (best
            IoU over the boxes of all ``RETR_TREE`` contours, holes included; MaxBoxAccV2).
        box_end: how ``cv2.boundingRect``'s ``(x, y, w, h)`` becomes ``(x0, y0, x1, y1)``:
            ``"exclusive_clipped"`` = ``(x, y, min(x+w, W-1), min(y+h, H-1))`` (wsolevaluation),
            ``"exclusive"`` = ``(x, y, x+w, y+h)`` (TS-CAM), ``"inclusive"`` =
            ``(x, y, x+w-1, y+h-1)``.
        empty_box: the box used when the thresholded map has no contour.
        iou_plus_one: widths are ``x1 - x0 + 1`` (both references) instead of ``x1 - x0``.
        iou_compare: an image's box is correct at IoU threshold delta when ``iou >= delta``
            (wsolevaluation; TS-CAM GT-known) or ``iou > delta``. Used by MaxBoxAcc/GT-known.
        topk_iou_compare: the same, for Top-1/Top-5 Loc (TS-CAM: ``iou > 0.5``, strict).
        cam_thresholds: the default CAM threshold grid.
        cam_resize: how the evaluation path (``WSOLMetric``) brings the model's CAM to the
            evaluation frame: ``"cv2_bicubic"`` = the CAM at the feature resolution, cast to
            float64, ``cv2.resize(..., INTER_CUBIC)`` (wsolevaluation ``inference.py``);
            ``"torch_bilinear"`` = the map the model upsampled bilinearly in torch (float32,
            ``align_corners=False``). Not used by :class:`~.boxacc.BoxAccumulator`, which
            receives maps already in the frame.
        integer_boxes: the evaluation path truncates the ground-truth boxes to int after
            scaling them from the original image to the evaluation frame (``int(x * 224 / W)``,
            wsolevaluation ``resize_bbox``); otherwise they stay floats.
    """

    quantize: str | None = "uint8"
    relative_to_max: bool = True
    compare: str = ">"
    threshold_type: str = "binary"
    contours: str = "all"
    box_end: str = "exclusive_clipped"
    empty_box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    iou_plus_one: bool = True
    iou_compare: str = ">="
    topk_iou_compare: str = ">="
    cam_thresholds: tuple[float, ...] = field(
        default_factory=lambda: tuple(wsoleval_thresholds(0.001).tolist())
    )
    cam_resize: str = "cv2_bicubic"
    integer_boxes: bool = True

    def __post_init__(self) -> None:
        for name, allowed in (
            ("quantize", _QUANTIZE),
            ("compare", _COMPARE),
            ("threshold_type", _THRESH_TYPE),
            ("contours", ("largest", "all")),
            ("box_end", _BOX_END),
            ("iou_compare", _IOU_CMP),
            ("topk_iou_compare", _IOU_CMP),
            ("cam_resize", _CAM_RESIZE),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"BoxConvention.{name} must be one of {allowed}, "
                                 f"got {getattr(self, name)!r}")
        if len(self.empty_box) != 4:
            raise ValueError(f"empty_box must have 4 numbers, got {self.empty_box!r}")
        if len(self.cam_thresholds) == 0:
            raise ValueError("cam_thresholds must not be empty")

    def with_(self, **changes: Any) -> "BoxConvention":
        """A copy with some fields changed (thresholds may be any 1-D array-like)."""
        if "cam_thresholds" in changes:
            changes["cam_thresholds"] = tuple(
                np.asarray(changes["cam_thresholds"], dtype=np.float64).ravel().tolist())
        return replace(self, **changes)

    @property
    def thresholds(self) -> np.ndarray:
        """The CAM threshold grid as a float64 array."""
        return np.asarray(self.cam_thresholds, dtype=np.float64)


PRESETS: dict[str, BoxConvention] = {
    # clovaai/wsolevaluation evaluation.py compute_bboxes_from_scoremaps + calculate_multiple_iou,
    # and its evaluation path: inference.py (float64 CAM, cv2 bicubic) + resize_bbox (int boxes)
    "wsoleval": BoxConvention(),
    # wsolevaluation's box conventions on pgg_zoo 0.1.0's first evaluation path: maps upsampled
    # bilinearly in torch, ground-truth boxes kept as floats. Kept to compare with runs scored
    # that way; its numbers are not wsolevaluation's (a reviewer's 150-image simulation gave
    # MaxBoxAccV1 57.3 here vs 54.0 on wsolevaluation's path, issue 13).
    "wsoleval_bilinear": BoxConvention(cam_resize="torch_bilinear", integer_boxes=False),
    # vasgaowei/TS-CAM lib/cams_deit.py get_bboxes + cal_iou; CAM_THR is a config value, the
    # grid holds one threshold (0.2 is get_bboxes' default; override per dataset config)
    "tscam": BoxConvention(
        threshold_type="tozero",
        contours="largest",
        box_end="exclusive",
        empty_box=(0.0, 0.0, 1.0, 1.0),
        topk_iou_compare=">",
        cam_thresholds=(0.2,),
        # TS-CAM resizes with cv2 INTER_LINEAR in float32 (close to torch's bilinear) and
        # truncates boxes as int(x / W * S) clipped to S - 1: only the CAM-to-box conventions
        # above are reproduced exactly, not this part of its path.
        cam_resize="torch_bilinear",
        integer_boxes=False,
    ),
}


def get_preset(preset: str | BoxConvention, **overrides: Any) -> BoxConvention:
    """Look up a preset by name (or pass a :class:`BoxConvention` through), with overrides."""
    if isinstance(preset, BoxConvention):
        conv = preset
    else:
        try:
            conv = PRESETS[preset]
        except KeyError:
            raise ValueError(f"unknown WSOL box preset {preset!r}; "
                             f"available: {sorted(PRESETS)}") from None
    return conv.with_(**overrides) if overrides else conv
