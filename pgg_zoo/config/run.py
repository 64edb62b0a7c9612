"""The run options: how a task is trained, as one typed, checked object (:class:`RunConfig`).

A run has two kinds of configuration, both plain data:

* the **task options** (what is built: backbone, synthesizer, alpha, benchmark, image size,
  ...), declared by each task (``Task.defaults``) and checked by the task;
* the **run options** (how it runs: epochs, optimizer, schedule, batch size, seed, data root,
  work dir, launcher, AMP, resume, ...), the fields of :class:`RunConfig`, declared and checked
  here, once, for every task.

A task may change the *default* of a run option (``Task.run_defaults = {"epochs": 12}``),
never its meaning. The two stay apart from ``pgg_zoo.build`` to the engine's Runner. Every value is checked before anything is built, and every error names the
option (``option epochs: must be >= 1, got 0``), and the file when the value came from one.

This module imports nothing of the engine's heavy dependencies (mmengine), so the task layer and
the command line can validate a configuration cheaply.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .checks import (KIND_CHECKS, ConfigError, check_number, checked_values,
                     option, option_docs)


#: Accepted values of the run options that are a choice among names.
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "step", "constant")
AMP_CHOICES = (None, "bf16", "fp16")
LAUNCHER_CHOICES = ("none", "pytorch", "slurm", "mpi")
ON_ERROR_CHOICES = ("raise", "skip")
LOG_BACKENDS = ("json", "tensorboard")
EVAL_SPLITS = ("test", "val")


@dataclass(frozen=True)
class RunConfig:
    """How a task is trained and evaluated (every field is a run option).

    Build one with :meth:`from_mapping` (checks and normalizes every value); ``to_dict()`` gives
    the plain values back (what ``config.yaml`` stores under ``run:``).
    """

    epochs: int = option(10, "int", low=1, high=10**6, doc="training epochs")
    batch_size: int = option(32, "int", low=1, doc="items per batch (per process)")
    optimizer: str = option("adamw", "choice", choices=OPTIMIZERS, doc="sgd | adam | adamw")
    lr: float = option(0.01, "float", low=0, strict=True, doc="base learning rate")
    weight_decay: float = option(1e-4, "float", low=0, doc="weight decay")
    momentum: float = option(0.9, "float", low=0, high=1, doc="SGD momentum (sgd only)")
    nesterov: bool = option(False, "bool", doc="Nesterov momentum (sgd only)")
    lr_mult: dict[str, float] = option(
        {}, "lr_mult",
        doc="learning-rate multipliers by parameter name: {substring: factor}, e.g. "
            "{'fc.': 10} for a new head over pretrained layers (the longest match wins)")
    schedule: str = option("cosine", "choice", choices=SCHEDULES,
                         doc="cosine (to 0 over the run) | step (x lr_gamma every lr_step "
                             "epochs) | constant")
    lr_step: int = option(15, "int", low=1, doc="epochs between decays of schedule 'step'")
    lr_gamma: float = option(0.1, "float", low=0, strict=True,
                           doc="decay factor of schedule 'step'")
    seed: int = option(0, "int", low=0, doc="initial weights, data order, synthesis (build-time)")
    data_root: str | None = option(None, "path", optional=True,
                                 doc="data set folder; None: the task's embedded benchmark "
                                     "(build-time)")
    work_dir: str | None = option(None, "path", optional=True,
                                doc="run folder; None: work_dirs/<task>/<data>/<run name>")
    num_workers: int = option(0, "int", low=0, doc="data loader worker processes")
    amp: str | None = option(None, "choice", choices=AMP_CHOICES, optional=True,
                           doc="mixed precision: None | bf16 | fp16 (the penalty stays fp32)")
    launcher: str = option("none", "choice", choices=LAUNCHER_CHOICES,
                         doc="none | pytorch (torchrun) | slurm | mpi")
    resume: bool | str = option(False, "resume",
                              doc="False | True/'auto' (work_dir/last_checkpoint) | a "
                                  "checkpoint path")
    accumulate: int = option(1, "int", low=1, doc="micro-batches per optimizer step")
    sync_bn: bool = option(False, "bool", doc="SyncBatchNorm across ranks (GPUs only)")
    checkpoint_interval: int | str | None = option(
        None, "interval", optional=True,
        doc="None: at the end | N iterations | 'Ne' every N epochs")
    eval_interval: int | None = option(
        None, "int", low=1, optional=True,
        doc="evaluate on eval_split every N epochs as well as at the end (one metrics.jsonl "
            "line each: the learning curve that epochs-to-reach comparisons need); None: "
            "at the end only")
    on_error: str = option("raise", "choice", choices=ON_ERROR_CHOICES,
                         doc="corrupted samples: raise | skip (and report)")
    log_backend: str = option("json", "choice", choices=LOG_BACKENDS,
                            doc="scalars: json | tensorboard (also event files)")
    limit_train: int | None = option(None, "int", low=1, optional=True,
                                   doc="train on N evenly spaced items only (None: all)")
    limit_test: int | None = option(None, "int", low=1, optional=True,
                                  doc="evaluate on the first N items only (None: all)")
    eval_split: str = option("test", "choice", choices=EVAL_SPLITS,
                           doc="the split train() evaluates on (val: model selection)")
    val_fraction: float = option(0.2, "float", low=0, strict=True, high=1,
                               doc="share of train carved out as val when the data has none")
    leakage_items: int = option(256, "int", low=0,
                                doc="held-out items (a fixed, class-stratified sample of the "
                                    "evaluation split, the same for every run) on which "
                                    "gradient leakage is measured (0: off)")

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
        return cls(**checked_values(cls, values, kind="run", source=source,
                                    allow_unknown=allow_unknown))

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
    return option_docs(RunConfig)


def check_run_value(key: str, raw: Any, *, source: str | Path | None = None) -> Any:
    """The checked, normalized value of run option ``key``.

    Raises:
        ConfigError: ``[<source>: ]option <key>: <what is wrong>``, or an unknown option.
    """
    return checked_values(RunConfig, {key: raw}, kind="run", source=source)[key]


#: Run options that say where and how a run executes, not what it trains: they may differ
#: when a run is resumed or recreated (another folder, launcher, loader processes, log format).
PLACE_OPTIONS = ("work_dir", "launcher", "resume", "num_workers", "log_backend")

#: Run options consumed while the task is built: ``data_root`` fixes the model's classes,
#: ``seed`` its initial weights. Changing them means building another task.
BUILD_TIME_RUN_OPTIONS = ("data_root", "seed")


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




def _check_resume(key: str, raw: Any) -> Any:
    if not isinstance(raw, (bool, str, Path)):
        raise ConfigError(f"option {key}: expected true, false, 'auto' or a checkpoint path, "
                          f"got {raw!r}")
    return str(raw) if isinstance(raw, Path) else raw


def _check_lr_mult(key: str, raw: Any) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"option {key}: expected a mapping of parameter-name substring: "
                          f"factor, got {raw!r}")
    return {str(k): check_number(f"{key}.{k}", v, integer=False, low=0) for k, v in raw.items()}


def _check_interval(key: str, raw: Any) -> Any:
    parse_checkpoint_interval(raw, 1, key=key)
    return raw


KIND_CHECKS.update(resume=_check_resume, lr_mult=_check_lr_mult, interval=_check_interval)
