"""How a task is registered and built: by name with options, from a configuration file, or
from a finished run folder.

:func:`build` is the one place where the keyword arguments a user writes
(``build("wsol", backbone="resnet18", epochs=3)``) are sorted into the task options and the
run options; from there on they are two objects (``task.options``, ``task.run``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

from ..config import (CONFIG_FILE, RUN_FILE, ConfigError, ConfigFile, RunConfig, check_number,
                      read_config_file, run_option_names, unknown_options_message)
from ..registry import TASKS, RegistryError
from .backbones import resolve_backbone
from .base import Task

TaskT = TypeVar("TaskT", bound=type)


def register_task(name: str, *, replace: bool = False) -> Callable[[TaskT], TaskT]:
    """Class decorator registering a :class:`Task` subclass under ``name``.

    This is the public mechanism for built-in and third-party tasks alike; call it from the
    function your package names in the ``pgg_zoo.plugins`` entry-point group.
    """

    def deco(cls: TaskT) -> TaskT:
        if not (isinstance(cls, type) and issubclass(cls, Task)):
            raise TypeError(f"register_task expects a Task subclass, got {cls!r}")
        cls.name = name  # type: ignore[attr-defined]
        TASKS.add(name, cls, replace=replace)
        return cls

    return deco


def split_options(cls: type[Task], values: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                       dict[str, Any]]:
    """``values`` (keyword arguments, command-line options) sorted into ``(task options, run
    options)`` of task class ``cls``.

    Raises:
        ConfigError: a key that is neither, naming the closest known option.
    """
    run_names = set(run_option_names())
    known = list(cls.default_options()) + list(run_names)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(unknown_options_message(unknown, known, cls.name or "task"))
    task_opts = {k: v for k, v in values.items() if k not in run_names}
    run_opts = {k: v for k, v in values.items() if k in run_names}
    return task_opts, run_opts


def _task_class(task: str | type[Task]) -> type[Task]:
    if isinstance(task, type) and issubclass(task, Task):
        return task
    return TASKS.get(task)


def build(task: str | type[Task], *, weights: str | None = None,
          allow_unverified: bool = False, run: RunConfig | Mapping[str, Any] | None = None,
          **overrides: Any) -> Task:
    """Build the task registered as ``task`` (or a :class:`Task` subclass) with options.

    ``overrides`` are task options (what is built: ``backbone``, ``alpha``, ...) and run
    options (how it runs: ``epochs``, ``lr``, ``seed``, ...; :class:`~pgg_zoo.config.RunConfig`)
    by name; ``run`` may give run options as one mapping or :class:`RunConfig` (keywords win).

    ``weights=<card name>`` builds the model the card describes (backbone, number of classes,
    input size) and loads the card's weights strictly: a clear error lists missing and
    unexpected keys, and an override that contradicts the card (another backbone or number of
    classes) is an error, never a silent change. Unverified upstream weights need
    ``allow_unverified=True``.

    Example: ``pgg_zoo.build("wsol", backbone="resnet18", alpha=0.03, epochs=3)``.

    Raises:
        ConfigError: an unknown option or a bad value, naming the option.
    """
    cls = _task_class(task)
    options, run_overrides = split_options(cls, overrides)
    base_run = run.to_dict() if isinstance(run, RunConfig) else dict(run or {})
    run_values = {**base_run, **run_overrides}
    if weights is None:
        built = cls(options, run_values, allow_unverified=allow_unverified)
        if allow_unverified:  # the pretrained card's weights may be unverified
            built.build_info["allow_unverified"] = True
        return built
    from ..cards import CardError, load_card, load_weights, merge_card_overrides

    card = load_card(weights)
    if isinstance(options.get("backbone"), str):
        # compare the card with the registered name, not the alias the user wrote
        options["backbone"] = resolve_backbone(cls.name, options["backbone"],
                                               open_names=cls.open_backbones)
    try:
        merged = merge_card_overrides(card, cls.name, options,
                                      known_keys=cls.default_options())
    except CardError as exc:
        raise ConfigError(str(exc)) from None
    # A card's ``build`` mapping may also fix run options (the seed its weights came from);
    # those the caller gives still win.
    options, card_run = split_options(cls, merged)
    built = cls({**options, "weights": card.name}, {**card_run, **run_values})
    load_weights(built.model, card, allow_unverified=allow_unverified)
    if allow_unverified:
        built.build_info["allow_unverified"] = True
    return built


def load_config(source: str | Path | ConfigFile) -> ConfigFile:
    """A configuration file (``config.yaml`` of a run, a recipe, any file of that layout) read
    and checked against the installed task: the task exists, every key of ``task_options`` is
    one of its task options, and the run options have their types (:class:`RunConfig`).

    Raises:
        FileNotFoundError: no such file.
        ConfigError: the message starts with the file and names the option.
    """
    cf = source if isinstance(source, ConfigFile) else read_config_file(source)
    where = f"{cf.source}: " if cf.source is not None else ""
    try:
        cls = TASKS.get(cf.task)
    except RegistryError as exc:
        raise ConfigError(f"{where}option task: {exc}") from None
    known = cls.task_option_names()
    misplaced = sorted(set(cf.task_options) & set(run_option_names()))
    if misplaced:
        raise ConfigError(f"{where}task_options: {misplaced} are run options; put them under "
                          "run:")
    unknown = sorted(set(cf.task_options) - set(known))
    if unknown:
        raise ConfigError(where + unknown_options_message(unknown, known, f"{cf.task} task"))
    if "alpha" in cf.task_options:
        try:
            check_number("alpha", cf.task_options["alpha"], integer=False, low=0)
        except ConfigError as exc:
            raise ConfigError(f"{where}{exc}") from None
    return cf


def build_from_config(source: str | Path | ConfigFile, *, task: str | None = None,
                      allow_unverified: bool = False, **overrides: Any) -> Task:
    """Build the task a configuration file describes (:func:`load_config`), with
    ``overrides`` (task or run options, e.g. from the command line) winning over the file.

    ``task``, when given, must be the file's task. The file's ``weights`` (a model card) is
    loaded as :func:`build` does; ``allow_unverified`` is the file's or this argument's.

    Raises:
        ConfigError: the file is invalid (named), or the built task refuses a value (the
            message then ends with the file it came from).
    """
    cf = load_config(source)
    if task is not None and task != cf.task:
        raise ConfigError(f"{cf.source}: describes task {cf.task!r}, not {task!r}")
    cls = TASKS.get(cf.task)
    try:
        task_over, run_over = split_options(cls, overrides)
        options = {**cf.task_options, **task_over}
        weights = options.pop("weights", None)
        built = build(cls, weights=weights, run={**cf.run, **run_over},
                      allow_unverified=allow_unverified or cf.allow_unverified, **options)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (configuration from {cf.source})") from None
    if cf.recipe:
        built.build_info["recipe"] = cf.recipe
    return built


def load_run(run_dir: str | Path, *, checkpoint: str | None = None,
             **overrides: Any) -> Task:
    """The task a run folder trained, rebuilt from its saved configuration with its trained
    weights: ``config.yaml`` (task options and run options), or for folders written before it
    existed, ``run.json``.

    The saved configuration is used as it is (nothing retyped); ``overrides`` may change what
    does not alter the model (``data_root`` for data that moved, ``num_workers``,
    ``batch_size``, ``launcher``, ...). The run's ``launcher`` and ``resume`` are not reused
    (an evaluation is one process and continues nothing) and neither is its card
    (``weights``): the weights are ``checkpoint`` or the folder's ``model.safetensors``, loaded
    strictly. The task's ``work_dir`` is ``<run_dir>/eval``, so evaluating writes nothing over
    the run.

    Raises:
        FileNotFoundError: no ``config.yaml`` nor ``run.json``, or no weights in the folder.
        ConfigError: the saved configuration is not valid for the installed task.
    """
    from ..weights_io import load_weights_file

    run_dir = Path(run_dir)
    if (run_dir / CONFIG_FILE).is_file():
        cf = load_config(run_dir / CONFIG_FILE)
        name, options, run = cf.task, dict(cf.task_options), dict(cf.run)
    elif (run_dir / RUN_FILE).is_file():
        name, options, run = _read_legacy_run_file(run_dir / RUN_FILE)
    else:
        raise FileNotFoundError(f"{run_dir}: no {RUN_FILE} or {CONFIG_FILE} (not a folder "
                                "written by pgg-zoo train)")
    weights = Path(checkpoint) if checkpoint else run_dir / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: no trained weights in the run folder")
    options.pop("weights", None)
    options.pop("pretrained", None)  # the trained weights replace them: nothing to fetch
    run.update({"launcher": "none", "resume": False, "work_dir": str(run_dir / "eval")})
    task = build(name, run=run, **overrides, **{k: v for k, v in options.items()
                                                   if k not in overrides})
    load_weights_file(task.model, str(weights))
    return task


def _read_legacy_run_file(path: Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(task, task options, run options)`` of a ``run.json`` written before ``config.yaml``
    existed (one flat ``config`` dict, sorted here by name)."""
    import json

    try:
        meta = json.loads(path.read_text("utf-8"))
        name, flat = str(meta["task"]), dict(meta["config"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a run file ({exc})") from None
    run_names = set(run_option_names())
    return (name, {k: v for k, v in flat.items() if k not in run_names},
            {k: v for k, v in flat.items() if k in run_names})
