"""Training and evaluation loop on mmengine (Runner, hooks, the guided model), and the typed
run configuration (:class:`RunConfig`, in :mod:`pgg_zoo.engine.config`).

The loop's names are imported on first use: importing the package (or its light ``config``
module, which the task layer and the command line read) must not pull in mmengine's Runner.
"""
from __future__ import annotations

from typing import Any

from .config import ConfigError, RunConfig, run_option_names

__all__ = ["PGGModel", "build_runner", "default_work_dir", "evaluate", "train", "RunConfig",
           "ConfigError", "run_option_names"]

_LAZY = {"PGGModel": ".model", "build_runner": ".runner", "default_work_dir": ".runner",
         "evaluate": ".runner", "train": ".runner"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
