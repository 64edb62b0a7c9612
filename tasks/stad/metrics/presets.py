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
======================  ===============  ====================  ========================

``act`` follows MCG-NJU/MOC-Detector ``src/ACT.py`` + ``ACT_utils.py`` (inherited from
vkalogeiton's ACT). ``mmaction2`` is ``mmaction/evaluation/functional/multisports_utils.py``
without its hard-coded MultiSports class skips. ``voc`` is the mmaction2 port with frames
counted inclusively, which is what "temporal IoU" means for discrete frames. A YOWO-style
evaluation (only annotated frames count) is ``Protocol(..., eval_frames="annotated")``.

Ties in scores are broken by input order (stable sort); the references use NumPy's default
unstable ``argsort``, so on exact ties their numbers can differ from ours and from run to run.
Classes without ground truth in the evaluated videos are left out of the mean (AP ``nan``);
ACT divides by zero there.
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
    """

    name: str
    box_plus_one: bool
    temporal_plus_one: bool
    ap_mode: str
    matching: str
    eval_frames: str = "all"
    tube_nms: Optional[float] = None

    def __post_init__(self) -> None:
        if self.ap_mode not in ("trapezoid", "voc"):
            raise ValueError(f"ap_mode must be 'trapezoid' or 'voc', got {self.ap_mode!r}")
        if self.matching not in ("unmatched", "voc"):
            raise ValueError(f"matching must be 'unmatched' or 'voc', got {self.matching!r}")
        if self.eval_frames not in ("all", "annotated"):
            raise ValueError(f"eval_frames must be 'all' or 'annotated', got {self.eval_frames!r}")


PROTOCOLS: dict[str, Protocol] = {
    "act": Protocol("act", box_plus_one=True, temporal_plus_one=True, ap_mode="trapezoid",
                    matching="unmatched", eval_frames="all", tube_nms=0.3),
    "voc": Protocol("voc", box_plus_one=False, temporal_plus_one=True, ap_mode="voc",
                    matching="voc", eval_frames="all", tube_nms=None),
    "mmaction2": Protocol("mmaction2", box_plus_one=False, temporal_plus_one=False,
                          ap_mode="voc", matching="voc", eval_frames="all", tube_nms=None),
}

#: IoU thresholds of "0.5:0.95" (ACT's ``videoAP_050_095``): 0.5, 0.55, ..., 0.95.
THRESHOLDS_050_095: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


def get_protocol(protocol: "str | Protocol") -> Protocol:
    """A :class:`Protocol` from a preset name or itself."""
    if isinstance(protocol, Protocol):
        return protocol
    try:
        return PROTOCOLS[protocol]
    except KeyError:
        raise ValueError(f"unknown STAD protocol {protocol!r}; presets: {sorted(PROTOCOLS)}") \
            from None


def parse_thresholds(spec: "float | str | tuple[float, ...]") -> tuple[float, ...]:
    """``0.5`` -> (0.5,); ``"0.5:0.95"`` -> 0.5..0.95 step 0.05; ``"0.1:0.9:0.1"`` explicit."""
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
    return tuple(round(lo + step * i, 6) for i in range(n))
