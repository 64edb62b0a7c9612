"""The run configuration: how a task is trained, as a typed object owned by the engine.

A run has two kinds of configuration, both plain data:

* the **task options** (what is built: backbone, synthesizer, alpha, benchmark, image size,
  ...), declared by each task (``Task.defaults``) and checked by the task;
* the **run options** (how it runs: epochs, optimizer, schedule, batch size, seed, data root,
  work dir, launcher, AMP, resume, ...), the fields of :class:`RunConfig`, declared and checked
  here, once, for every task.

A task may change the *default* of a run option (``Task.defaults = {"epochs": 12}``), never
its meaning. Every value is checked before anything is built, and every error names the
option (``option epochs: must be >= 1, got 0``), and the file when the value came from one.

This module imports nothing of the engine's heavy dependencies (mmengine), so the task layer and
the command line can validate a configuration cheaply.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping


class ConfigError(ValueError):
    """An unknown or invalid configuration key (of a task, of a run, or in a config file)."""


#: Accepted values of the run options that are a choice among names.
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "step", "constant")
AMP_CHOICES = (None, "bf16", "fp16")
LAUNCHER_CHOICES = ("none", "pytorch", "slurm", "mpi")
ON_ERROR_CHOICES = ("raise", "skip")
LOG_BACKENDS = ("json", "tensorboard")
EVAL_SPLITS = ("test", "val")


def _opt(default: Any, kind: str, *, low: float | None = None, strict: bool = False,
         high: float | None = None, choices: tuple[Any, ...] | None = None,
         optional: bool = False, doc: str = "") -> Any:
    """A dataclass field with its checking rule in ``metadata`` (kept beside the default, so
    the type, the bounds and the documentation of an option live in one place)."""
    meta = dict(kind=kind, low=low, strict=strict, high=high, choices=choices,
                optional=optional, doc=doc)
    if isinstance(default, dict):  # a mutable default: one fresh copy per instance
        return field(default_factory=lambda: dict(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class RunConfig:
    """How a task is trained and evaluated (every field is a run option).

    Build one with :meth:`from_mapping` (checks and normalizes every value); ``to_dict()`` gives
    the plain values back (what ``config.yaml`` stores under ``run:``).
    """

    epochs: int = _opt(10, "int", low=1, doc="training epochs")
    batch_size: int = _opt(32, "int", low=1, doc="items per batch (per process)")
    optimizer: str = _opt("adamw", "choice", choices=OPTIMIZERS, doc="sgd | adam | adamw")
    lr: float = _opt(0.01, "float", low=0, strict=True, doc="base learning rate")
    weight_decay: float = _opt(1e-4, "float", low=0, doc="weight decay")
    momentum: float = _opt(0.9, "float", low=0, high=1, doc="SGD momentum (sgd only)")
    nesterov: bool = _opt(False, "bool", doc="Nesterov momentum (sgd only)")
    lr_mult: dict[str, float] = _opt(
        {}, "lr_mult",
        doc="learning-rate multipliers by parameter name: {substring: factor}, e.g. "
            "{'fc.': 10} for a new head over pretrained layers (the longest match wins)")
    schedule: str = _opt("cosine", "choice", choices=SCHEDULES,
                         doc="cosine (to 0 over the run) | step (x lr_gamma every lr_step "
                             "epochs) | constant")
    lr_step: int = _opt(15, "int", low=1, doc="epochs between decays of schedule 'step'")
    lr_gamma: float = _opt(0.1, "float", low=0, strict=True,
                           doc="decay factor of schedule 'step'")
    seed: int = _opt(0, "int", low=0, doc="initial weights, data order, synthesis (build-time)")
    data_root: str | None = _opt(None, "path", optional=True,
                                 doc="data set folder; None: the task's embedded benchmark "
                                     "(build-time)")
    work_dir: str | None = _opt(None, "path", optional=True,
                                doc="run folder; None: work_dirs/<task>/<data>/<run name>")
    num_workers: int = _opt(0, "int", low=0, doc="data loader worker processes")
    amp: str | None = _opt(None, "choice", choices=AMP_CHOICES, optional=True,
                           doc="mixed precision: None | bf16 | fp16 (the penalty stays fp32)")
    launcher: str = _opt("none", "choice", choices=LAUNCHER_CHOICES,
                         doc="none | pytorch (torchrun) | slurm | mpi")
    resume: bool | str = _opt(False, "resume",
                              doc="False | True/'auto' (work_dir/last_checkpoint) | a "
                                  "checkpoint path")
    accumulate: int = _opt(1, "int", low=1, doc="micro-batches per optimizer step")
    sync_bn: bool = _opt(False, "bool", doc="SyncBatchNorm across ranks (GPUs only)")
    checkpoint_interval: int | str | None = _opt(
        None, "interval", optional=True,
        doc="None: at the end | N iterations | 'Ne' every N epochs")
    eval_interval: int | None = _opt(
        None, "int", low=1, optional=True,
        doc="evaluate on eval_split every N epochs as well as at the end (one metrics.jsonl "
            "line each: the learning curve that epochs-to-reach comparisons need); None: "
            "at the end only")
    on_error: str = _opt("raise", "choice", choices=ON_ERROR_CHOICES,
                         doc="corrupted samples: raise | skip (and report)")
    log_backend: str = _opt("json", "choice", choices=LOG_BACKENDS,
                            doc="scalars: json | tensorboard (also event files)")
    limit_train: int | None = _opt(None, "int", low=1, optional=True,
                                   doc="train on N evenly spaced items only (None: all)")
    limit_test: int | None = _opt(None, "int", low=1, optional=True,
                                  doc="evaluate on the first N items only (None: all)")
    eval_split: str = _opt("test", "choice", choices=EVAL_SPLITS,
                           doc="the split train() evaluates on (val: model selection)")
    val_fraction: float = _opt(0.2, "float", low=0, strict=True, high=1,
                               doc="share of train carved out as val when the data has none")
    leakage_batches: int = _opt(4, "int", low=0,
                                doc="held-out synthesized batches for gradient leakage (0: off)")

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, source: str | Path | None = None,
                     allow_unknown: bool = False) -> "RunConfig":
        """A checked run configuration from plain values (missing keys take the defaults).

        Numbers written as text (``"0.5"``) become numbers; everything else must have the
        option's type. ``source`` (a file) prefixes every error message.

        Raises:
            ConfigError: an unknown key (unless ``allow_unknown``: then ignored) or a bad
                value, e.g. ``run.yaml: option epochs: expected an integer, got 'ten'``.
        """
        names = run_option_names()
        unknown = sorted(set(values) - set(names))
        if unknown and not allow_unknown:
            raise ConfigError(_where(source) + unknown_options_message(unknown, names, "run"))
        return cls(**{k: check_run_value(k, values[k], source=source)
                      for k in names if k in values})

    def to_dict(self) -> dict[str, Any]:
        """The plain values, field order (YAML- and JSON-ready)."""
        return {f.name: _copy_value(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self, **changes: Any) -> "RunConfig":
        """A copy with ``changes`` applied and checked."""
        return RunConfig.from_mapping({**self.to_dict(), **changes})

    @property
    def resume_mode(self) -> str | None:
        """None (a fresh run), ``"auto"`` (the work dir's last checkpoint) or a checkpoint
        path."""
        r = self.resume
        if r is False or r in ("", "false", "False"):
            return None
        if r is True or r in ("auto", "true", "True"):
            return "auto"
        return str(r)


def _copy_value(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else value


def run_option_names() -> tuple[str, ...]:
    """The names of the run options, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(RunConfig))


