"""Local weight URLs of model cards: where they point, and the rule that keeps them in place.

A card's ``weights.url`` is ``http(s)://`` (downloaded), ``file://`` or a path relative to the
card's folder (weights shipped next to the card). A local URL must name a file in or under the
card's folder: a card is data that may come from a plugin or a download, and ``../../x`` or
``file:///home/...`` in it would have the library read (and copy into its cache, and load) any
file the user can read.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

__all__ = ["is_local_url", "local_weights_path", "weights_url_problem"]


def is_local_url(url: str) -> bool:
    """Whether ``url`` names a local file (``file://`` or a plain path) rather than http(s)."""
    scheme = urlsplit(url).scheme.lower()
    # "C:\\w.pth" parses with scheme "c" on Windows
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")


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
    against), and one naming a file outside the card file's folder.
    """
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
