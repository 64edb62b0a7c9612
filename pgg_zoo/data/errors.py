"""Errors raised by dataset readers (the image readers of :mod:`pgg_zoo.vision` and the task
plugins built on them).

Every error names the file it is about and, for a bad line, the 1-based line number, so that a
user can open the file at that line and see what is wrong without reading the reader's code.
"""
from __future__ import annotations

import codecs
import contextlib
from os import PathLike
from pathlib import Path
from typing import Callable, Iterator


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


# -- text encoding ----------------------------------------------------------------------------
def utf8_problem(path: str | PathLike[str]) -> tuple[int, str] | None:
    """``(line, what)`` for the first bytes of ``path`` that are not UTF-8, or ``None``.

    ``line`` is 1-based; ``what`` names the byte and its column and says how to fix the file.
    Reads the whole file: meant for the error path, after a reader's decoding failed (a
    decoder's own ``UnicodeDecodeError`` gives an offset within its current chunk only).
    """
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8")  # a UTF-8 byte-order mark decodes, so offsets stay the file's
    except UnicodeDecodeError as exc:
        start = exc.start
        line_start = data.rfind(b"\n", 0, start) + 1
        line = data.count(b"\n", 0, start) + 1
        column = len(data[line_start:start].decode("utf-8")) + 1  # in characters, as editors count
        what = f"not UTF-8 text (byte 0x{data[start]:02x} in column {column})"
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            what += "; the file starts with a UTF-16 byte-order mark"
        return line, what + "; save the file as UTF-8"
    return None


@contextlib.contextmanager
def utf8_text(
    path: str | PathLike[str],
    error: Callable[[Path, str, int], Exception] | None = None,
) -> Iterator[None]:
    """Report a ``UnicodeDecodeError`` raised while the block reads ``path`` in one line.

    Wrap the whole reading loop (a text file decodes lazily, chunk by chunk)::

        with utf8_text(path), open(path, encoding="utf-8") as f:
            for line in f: ...

    Args:
        error: builds the exception from ``(path, what, line)`` for readers with their own
            error types; default :class:`DatasetFormatError`
            (``"<file>, line <n>: not UTF-8 text (byte 0xff in column 1); ..."``).

    A ``UnicodeDecodeError`` that does not come from ``path`` (the file decodes) propagates
    unchanged.
    """
    try:
        yield
    except UnicodeDecodeError:
        try:
            problem = utf8_problem(path)
        except OSError:
            problem = None
        if problem is None:
            raise
        line, what = problem
        raise (error or DatasetFormatError)(Path(path), what, line) from None
