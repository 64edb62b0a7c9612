"""Training and evaluation of a task on mmengine: the Runner's assembly (:mod:`.runner`), the
run folder (:mod:`.run_folder`), the guided model (:mod:`.model`), hooks, loops, AMP and
process groups. The run options it reads are :class:`pgg_zoo.config.RunConfig`.

The loop's names are imported on first use: importing the package must not pull in mmengine's
Runner.
"""
from __future__ import annotations

from typing import Any

__all__ = ["PGGModel", "build_runner", "default_work_dir", "evaluate", "train"]

_LAZY = {"PGGModel": ".model", "build_runner": ".runner", "default_work_dir": ".run_folder",
         "evaluate": ".runner", "train": ".runner"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
