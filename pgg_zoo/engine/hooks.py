"""mmengine hooks: a progress bar and a recorder of evaluation metrics."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from mmengine.hooks import Hook
from tqdm.auto import tqdm


def _progress_enabled() -> bool | None:
    env = os.environ.get("PGG_ZOO_PROGRESS")
    if env is None:
        return None  # tqdm decides: shown on a terminal, hidden in logs
    return env not in ("0", "")


class ProgressHook(Hook):
    """A tqdm bar per training epoch (with the running losses) and per evaluation."""

    priority = "VERY_LOW"

    def __init__(self, desc: str = "") -> None:
        self.desc = desc
        self._bar: Any = None

    def _open(self, total: int, desc: str) -> None:
        show = _progress_enabled()
        self._bar = tqdm(total=total, desc=desc, leave=False, file=sys.stderr,
                         disable=None if show is None else not show, dynamic_ncols=True)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def before_train_epoch(self, runner: Any) -> None:
        ep = runner.epoch + 1
        self._open(len(runner.train_dataloader), f"{self.desc} epoch {ep}/{runner.max_epochs}")

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                         outputs: Any = None) -> None:
        if self._bar is None:
            return
        if outputs:
            self._bar.set_postfix({k: f"{float(v.detach() if hasattr(v, 'detach') else v):.3f}" for k, v in outputs.items()}, refresh=False)
        self._bar.update(1)

    def after_train_epoch(self, runner: Any) -> None:
        self._close()

    def before_val_epoch(self, runner: Any) -> None:
        self._open(len(runner.val_dataloader), f"{self.desc} evaluating")

    def before_test_epoch(self, runner: Any) -> None:
        self._open(len(runner.test_dataloader), f"{self.desc} evaluating")

    def after_val_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                       outputs: Any = None) -> None:
        if self._bar is not None:
            self._bar.update(1)

    after_test_iter = after_val_iter

    def after_val_epoch(self, runner: Any, metrics: Any = None) -> None:
        self._close()

    after_test_epoch = after_val_epoch


class MetricsRecorderHook(Hook):
    """Keeps the last evaluation's metrics and writes them to ``work_dir/metrics.json``.

    Written to a temporary name and renamed, so a killed run never leaves half a file.
    """

    priority = "LOW"

    def __init__(self) -> None:
        self.last: dict[str, float] = {}

    def _record(self, runner: Any, metrics: Any) -> None:
        if not metrics:
            return
        self.last = {k: float(v) for k, v in metrics.items()}
        path = Path(runner.work_dir) / "metrics.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"epoch": runner.epoch, "iter": runner.iter,
                                   "metrics": self.last}, indent=2))
        os.replace(tmp, path)

    def after_val_epoch(self, runner: Any, metrics: Any = None) -> None:
        self._record(runner, metrics)

    def after_test_epoch(self, runner: Any, metrics: Any = None) -> None:
        self._record(runner, metrics)
