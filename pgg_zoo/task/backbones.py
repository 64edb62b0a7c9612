"""Which backbones a task takes: the ``backbone`` option checked against the registry."""
from __future__ import annotations

import difflib
from typing import Any, Sequence

from ..config import ConfigError
from ..registry import BACKBONES


def task_backbones(task: str) -> list[str]:
    """Sorted backbones registered for ``task`` (meta ``tasks=(..., task, ...)``)."""
    return sorted(n for n in BACKBONES.names() if task in BACKBONES.meta(n).get("tasks", ()))


def _describe(names: Sequence[str]) -> str:
    parts = []
    for n in names:
        aliases = BACKBONES.aliases(n)
        parts.append(f"{n} (or {', '.join(aliases)})" if aliases else n)
    return ", ".join(parts) or "(none registered)"


def resolve_backbone(task: str, backbone: Any, *, open_names: bool = True) -> Any:
    """The canonical name of the ``backbone`` option of ``task``, checked against the registry.

    An alias (``"slowfast"``) becomes its registered name (``"slowfast_r50"``), so cards, runs
    and validation see one spelling. A backbone registered only for other tasks is refused,
    naming this task's own backbones; so is an unregistered name when ``open_names`` is False.
    Instances and ``None`` pass through. A task with no registered backbones of its own is
    left to interpret the name itself.

    Raises:
        ConfigError: the message lists ``task``'s backbones (and the closest one, if any).
    """
    if not isinstance(backbone, str):
        return backbone
    own = task_backbones(task)
    if backbone not in BACKBONES:
        if open_names or not own:
            return backbone
        candidates = own + [a for n in own for a in BACKBONES.aliases(n)]
        close = difflib.get_close_matches(backbone, candidates, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown backbone {backbone!r} for {task}.{hint} "
                          f"{task} backbones: {_describe(own)}")
    name = BACKBONES.canonical(backbone)
    tasks = BACKBONES.meta(name).get("tasks", ())
    # A backbone registered without ``tasks`` meta makes no claim: any task may try it.
    if own and tasks and task not in tasks:
        raise ConfigError(f"backbone {backbone!r} is not a {task} backbone "
                          f"({task} backbones: {_describe(own)})")
    return name
