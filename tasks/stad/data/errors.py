"""Errors raised by the STAD data readers.

Both are :class:`ValueError` subclasses so that generic ``except ValueError`` code keeps working,
and both carry the offending file in ``.path`` so a loader policy can report it.
"""
from __future__ import annotations

import os
from typing import Optional


class STADDataError(ValueError):
    """Base class: something on disk is not what the reader expects.

    Attributes:
        path: the file (or folder) that is wrong, as a string, or ``None``.
    """

    def __init__(self, message: str, path: Optional[os.PathLike | str] = None) -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)


class VideoDecodeError(STADDataError):
    """A video file or frame folder cannot be decoded (corrupt, truncated, empty, missing).

    The message names the file and quotes the decoder's own message.
    """


class DatasetFormatError(STADDataError):
    """An annotation file (pickle, CSV, pbtxt) is malformed; the message names file and key/line."""
