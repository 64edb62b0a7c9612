"""The WSOL task's backbones: the shared image backbones of :mod:`pgg_zoo.vision.backbones`,
registered for ``wsol``."""
from __future__ import annotations


def register_backbones() -> None:
    """Register the image backbones for ``wsol`` (called by the plugin entry point)."""
    from pgg_zoo.vision.backbones import register_image_backbones

    register_image_backbones("wsol")
