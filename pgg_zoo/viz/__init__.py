"""Figures: heat-map overlays, boxes, comparison grids, training curves and metric tables."""
from .curves import curves_figure
from .overlay import denormalize, draw_boxes, heat_overlay, save_figure
from .tables import format_number, format_table

__all__ = ["denormalize", "draw_boxes", "heat_overlay", "save_figure", "format_table",
           "format_number", "curves_figure"]
