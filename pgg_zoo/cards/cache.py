"""Where downloaded weights live, and the environment switches that steer downloads.

Environment variables (read at call time, never at import, so tests and users can change them):

* ``PGG_ZOO_HOME``: root of pgg_zoo's files (default ``~/.cache/pgg_zoo``);
* ``PGG_ZOO_CACHE``: weight cache folder (default ``$PGG_ZOO_HOME/weights``);
* ``PGG_ZOO_OFFLINE=1``: never touch the network; a missing file is a clear error;
* ``PGG_ZOO_MIRROR=prefix``: fetch ``http(s)://host/path`` from ``prefix/host/path`` instead.
"""
from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "PGG_ZOO_HOME"
CACHE_ENV = "PGG_ZOO_CACHE"
OFFLINE_ENV = "PGG_ZOO_OFFLINE"
MIRROR_ENV = "PGG_ZOO_MIRROR"

#: Sub-folder of the cache holding the inter-process lock files (filelock leaves them behind;
#: keeping them apart keeps the card folders holding nothing but verified weights).
LOCK_DIR = ".locks"
#: Sub-folder of the cache holding, per cached file, the sha256 last verified and the file's
#: (size, mtime, ctime, inode) at that time, so that loading re-hashes only a file that changed.
HASH_DIR = ".hashes"


def pgg_zoo_home() -> Path:
    """``$PGG_ZOO_HOME`` or ``~/.cache/pgg_zoo`` (honouring ``XDG_CACHE_HOME``)."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "pgg_zoo"


def weights_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The weight cache: ``cache_dir`` if given, else ``$PGG_ZOO_CACHE``, else ``$PGG_ZOO_HOME/weights``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return pgg_zoo_home() / "weights"


def is_offline(offline: bool | None = None) -> bool:
    """``offline`` if given, else whether ``PGG_ZOO_OFFLINE`` is set to a true value."""
    if offline is not None:
        return bool(offline)
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def mirror_prefix(mirror: str | None = None) -> str | None:
    """``mirror`` if given, else ``$PGG_ZOO_MIRROR`` (``None`` or empty: no mirror)."""
    m = mirror if mirror is not None else os.environ.get(MIRROR_ENV, "")
    return m.strip() or None


def apply_mirror(url: str, mirror: str | None) -> str:
    """Rewrite an ``http(s)`` URL to ``mirror/host/path``; other URLs are returned unchanged.

    Keeping the host in the mirrored path means one mirror can serve files from several
    upstream hosts without name clashes (``download.pytorch.org/models/...``,
    ``dl.fbaipublicfiles.com/pytorchvideo/...``). A mirror without a scheme is a local folder.
    """
    from urllib.parse import urlsplit

    if not mirror:
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return url
    if "://" not in mirror:
        mirror = Path(mirror).expanduser().resolve().as_uri()
    rest = parts.netloc + parts.path + (f"?{parts.query}" if parts.query else "")
    return mirror.rstrip("/") + "/" + rest


def cached_weights_path(card_name: str, filename: str, sha256: str | None, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the weights of a card are cached: ``<cache>/<card>/<sha256[:16]|unverified>/<file>``.

    The hash is part of the path so that a card whose weights change (new sha256) never picks
    up the old file, and so that a verified file and an unverified one never share a name.
    """
    return weights_cache_dir(cache_dir) / card_name / (sha256[:16] if sha256 else "unverified") / filename


def _cache_key(dest: Path, root: Path) -> str:
    try:
        return "__".join(dest.relative_to(root).parts)
    except ValueError:
        return dest.name


def lock_file_path(dest: Path, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The lock file guarding downloads to ``dest`` (a path inside the cache)."""
    root = weights_cache_dir(cache_dir)
    return root / LOCK_DIR / f"{_cache_key(dest, root)}.lock"


def hash_record_path(dest: Path, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The record of the sha256 last verified for ``dest`` (a path inside the cache)."""
    root = weights_cache_dir(cache_dir)
    return root / HASH_DIR / f"{_cache_key(dest, root)}.json"
