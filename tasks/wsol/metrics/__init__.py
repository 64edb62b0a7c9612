"""WSOL localization metrics: MaxBoxAccV1/V2, GT-known / Top-1 / Top-5 Loc, PxAP.

Pure numpy + OpenCV. Every metric runs on one CAM-to-box core (:mod:`.core`) whose conventions
are explicit (:class:`~.presets.BoxConvention`) and named by presets (``wsoleval``, ``tscam``).
See docs/wsol_metrics.md.
"""
from __future__ import annotations

from typing import Any, Callable

from .boxacc import VARIANTS, BoxAccumulator
from .core import (
    best_iou_per_threshold,
    boxes_at_thresholds,
    check_boxes,
    check_scoremap,
    normalize_scoremap,
    resize_boxes,
    resize_scoremap,
    threshold_levels,
)
from .presets import PRESETS, BoxConvention, get_preset, wsoleval_thresholds
from .pxap import PxAPAccumulator

__all__ = [
    "BoxAccumulator", "PxAPAccumulator", "BoxConvention", "PRESETS", "VARIANTS", "get_preset",
    "wsoleval_thresholds", "best_iou_per_threshold", "boxes_at_thresholds",
    "check_boxes", "check_scoremap", "normalize_scoremap", "resize_boxes", "resize_scoremap",
    "threshold_levels", "metric_factories", "register_metrics",
]

# metric name -> (accumulator kwargs, key of compute() that is "the" value of the metric)
_BOX_METRICS: dict[str, tuple[dict[str, Any], str]] = {
    "maxboxacc_v2": ({"variant": "v2"}, "maxboxacc_v2"),
    "maxboxacc_v1": ({"variant": "v1"}, "maxboxacc_v1"),
    # GT-known / Top-k use the largest contour (the CAM -> single box protocol of CAM/TS-CAM)
    "gt_known_loc": ({"variant": "v1"}, "gt_known_loc"),
    "top1_loc": ({"variant": "v1"}, "top1_loc"),
    "top5_loc": ({"variant": "v1"}, "top5_loc"),
}
_PROTOCOLS = {
    "wsoleval": ("maxboxacc_v2", "maxboxacc_v1", "gt_known_loc", "top1_loc", "top5_loc", "pxap"),
    "tscam": ("gt_known_loc", "top1_loc", "top5_loc"),
}


def _box_factory(name: str, preset: str, kwargs: dict[str, Any], key: str) -> Callable:
    def factory(**overrides: Any) -> BoxAccumulator:
        acc = BoxAccumulator(preset, **{**kwargs, **overrides})
        acc.primary_key = key
        return acc

    factory.__name__ = f"{name}_{preset}"
    factory.__qualname__ = factory.__name__
    factory.__doc__ = (f"A BoxAccumulator for ``{name}[{preset}]``; its value is "
                       f"``compute()[{key!r}]``. Keyword arguments override the settings.")
    return factory


def _pxap_factory(**overrides: Any) -> PxAPAccumulator:
    """A PxAPAccumulator for ``pxap[wsoleval]``; its value is ``compute()['pxap']``."""
    acc = PxAPAccumulator(**overrides)
    acc.primary_key = "pxap"
    return acc


def metric_factories() -> dict[str, Callable]:
    """Protocol-named metric factories, e.g. ``"maxboxacc_v2[wsoleval]"`` -> factory.

    Each factory returns an accumulator with ``update``/``compute`` and a ``primary_key``
    attribute naming the entry of ``compute()`` that is the metric's value.
    """
    out: dict[str, Callable] = {}
    for preset, names in _PROTOCOLS.items():
        for name in names:
            if name == "pxap":
                out[f"pxap[{preset}]"] = _pxap_factory
            else:
                kwargs, key = _BOX_METRICS[name]
                out[f"{name}[{preset}]"] = _box_factory(name, preset, kwargs, key)
    return out


def register_metrics(replace: bool = False) -> None:
    """Register the protocol-named WSOL metrics into ``pgg_zoo.registry.METRICS`` (task="wsol").

    Not called at import time; the WSOL plugin's registration calls it.
    """
    from pgg_zoo.registry import METRICS

    for name, factory in metric_factories().items():
        protocol = name[name.index("[") + 1:-1]
        METRICS.add(name, factory, replace=replace, task="wsol", protocol=protocol)
