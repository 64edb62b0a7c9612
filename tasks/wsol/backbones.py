"""The WSOL task's backbones: the shared image backbones of :mod:`pgg_zoo.vision.backbones`,
registered for ``wsol`` (the names stay importable from here)."""
from __future__ import annotations

from pgg_zoo.vision.backbones import (  # noqa: F401  (re-exports)
    Features,
    build_backbone,
    timm_features,
    tiny_cam,
    vgg16_cam,
)


def register_backbones() -> None:
    """Register the image backbones for ``wsol`` (called by the plugin entry point)."""
    from pgg_zoo.vision.backbones import register_image_backbones

    register_image_backbones("wsol")
