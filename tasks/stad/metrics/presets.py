"""Named evaluation protocols for frame-mAP and video-mAP.

The reference implementations disagree (docs/stad_data_metrics.md, "Protocol presets"); every
metric name carries its protocol, e.g. ``frame_map@0.5[act]``. A :class:`Protocol` pins every choice:

======================  ===============  ====================  ========================
field                   ``act``          ``voc``               ``mmaction2``
======================  ===============  ====================  ========================
box IoU                 +1 pixel         continuous            continuous
temporal IoU            frames (+1)      frames (+1)           length (no +1)
AP                      trapezoid,       VOC all-point         VOC all-point
                        starts (1, 0)
matching                best among       best among all GT;    same as ``voc``
                        unmatched GT     if taken -> FP
frames evaluated        all (FP on       all                   all
                        frames w/o GT)
tube NMS before         3D NMS 0.3       none                  none
video-AP
order of equal scores   ACT's (NumPy     input order           input order
                        quicksort, f32)  (stable)              (stable)
class w/o GT and dets   AP 0, averaged   left out              left out
"0.5:0.95" thresholds   0.5 + 0.05 * i   rounded to 0.05       rounded to 0.05
                        (0.85000..01)
======================  ===============  ====================  ========================

``act`` follows MCG-NJU/MOC-Detector ``src/ACT.py`` + ``ACT_utils.py`` (inherited from
vkalogeiton's ACT). ``mmaction2`` is ``mmaction/evaluation/functional/multisports_utils.py``
without its hard-coded MultiSports class skips. ``voc`` is the mmaction2 port with frames
counted inclusively, which is what "temporal IoU" means for discrete frames. A YOWO-style
evaluation (only annotated frames count) is ``Protocol(..., eval_frames="annotated")``.

Edge cases where ACT's code decides the number (docs/stad_data_metrics.md, "ACT edge cases"):

* equal scores: ACT sorts with ``np.argsort`` (default, unstable quicksort) on float32 arrays;
  ``act`` reproduces that order with :mod:`.act_order` (NumPy's scalar introsort, so the same
  on every CPU). In 3-D NMS this keeps, of equal-score tubes, the one ACT keeps (the *last*).
  The other presets keep input order (stable sort).
* a class with neither ground truth nor detections: ACT's PR curve is its single start point
  (P=1, R=0), AP 0, and it is averaged in; ``act`` does the same. A class without ground truth
  but with detections makes ACT divide by zero; every preset leaves it out (AP ``nan``), as the
  other presets do with every class without ground truth.
* ``"0.5:0.95"``: ACT's thresholds are ``0.5 + 0.05 * i``, so the 8th is
  0.8500000000000001 and an IoU of exactly 0.85 fails it; ``act`` uses those floats, the other
  presets round to the step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Protocol:
    """Every convention of a frame-/video-mAP evaluation.

    Attributes:
        name: preset name used in metric names.
        box_plus_one: inclusive pixel coordinates in box IoU (ACT) or not.
        temporal_plus_one: count tube overlaps in frames (``end - start + 1``) or not.
        ap_mode: "trapezoid" (ACT ``pr_to_ap``) or "voc" (all-point interpolated).
        matching: "unmatched" (a detection takes the best-IoU GT among those still free, ACT)
            or "voc" (the best-IoU GT among all; if already taken the detection is an FP).
        eval_frames: "all" (detections on frames without GT of their class are FPs) or
            "annotated" (detections on frames of a video without any GT box are ignored).
        tube_nms: 3D NMS overlap applied per video and class before video-AP, or ``None``.
        tie_order: "stable" (equal scores keep input order; NMS keeps the first of equal
            tubes) or "act" (ACT's NumPy-quicksort order on float32 scores; NMS keeps the
            tube ACT keeps).
        empty_class_ap: AP of a class with neither ground truth nor detections, averaged into
            the mAP (ACT: 0.0), or ``None`` to leave such a class out.
        threshold_steps: how "lo:hi[:step]" ranges are built: "rounded" (each threshold
            rounded, 0.85) or "float" (``lo + step * i`` as ACT, 0.8500000000000001).
    """

    name: str
    box_plus_one: bool
    temporal_plus_one: bool
    ap_mode: str
    matching: str
    eval_frames: str = "all"
    tube_nms: Optional[float] = None
    tie_order: str = "stable"
    empty_class_ap: Optional[float] = None
    threshold_steps: str = "rounded"

    def __post_init__(self) -> None:
        if self.ap_mode not in ("trapezoid", "voc"):
            raise ValueError(f"ap_mode must be 'trapezoid' or 'voc', got {self.ap_mode!r}")
        if self.matching not in ("unmatched", "voc"):
            raise ValueError(f"matching must be 'unmatched' or 'voc', got {self.matching!r}")
        if self.eval_frames not in ("all", "annotated"):
            raise ValueError(f"eval_frames must be 'all' or 'annotated', got {self.eval_frames!r}")
        if self.tie_order not in ("stable", "act"):
            raise ValueError(f"tie_order must be 'stable' or 'act', got {self.tie_order!r}")
        if self.threshold_steps not in ("rounded", "float"):
            raise ValueError("threshold_steps must be 'rounded' or 'float', got "
                             f"{self.threshold_steps!r}")


PROTOCOLS: dict[str, Protocol] = {
    "act": Protocol("act", box_plus_one=True, temporal_plus_one=True, ap_mode="trapezoid",
                    matching="unmatched", eval_frames="all", tube_nms=0.3, tie_order="act",
                    empty_class_ap=0.0, threshold_steps="float"),
    "voc": Protocol("voc", box_plus_one=False, temporal_plus_one=True, ap_mode="voc",
                    matching="voc", eval_frames="all", tube_nms=None),
    "mmaction2": Protocol("mmaction2", box_plus_one=False, temporal_plus_one=False,
                          ap_mode="voc", matching="voc", eval_frames="all", tube_nms=None),
}

#: IoU thresholds of "0.5:0.95" rounded to the step: 0.5, 0.55, ..., 0.95 (``voc``,
#: ``mmaction2``). ACT's (``act``) are ``0.5 + 0.05 * i``: :data:`THRESHOLDS_050_095_ACT`.
THRESHOLDS_050_095: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
#: ACT's ``videoAP_050_095`` thresholds, ``0.5 + 0.05 * i`` unrounded (0.8500000000000001).
THRESHOLDS_050_095_ACT: tuple[float, ...] = tuple(0.5 + 0.05 * i for i in range(10))


def get_protocol(protocol: "str | Protocol") -> Protocol:
    """A :class:`Protocol` from a preset name or itself."""
    if isinstance(protocol, Protocol):
        return protocol
    try:
        return PROTOCOLS[protocol]
    except KeyError:
        raise ValueError(f"unknown STAD protocol {protocol!r}; presets: {sorted(PROTOCOLS)}") \
            from None


def parse_thresholds(spec: "float | str | tuple[float, ...]",
                     steps: str = "rounded") -> tuple[float, ...]:
    """``0.5`` -> (0.5,); ``"0.5:0.95"`` -> 0.5..0.95 step 0.05; ``"0.1:0.9:0.1"`` explicit.

    Args:
        steps: "rounded" (each threshold rounded to 6 decimals: 0.85) or "float" (``lo +
            step * i`` unrounded, ACT's ``0.5 + 0.05 * i``: 0.8500000000000001); a
            :class:`Protocol`'s ``threshold_steps``.
    """
    if steps not in ("rounded", "float"):
        raise ValueError(f"steps must be 'rounded' or 'float', got {steps!r}")
    if isinstance(spec, (int, float)):
        return (float(spec),)
    if isinstance(spec, tuple):
        return tuple(float(x) for x in spec)
    parts = [float(x) for x in str(spec).split(":")]
    if len(parts) == 1:
        return (parts[0],)
    lo, hi = parts[0], parts[1]
    step = parts[2] if len(parts) == 3 else 0.05
    n = int(round((hi - lo) / step)) + 1
    if steps == "float":
        return tuple(lo + step * i for i in range(n))
    return tuple(round(lo + step * i, 6) for i in range(n))
