"""Finding and reading cards: the built-in ones shipped as ``pgg_zoo_model_cards`` plus any
folders listed in ``PGG_ZOO_CARD_PATH``.

Cards are read from disk on every call (there are few, and reading fresh avoids a module-level
cache that tests and long-lived processes would have to invalidate).
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path

import yaml

from ..data.errors import utf8_text
from .schema import CardError, ModelCard

#: Extra card folders (``os.pathsep``-separated), searched after the built-in cards.
CARD_PATH_ENV = "PGG_ZOO_CARD_PATH"


def card_dirs() -> list[Path]:
    """Folders searched for ``*.yaml`` cards (recursively), in order."""
    dirs: list[Path] = []
    try:
        from importlib.resources import files

        root = Path(str(files("pgg_zoo_model_cards")))
        if root.is_dir():
            dirs.append(root)
    except ModuleNotFoundError:  # a build without the card package
        pass
    for part in os.environ.get(CARD_PATH_ENV, "").split(os.pathsep):
        if part.strip():
            dirs.append(Path(part).expanduser())
    return dirs


def card_files() -> list[Path]:
    """Every card file on the search path, sorted within each folder."""
    out: list[Path] = []
    for d in card_dirs():
        if d.is_dir():
            out.extend(sorted(p for p in d.rglob("*.yaml") if p.is_file()))
    return out


def read_card(path: str | os.PathLike[str]) -> ModelCard:
    """Parse and validate the card file at ``path``.

    Raises:
        CardError: the file is missing, is not YAML, or violates the schema (file named).
    """
    p = Path(path)
    try:
        with utf8_text(p, _card_error):
            text = p.read_text("utf-8")
    except OSError as exc:
        raise CardError(f"cannot read model card {p}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CardError(f"model card {p} is not valid YAML: {exc}") from None
    card = ModelCard.from_dict(data, source=p)
    # The folder a card lives in names its task; a mismatch means a misplaced file.
    if p.parent.name != card.task and p.parent.name in _task_folder_names(p):
        raise CardError(f"model card {p}: task {card.task!r} but the file is in folder {p.parent.name!r}")
    return card


def _card_error(path: Path, what: str, line: int) -> CardError:
    return CardError(f"model card {path}, line {line}: {what}")


def _task_folder_names(p: Path) -> set[str]:
    # Only folders directly under a card root are task folders.
    return {p.parent.name} if any(p.parent.parent == d for d in card_dirs()) else set()


class CardWarning(UserWarning):
    """A card file on the search path was skipped (it could not be read or validated)."""


def scan_cards() -> tuple[list[ModelCard], list[CardError]]:
    """Every valid card on the search path, and the error of each card file that is not.

    One broken file (a typo in a folder of ``PGG_ZOO_CARD_PATH``) must not hide every other
    card, so unreadable or invalid files are returned as errors (each naming its file) rather
    than raised. Duplicate names are still raised: which of the two is meant cannot be guessed.
    """
    seen: dict[str, ModelCard] = {}
    problems: list[CardError] = []
    for f in card_files():
        try:
            card = read_card(f)
        except CardError as exc:
            problems.append(exc)
            continue
        if card.name in seen:
            raise CardError(f"model card name {card.name!r} is defined twice: {seen[card.name].source} and {f}")
        seen[card.name] = card
    return list(seen.values()), problems


def all_cards() -> list[ModelCard]:
    """Every valid card on the search path. Duplicate names are an error; a file that is not
    a valid card is skipped with a :class:`CardWarning` naming it and the problem."""
    import warnings

    cards, problems = scan_cards()
    for exc in problems:
        warnings.warn(f"skipped {exc}", CardWarning, stacklevel=2)
    return cards


def list_cards(task: str | None = None) -> list[str]:
    """Names of all model cards, optionally only those of ``task``, sorted."""
    return sorted(c.name for c in all_cards() if task is None or c.task == task)


def load_card(name: str | os.PathLike[str] | ModelCard) -> ModelCard:
    """The card called ``name``, or the card file at a path ending in ``.yaml``.

    Raises:
        CardError: unknown name (listing the available ones and the closest match).
    """
    if isinstance(name, ModelCard):
        return name
    s = os.fspath(name)
    if s.endswith((".yaml", ".yml")):
        return read_card(s)
    for f in card_files():
        # Cheap pre-filter on the file name before parsing; fall back to parsing everything.
        if f.stem == s:
            card = read_card(f)
            if card.name == s:
                return card
    for card in all_cards():
        if card.name == s:
            return card
    names = list_cards()
    msg = f"unknown model card {s!r}."
    close = difflib.get_close_matches(s, names, n=1, cutoff=0.5)
    if close:
        msg += f" Did you mean {close[0]!r}?"
    msg += f" Available: {', '.join(names) if names else '(none)'}"
    raise CardError(msg)
