"""STAD models: 3-D backbones, the twice-differentiable RoI head and the action detector."""
from .backbones import (
    BACKBONE_ALIASES,
    BACKBONE_BUILDERS,
    SlowBackbone,
    SlowFastBackbone,
    Tiny3DBackbone,
    VideoBackbone,
    build_backbone,
    register_backbones,
)
from .detector import ActionDetector
from .head import RoIActionHead

__all__ = [
    "ActionDetector",
    "RoIActionHead",
    "VideoBackbone",
    "SlowFastBackbone",
    "SlowBackbone",
    "Tiny3DBackbone",
    "BACKBONE_ALIASES",
    "BACKBONE_BUILDERS",
    "build_backbone",
    "register_backbones",
]
