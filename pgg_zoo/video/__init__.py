"""Task-independent video pieces: action tubes (the UCF101-24/JHMDB tube annotation format and
tube geometry), shared by the video task plugins."""
from .tubes import (REQUIRED_KEYS, TubeAnnotations, load_tube_annotations, save_tube_annotations,
                    tube_box_at, tube_iou, tube_nms, validate_tube_annotations)

__all__ = ["REQUIRED_KEYS", "TubeAnnotations", "load_tube_annotations", "save_tube_annotations",
           "tube_box_at", "tube_iou", "tube_nms", "validate_tube_annotations"]
