"""The configuration file of a run (``config.yaml``) and of a recipe: the task, its task
options and its run options, in two sections that stay apart.

::

    format: 1
    task: wsol
    task_options: {backbone: resnet18, alpha: 0.05}
    run: {epochs: 12, lr: 0.001}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..atomic import write_text_atomic
from .checks import ConfigError, unknown_options_message
from .checks import where as _where
from .run import RunConfig

#: What a training run leaves in its work dir (written by ``pgg_zoo.engine.run_folder``):
#: ``run.json`` (task, data identity, the whole configuration as one JSON dict; read by
#: ``pgg-zoo report``) and ``config.yaml`` (task options and run options apart: the file
#: ``pgg-zoo train --config``, ``pgg-zoo eval RUN_DIR`` and ``pgg-zoo new-card`` read).
RUN_FILE = "run.json"
CONFIG_FILE = "config.yaml"
#: Version of the file layout below (bumped on an incompatible change).
CONFIG_FORMAT = 1
#: Top-level keys of a configuration file. ``task``, ``task_options`` and ``run`` describe the
#: run; ``allow_unverified`` and ``recipe`` how it was built; ``data`` (the run's data
#: identity) is informational; ``description`` and ``target`` document a recipe.
CONFIG_KEYS = ("format", "task", "data", "recipe", "allow_unverified", "description", "target",
               "task_options", "run")


@dataclass
class ConfigFile:
    """The content of a run configuration file (``config.yaml`` or a recipe), checked.

    Attributes:
        task: the registered task name.
        task_options: what is built (names checked by the task when it is built).
        run: the run options the file sets, checked and normalized (keys it leaves out take
            the task's defaults, not the engine's: a recipe states only what it changes).
        allow_unverified: whether card weights without a recorded hash may be loaded.
        recipe: the recipe the run came from (None for a plain run).
        description: one line on what the file reproduces (recipes).
        data: the data the run used (its data identity) or, in a recipe, the data set it is
            for; informational.
        target: the published number a recipe targets (``metric``, ``value``, ``baseline``,
            ``source``), free-form.
        source: the file it was read from.
    """

    task: str
    task_options: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    allow_unverified: bool = False
    recipe: str | None = None
    description: str = ""
    target: dict[str, Any] = field(default_factory=dict)
    data: str | None = None
    source: Path | None = None


def parse_config_text(text: str, source: str | Path) -> ConfigFile:
    """Parse and check the YAML text of a configuration file (see :class:`ConfigFile`).

    Raises:
        ConfigError: not YAML (with the line), not a mapping, an unknown top-level key, no
            task, a section of the wrong type, an unknown run option or a bad run value;
            every message starts with ``source``.
    """
    import yaml

    where = _where(source)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}not valid YAML{line}: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}expected a mapping with keys task, task_options and run, "
                          f"got {type(data).__name__}")
    unknown = sorted(set(map(str, data)) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(where + unknown_options_message(unknown, CONFIG_KEYS, "top-level"))
    fmt = data.get("format", CONFIG_FORMAT)
    if fmt != CONFIG_FORMAT:
        raise ConfigError(f"{where}format {fmt!r} is not supported (this pgg_zoo reads format "
                          f"{CONFIG_FORMAT})")
    task = data.get("task")
    if not isinstance(task, str) or not task:
        raise ConfigError(f"{where}option task: expected a task name, got {task!r}")
    sections: dict[str, dict[str, Any]] = {}
    for key in ("task_options", "run", "target"):
        value = data.get(key) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"{where}{key}: expected a mapping of option: value, got "
                              f"{type(value).__name__}")
        sections[key] = {str(k): v for k, v in value.items()}
    run = RunConfig.from_mapping(sections["run"], source=source)  # checks names and values
    allow = data.get("allow_unverified", False)
    if not isinstance(allow, bool):
        raise ConfigError(f"{where}option allow_unverified: expected true or false, got {allow!r}")
    recipe = data.get("recipe")
    if recipe is not None and not isinstance(recipe, str):
        raise ConfigError(f"{where}option recipe: expected a name, got {recipe!r}")
    return ConfigFile(task=task, task_options=sections["task_options"],
                      run={k: getattr(run, k) for k in sections["run"]},
                      allow_unverified=allow, recipe=recipe,
                      description=str(data.get("description") or ""),
                      target=sections["target"],
                      data=None if data.get("data") is None else str(data["data"]),
                      source=Path(source))


def read_config_file(path: str | Path) -> ConfigFile:
    """Read and check the configuration file at ``path`` (:func:`parse_config_text`).

    Raises:
        FileNotFoundError: no such file.
        ConfigError: its content is not a valid configuration (the file named).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such configuration file")
    try:
        text = p.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start}: {exc.reason}); a "
                          "configuration file is YAML in UTF-8") from None
    return parse_config_text(text, p)


def write_config_file(path: str | Path, task: str, task_options: Mapping[str, Any],
                      run: RunConfig, *, data: str | None = None,
                      build_info: Mapping[str, Any] | None = None) -> Path:
    """Write a run's configuration as YAML (temporary name, then renamed); return the path.

    Values YAML cannot hold as themselves (paths, tuples, objects) are written as text or
    lists, so the file always reads back with ``yaml.safe_load``.
    """
    import yaml

    payload: dict[str, Any] = {"format": CONFIG_FORMAT, "task": task}
    if data is not None:
        payload["data"] = data
    for key in ("recipe", "allow_unverified"):
        if build_info and build_info.get(key):
            payload[key] = build_info[key]
    payload["task_options"] = plain_value(dict(task_options))
    payload["run"] = plain_value(run.to_dict())
    p = Path(path)
    header = ("# pgg-zoo run configuration (written by `pgg-zoo train`).\n"
              "# Recreate the run: pgg-zoo train --config THIS_FILE --work-dir NEW_FOLDER\n"
              "# Evaluate it again: pgg-zoo eval RUN_FOLDER\n")
    return write_text_atomic(p, header + yaml.safe_dump(payload, sort_keys=False, width=100))


def plain_value(value: Any) -> Any:
    """``value`` made of YAML's plain types (dict, list, str, int, float, bool, None)."""
    if isinstance(value, Mapping):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
