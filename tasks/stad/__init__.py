"""Spatio-temporal action detection (STAD) task plugin.

Subpackages: ``data`` (video decoding, UCF101-24/JHMDB pickle and AVA CSV readers, the embedded
``stad-sprites-v1`` benchmark) and ``metrics`` (frame-mAP, video-mAP, tube linking, named
protocol presets).
"""


def register() -> None:
    """Entry point of the ``pgg_zoo.plugins`` group (filled in by the task lead)."""
    pass
