"""Recipes: shipped run configurations that reproduce a published protocol on a real data set.

A recipe is a configuration file in the layout of a run's ``config.yaml``
(:mod:`pgg_zoo.config.file`: ``task``, ``task_options``, ``run``) plus two documenting keys,
``description`` and ``target`` (the published number it aims at). It states only what differs
from the task's defaults and leaves ``data_root`` to the user::

    pgg-zoo recipes                                    # what is shipped, with the paper's numbers
    pgg-zoo train --recipe cub-vgg16-cutmix-pgg --data-root /data/CUB_200_2011 [--set k=v]

Task plugins ship their recipes as YAML files in their package and register the folder from
their ``pgg_zoo.plugins`` entry point with :func:`register_recipes`, the same public path a
third-party plugin uses. Files are read when listed or used, so a broken recipe is reported
with its file name there instead of failing the plugin's registration.
"""
from __future__ import annotations

import difflib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ConfigError, ConfigFile, read_config_file
from .registry import DuplicateNameError, UnknownNameError, load_plugins

__all__ = ["Recipe", "register_recipe", "register_recipes", "list_recipes", "get_recipe",
           "recipe_names", "target_text"]

#: name -> file; filled by plugins through register_recipe(s). Guarded: plugins may register
#: from any thread that triggers plugin loading.
_FILES: dict[str, Path] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Recipe:
    """A registered recipe: its name, file and checked content."""

    name: str
    path: Path
    config: ConfigFile

    @property
    def task(self) -> str:
        return self.config.task

    @property
    def description(self) -> str:
        return self.config.description

    @property
    def target(self) -> dict[str, Any]:
        return dict(self.config.target)


def register_recipe(path: str | Path, *, name: str | None = None, replace: bool = False) -> str:
    """Register the recipe file ``path`` under ``name`` (default: the file's stem); return
    the name.

    Raises:
        FileNotFoundError: no such file.
        DuplicateNameError: the name is taken by another file (unless ``replace``).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such recipe file")
    key = name or p.stem
    with _LOCK:
        old = _FILES.get(key)
        if old is not None and old.resolve() != p.resolve() and not replace:
            raise DuplicateNameError(f"recipe {key!r} is already registered from {old}; pass "
                                     "replace=True to replace it")
        _FILES[key] = p
    return key


def register_recipes(folder: str | Path, *, replace: bool = False) -> list[str]:
    """Register every ``*.yaml`` file of ``folder`` (not recursive) as a recipe named after
    its stem; return the names. Call it from a plugin's entry point with a folder of the
    plugin's package, e.g. ``register_recipes(Path(__file__).parent / "recipes")``."""
    d = Path(folder)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: no such recipe folder")
    return [register_recipe(p, replace=replace) for p in sorted(d.glob("*.yaml"))]


def recipe_names() -> list[str]:
    """The registered recipe names, sorted (plugins loaded first)."""
    load_plugins()
    with _LOCK:
        return sorted(_FILES)


def get_recipe(name: str) -> Recipe:
    """The recipe registered as ``name``, read and checked.

    Raises:
        UnknownNameError: no such recipe (the message lists them and the closest name).
        ConfigError: the recipe file is invalid (the file named).
    """
    names = recipe_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownNameError(f"unknown recipe {name!r}.{hint} Recipes: "
                               f"{', '.join(names) or '(none registered)'} (pgg-zoo recipes)")
    with _LOCK:
        path = _FILES[name]
    cf = read_config_file(path)
    if cf.recipe not in (None, name):
        raise ConfigError(f"{path}: recipe {cf.recipe!r} but the file is registered as {name!r}")
    cf.recipe = name
    return Recipe(name=name, path=path, config=cf)


def list_recipes() -> list[Recipe]:
    """Every registered recipe, read and checked, sorted by name."""
    return [get_recipe(n) for n in recipe_names()]


def target_text(target: dict[str, Any]) -> str:
    """One line for a recipe's ``target``: ``MaxBoxAccV2 62.3 -> 65.1 (paper, Table 1)``."""
    if not target:
        return "-"
    metric = target.get("metric", "")
    value = target.get("value")
    base = target.get("baseline")
    nums = f"{base} -> {value}" if base is not None and value is not None else \
        str(value if value is not None else "")
    text = " ".join(x for x in (str(metric), nums) if x)
    if target.get("note"):
        text += f" ({target['note']})"
    return text or "-"