def run_option_docs() -> dict[str, tuple[Any, str]]:
    """``name -> (default, description)`` of every run option (for docs and ``--help``)."""
    defaults = RunConfig().to_dict()
    return {f.name: (defaults[f.name], f.metadata["doc"]) for f in dataclasses.fields(RunConfig)}


#: Run options consumed while the task is built: ``data_root`` fixes the model's classes,
#: ``seed`` its initial weights. Changing them means building another task.
BUILD_TIME_RUN_OPTIONS = ("data_root", "seed")


def _where(source: str | Path | None) -> str:
    return f"{source}: " if source is not None else ""


def unknown_options_message(unknown: list[str], known: tuple[str, ...] | list[str],
                            kind: str) -> str:
    """``unknown run option 'epoch' (did you mean 'epochs'?); known: ...``."""
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
        hints.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    s = "s" if len(unknown) > 1 else ""
    return f"unknown {kind} option{s} {', '.join(hints)}; known: {', '.join(sorted(known))}"


def _number(key: str, raw: Any, integer: bool) -> int | float:
    want = "an integer" if integer else "a number"
    value: Any = raw
    if isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
            or value in (float("inf"), float("-inf")):
        raise ConfigError(f"option {key}: expected {want}, got {raw!r}")
    if integer:
        if float(value) != int(value):
            raise ConfigError(f"option {key}: expected {want}, got {raw!r}")
        return int(value)
    return float(value) if isinstance(raw, str) else value


def check_number(key: str, raw: Any, *, integer: bool, low: float | None = None,
                 strict: bool = False, high: float | None = None) -> int | float:
    """``raw`` as a number within bounds, or :class:`ConfigError` naming ``key``
    (``option lr: must be > 0, got 0.0``)."""
    value = _number(key, raw, integer)
    if low is not None and not (value > low if strict else value >= low):
        raise ConfigError(f"option {key}: must be {'>' if strict else '>='} {low:g}, got {raw!r}")
    if high is not None and value > high:
        raise ConfigError(f"option {key}: must be <= {high:g}, got {raw!r}")
    return value


