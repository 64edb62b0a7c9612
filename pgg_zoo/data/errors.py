"""Errors raised by dataset readers (the image readers of :mod:`pgg_zoo.vision` and the task
plugins built on them).

Every error names the file it is about and, for a bad line, the 1-based line number, so that a
user can open the file at that line and see what is wrong without reading the reader's code.
"""
from __future__ import annotations

from os import PathLike
from pathlib import Path


class DatasetFormatError(ValueError):
    """A dataset file is malformed or inconsistent with the other files.

    Args:
        file: the file the problem is in.
        what: what is wrong, in words.
        line: 1-based line number in ``file``, when the problem is one line.

    The message reads ``"<file>, line <n>: <what>"`` (or ``"<file>: <what>"``); the parts are
    also kept as attributes ``file``, ``line`` and ``what`` for programs.
    """

    def __init__(self, file: str | PathLike[str], what: str, line: int | None = None) -> None:
        self.file = Path(file)
        self.line = line
        self.what = what
        where = f"{self.file}, line {line}" if line is not None else f"{self.file}"
        super().__init__(f"{where}: {what}")

    def __reduce__(self):  # keep the three fields across pickling (DataLoader workers)
        return (type(self), (self.file, self.what, self.line))


class MissingFileError(DatasetFormatError, FileNotFoundError):
    """A file the dataset needs (metadata file, image, mask) does not exist.

    It is both a :class:`DatasetFormatError` (so one ``except`` catches every dataset problem)
    and a :class:`FileNotFoundError` (so generic file handling still works). ``file`` is the
    missing path; ``referenced_from`` (with ``line``), when set, is the metadata line that
    names it.
    """

    def __init__(
        self,
        file: str | PathLike[str],
        what: str = "file not found",
        line: int | None = None,
        referenced_from: str | PathLike[str] | None = None,
    ) -> None:
        self.referenced_from = Path(referenced_from) if referenced_from is not None else None
        self.ref_line = line
        if self.referenced_from is not None:
            loc = f"{self.referenced_from}, line {line}" if line is not None else str(
                self.referenced_from)
            what = f"{what} (referenced from {loc})"
            line = None  # the line belongs to the referencing file, not to the missing one
        DatasetFormatError.__init__(self, file, what, line)
        self.filename = str(self.file)  # FileNotFoundError's attribute

    def __str__(self) -> str:  # OSError would format its own message; keep ours
        return str(self.args[0])

    def __reduce__(self):
        return (type(self), (self.file, self.what, None, None))
