"""Listing functions of the public API."""
from __future__ import annotations

from .registry import BACKBONES, METRICS, SYNTHESIZERS, TASKS


def list_tasks() -> list[str]:
    """Names of all registered tasks (built-in and plugins)."""
    return TASKS.names()


def list_synthesizers() -> list[str]:
    """Names of all registered synthesizers."""
    return SYNTHESIZERS.names()


def list_backbones(task: str) -> list[str]:
    """Backbones registered for ``task`` (``BACKBONES.register(..., tasks=("wsol", ...))``).

    Tasks that accept any timm model by name also accept names not listed here.
    """
    TASKS.get(task)  # unknown task: clear error with suggestions
    return sorted(n for n in BACKBONES.names() if task in BACKBONES.meta(n).get("tasks", ()))


def list_metrics() -> list[str]:
    """Protocol-named metrics, e.g. ``maxboxacc_v2[wsoleval]``."""
    return METRICS.names()
