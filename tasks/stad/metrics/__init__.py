"""STAD metrics: frame-mAP, video-mAP, tube linking and named protocols (box and tube IoU:
:mod:`pgg_zoo.vision.boxes`, :mod:`pgg_zoo.video.tubes`).

Metric names carry the protocol: ``frame_map@0.5[act]``, ``video_map@0.2[act]``,
``video_map@0.5:0.95[voc]``; AVA's key-frame mAP is ``frame_map@0.5[ava]`` (:mod:`.ava`).
:func:`register_metrics` adds them to
``pgg_zoo.registry.METRICS`` (not called at import). All values are fractions in [0, 1].
"""
from __future__ import annotations

from typing import Any, Callable

from .act_order import act_descending_order, act_nms3dt, numpy_quicksort_argsort
from .ava import AVA_CAPACITY, AVA_PROTOCOL, ava_frame_map
from .ap import ap_trapezoid, ap_voc, average_precision, pr_curve
from .frame_map import MAPResult, class_ap, frame_map, match_detections, score_order
from .linking import link_frame_detections, link_video, soft_nms_linear, tubes_for_video_map
from .presets import (PROTOCOLS, THRESHOLDS_050_095, THRESHOLDS_050_095_ACT, Protocol,
                      get_protocol, parse_thresholds)
from .video_map import video_map

FRAME_THRESHOLDS = ("0.5",)
#: AVA's key-frame mAP (:func:`ava_frame_map`; the AVA challenge kit's protocol).
AVA_METRIC = "frame_map@0.5[ava]"
VIDEO_THRESHOLDS = ("0.2", "0.5", "0.5:0.95")


def metric_names() -> list[str]:
    """Every protocol-named metric: ``frame_map@0.5[p]`` and ``video_map@{0.2,0.5,0.5:0.95}[p]``."""
    names = []
    for p in PROTOCOLS:
        names += [f"frame_map@{t}[{p}]" for t in FRAME_THRESHOLDS]
        names += [f"video_map@{t}[{p}]" for t in VIDEO_THRESHOLDS]
    return names


def make_metric(name: str) -> Callable[..., MAPResult]:
    """The callable behind a metric name, e.g. ``make_metric("video_map@0.5:0.95[voc]")``.

    ``frame_map@...`` callables take ``(detections, gttubes, *, videos=None, labels=None)`` as
    :func:`frame_map`; ``video_map@...`` take ``(tubes, gttubes, *, videos=None, labels=None)``
    as :func:`video_map`. Both return :class:`MAPResult` (``float(result)`` is the mAP).
    """
    try:
        kind, rest = name.split("@", 1)
        th, proto = rest[:-1].split("[", 1)
        assert rest.endswith("]") and kind in ("frame_map", "video_map")
    except (ValueError, AssertionError):
        raise ValueError(f"bad STAD metric name {name!r}; expected e.g. 'frame_map@0.5[act]'") \
            from None
    protocol = get_protocol(proto)
    thresholds = parse_thresholds(th, protocol.threshold_steps)
    if kind == "frame_map":
        if len(thresholds) != 1:
            raise ValueError(f"{name}: frame_map takes one threshold")

        def metric(detections: Any, gttubes: Any, **kw: Any) -> MAPResult:
            return frame_map(detections, gttubes, iou_threshold=thresholds[0],
                             protocol=protocol, **kw)
    else:
        def metric(tubes: Any, gttubes: Any, **kw: Any) -> MAPResult:  # type: ignore[misc]
            return video_map(tubes, gttubes, iou_threshold=thresholds, protocol=protocol, **kw)

    metric.__name__ = metric.__qualname__ = name.replace("@", "_at_").replace(":", "_") \
        .replace("[", "__").replace("]", "").replace(".", "")
    metric.__doc__ = (f"{name}: {kind} at IoU {th} under the {protocol.name!r} protocol "
                      f"({protocol}).")
    return metric


def register_metrics(replace: bool = False) -> list[str]:
    """Add every protocol-named STAD metric to ``pgg_zoo.registry.METRICS`` (meta task="stad").

    Returns the names registered. Not called at import: the task plugin's ``register()`` does.
    """
    from pgg_zoo.registry import METRICS

    names = metric_names()
    for n in names:
        kind = n.split("@")[0]
        proto = n[n.index("[") + 1:-1]
        METRICS.add(n, make_metric(n), replace=replace, task="stad", kind=kind, protocol=proto,
                    threshold=n[n.index("@") + 1:n.index("[")], higher_is_better=True)
    METRICS.add(AVA_METRIC, ava_frame_map, replace=replace, task="stad", kind="frame_map",
                protocol="ava", threshold="0.5", higher_is_better=True)
    return names + [AVA_METRIC]


__all__ = [
    "AVA_CAPACITY", "AVA_METRIC", "AVA_PROTOCOL", "MAPResult", "Protocol", "PROTOCOLS", "THRESHOLDS_050_095", "THRESHOLDS_050_095_ACT",
    "act_descending_order", "act_nms3dt", "ap_trapezoid", "ap_voc", "ava_frame_map", "average_precision",
    "class_ap", "frame_map", "get_protocol", "link_frame_detections",
    "link_video", "make_metric", "match_detections", "metric_names", "numpy_quicksort_argsort",
    "parse_thresholds", "pr_curve", "register_metrics", "score_order",
    "soft_nms_linear", "tubes_for_video_map", "video_map",
]
