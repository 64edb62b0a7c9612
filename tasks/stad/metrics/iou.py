"""Box IoU and spatio-temporal tube IoU with explicit pixel / frame conventions: the shared
:mod:`pgg_zoo.vision.boxes` and :mod:`pgg_zoo.video.tubes` functions, re-exported.

``plus_one=True`` is the ACT/MOC (and old PASCAL devkit) convention: coordinates are inclusive
pixel indices, so a box ``[x1, x2]`` spans ``x2 - x1 + 1`` pixels. ``plus_one=False`` treats
coordinates as continuous (mmaction2's MultiSports port, COCO).
"""
from __future__ import annotations

from pgg_zoo.video.tubes import tube_iou  # noqa: F401  (part of this module's API)
from pgg_zoo.vision.boxes import box_area, box_iou, paired_box_iou  # noqa: F401

__all__ = ["box_area", "box_iou", "paired_box_iou", "tube_iou"]
