"""Files written whole or not at all: through ``<name>.tmp`` and an atomic rename."""
from __future__ import annotations

import os
from pathlib import Path


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through ``<path>.tmp`` and ``os.replace``: a reader
    never sees half a file, and a crash mid-write leaves the previous file (and at most a stale
    ``.tmp``, overwritten next time). Returns the path."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)
    return path