def check_run_value(key: str, raw: Any, *, source: str | Path | None = None) -> Any:
    """The checked, normalized value of run option ``key``.

    Raises:
        ConfigError: ``[<source>: ]option <key>: <what is wrong>``.
    """
    f = {f.name: f for f in dataclasses.fields(RunConfig)}.get(key)
    if f is None:
        raise ConfigError(_where(source) + unknown_options_message([key], run_option_names(),
                                                                   "run"))
    m = f.metadata
    try:
        if raw is None:
            if m["optional"]:
                return None
            if m["kind"] in ("choice", "resume"):
                # null has always meant "the default" for these (launcher, on_error, ...)
                return f.default
            raise ConfigError(f"option {key}: must not be null")
        kind = m["kind"]
        if kind in ("int", "float"):
            return check_number(key, raw, integer=kind == "int", low=m["low"],
                                strict=m["strict"], high=m["high"])
        if kind == "bool":
            if not isinstance(raw, bool):
                raise ConfigError(f"option {key}: expected true or false, got {raw!r}")
            return raw
        if kind == "choice":
            value = raw.lower() if isinstance(raw, str) and key == "optimizer" else raw
            if value not in m["choices"]:
                shown = ", ".join(str(c) for c in m["choices"] if c is not None)
                raise ConfigError(f"option {key}: expected one of {shown}, got {raw!r}")
            return value
        if kind == "path":
            if not isinstance(raw, (str, Path)):
                raise ConfigError(f"option {key}: expected a path, got {raw!r}")
            return str(raw)
        if kind == "resume":
            if not isinstance(raw, (bool, str, Path)):
                raise ConfigError(f"option {key}: expected true, false, 'auto' or a "
                                  f"checkpoint path, got {raw!r}")
            return str(raw) if isinstance(raw, Path) else raw
        if kind == "lr_mult":
            if not isinstance(raw, Mapping):
                raise ConfigError(f"option {key}: expected a mapping of parameter-name "
                                  f"substring: factor, got {raw!r}")
            return {str(k): check_number(f"{key}.{k}", v, integer=False, low=0)
                    for k, v in raw.items()}
        if kind == "interval":
            parse_checkpoint_interval(raw, 1, key=key)
            return raw
        raise AssertionError(kind)  # pragma: no cover - a field with an unknown kind
    except ConfigError as exc:
        if source is None:
            raise
        raise ConfigError(_where(source) + str(exc)) from None


def parse_checkpoint_interval(value: Any, epochs: int, *,
                              key: str = "checkpoint_interval") -> tuple[int, bool]:
    """``(interval, by_epoch)`` from the ``checkpoint_interval`` value.

    ``None``: once, at the end of training (every ``epochs`` epochs). An integer (or ``"500"``,
    ``"500i"``, ``"500iter"``): every N iterations. ``"2e"``, ``"2ep"``, ``"2epochs"``: every N
    epochs. The last iteration is always saved.

    Raises:
        ConfigError: (a ``ValueError``) naming the option.
    """
    if value is None:
        return max(1, int(epochs)), True
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigError(f"option {key}: expected a number of iterations or 'Ne', "
                          f"got {value!r}")
    if isinstance(value, int):
        n, by_epoch = value, False
    else:
        text = value.strip().lower()
        digits = text.rstrip("abcdefghijklmnopqrstuvwxyz ")
        unit = text[len(digits):].strip()
        if not digits.isdigit() or unit not in ("", "i", "it", "iter", "iters", "iteration",
                                                "iterations", "e", "ep", "epoch", "epochs"):
            raise ConfigError(f"option {key}: {value!r} is not N (iterations), 'Ni' or 'Ne'")
        n, by_epoch = int(digits), unit.startswith("e")
    if n < 1:
        raise ConfigError(f"option {key}: must be >= 1, got {value!r}")
    return n, by_epoch


# -- the configuration file of a run (config.yaml) and of a recipe ------------------------------
#: What a training run leaves in its work dir (written by ``pgg_zoo.engine.runner.train``):
#: ``run.json`` (task, data identity, the whole configuration as one JSON dict; read by
#: ``pgg-zoo report``) and ``config.yaml`` (task options and run options apart: the file
#: ``pgg-zoo train --config``, ``pgg-zoo eval RUN_DIR`` and ``card_from_run`` read).
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

    def options(self) -> dict[str, Any]:
        """Task and run options merged, as ``pgg_zoo.build`` takes them."""
        return {**self.task_options, **self.run}


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
    return parse_config_text(p.read_text("utf-8"), p)


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
    payload["task_options"] = _plain(dict(task_options))
    payload["run"] = _plain(run.to_dict())
    p = Path(path)
    header = ("# pgg-zoo run configuration (written by `pgg-zoo train`).\n"
              "# Recreate the run: pgg-zoo train --config THIS_FILE --work-dir NEW_FOLDER\n"
              "# Evaluate it again: pgg-zoo eval RUN_FOLDER\n")
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(header + yaml.safe_dump(payload, sort_keys=False, width=100), "utf-8")
    tmp.replace(p)
    return p


def _plain(value: Any) -> Any:
    """``value`` made of YAML's plain types (dict, list, str, int, float, bool, None)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
