"""Figures: heat-map overlays, boxes, comparison grids and metric tables."""
from .overlay import denormalize, draw_boxes, heat_overlay, save_figure
from .tables import format_table

__all__ = ["denormalize", "draw_boxes", "heat_overlay", "save_figure", "format_table"]
