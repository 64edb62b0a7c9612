"""mmengine hooks: progress bar, metrics recorder, atomic checkpoints, resumable train state."""
from __future__ import annotations

import json
import os
import random
import sys
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import is_model_wrapper
from tqdm.auto import tqdm

from ..atomic import write_text_atomic
from .distributed import is_main_process, rank_and_world


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
    """Keeps the last evaluation's metrics and writes them to the work dir.

    * ``metrics.json``: the latest evaluation (written to a temporary name and renamed, so a
      killed run never leaves half a file);
    * ``metrics.jsonl``: one line per evaluation (``epoch``, ``iter``, ``split``, ``metrics``),
      appended, so the history of a run (and of its resumed continuations) is kept.

    ``split`` is the data split the evaluation runs on (``"test"`` for a training run's final
    evaluation unless ``eval_split`` says otherwise), recorded as such: mmengine calls the
    evaluation during training its "val" loop whatever data it reads.

    Only the main process writes (metrics are already gathered across ranks by mmengine's
    evaluator).
    """

    priority = "LOW"

    def __init__(self, split: str = "test") -> None:
        self.split = split
        self.last: dict[str, float] = {}

    def _record(self, runner: Any, metrics: Any, split: str) -> None:
        if not metrics:
            return
        self.last = {k: float(v) for k, v in metrics.items()}
        if not is_main_process():
            return
        record = {"epoch": runner.epoch, "iter": runner.iter, "split": split,
                  "metrics": self.last}
        write_text_atomic(Path(runner.work_dir) / "metrics.json", json.dumps(record, indent=2))
        with open(Path(runner.work_dir) / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def after_val_epoch(self, runner: Any, metrics: Any = None) -> None:
        self._record(runner, metrics, self.split)

    def after_test_epoch(self, runner: Any, metrics: Any = None) -> None:
        self._record(runner, metrics, self.split)


class TrainedItersHook(Hook):
    """Counts the training iterations this call ran (a resumed, finished run runs none)."""

    def __init__(self) -> None:
        self.iters = 0

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                         outputs: Any = None) -> None:
        self.iters += 1


class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` that never leaves a half-written checkpoint behind.

    mmengine writes ``iter_N.pth`` in place and deletes the oldest kept checkpoint *before*
    writing the new one, so a run killed mid-write can be left with no usable checkpoint.
    Here the checkpoint is written to ``<name>.tmp`` and renamed (``os.replace``, atomic on
    POSIX), ``last_checkpoint`` is updated the same way (with a name relative to the run folder),
    and old checkpoints are deleted only
    after the new one is in place. A crash mid-write leaves at most a stale ``.tmp`` file,
    ignored by ``--resume`` (which reads ``last_checkpoint``) and overwritten next time.
    Non-local storage backends fall back to mmengine's behaviour.
    """

    def _save_checkpoint_with_step(self, runner: Any, step: int, meta: dict) -> None:
        if not isinstance(self.file_backend, LocalBackend):
            return super()._save_checkpoint_with_step(runner, step, meta)
        ckpt_filename = self.filename_tmpl.format(step)
        final = os.path.join(self.out_dir, ckpt_filename)
        drop: list[int] = []
        keep = deque(self.keep_ckpt_ids, maxlen=None)
        if self.max_keep_ckpts > 0 and not (keep and keep[-1] == step):
            keep.append(step)
            while len(keep) > self.max_keep_ckpts:
                drop.append(keep.popleft())
        # The message hub is saved inside the checkpoint: it must already name this one, so a
        # resumed run prunes the right files.
        runner.message_hub.update_info("keep_ckpt_ids", list(keep))
        runner.message_hub.update_info("last_ckpt", final)
        runner.save_checkpoint(self.out_dir, ckpt_filename + ".tmp", self.file_client_args,
                               save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler, meta=meta,
                               by_epoch=self.by_epoch, backend_args=self.backend_args,
                               **self.args)  # rank 0 only (master_only)
        self.keep_ckpt_ids = deque(keep, maxlen=self.keep_ckpt_ids.maxlen)
        self.last_ckpt = final
        if not is_main_process():
            return
        os.replace(final + ".tmp", final)
        # Relative to the folder: a copied or moved run folder resumes from its own files.
        write_text_atomic(os.path.join(runner.work_dir, "last_checkpoint"),
                          os.path.relpath(final, runner.work_dir))
        for old in drop:
            path = os.path.join(self.out_dir, self.filename_tmpl.format(old))
            if os.path.isfile(path):
                os.remove(path)


def _unwrap(model: Any) -> Any:
    return model.module if is_model_wrapper(model) else model


def synthesis_seed(seed: int, rank: int, iteration: int) -> int:
    """The seed of the synthesis generator at ``iteration`` on ``rank`` (a 63-bit mix)."""
    h = (int(seed) * 0x9E3779B97F4A7C15 + int(rank) * 0xBF58476D1CE4E5B9
         + int(iteration) * 0x94D049BB133111EB) & ((1 << 64) - 1)
    h ^= h >> 31
    return h & ((1 << 63) - 1)


class TrainStateHook(Hook):
    """Makes training resumable exactly and synthesis reproducible per rank.

    * **Synthesis randomness**: before every training iteration the model's generator
      (``PGGModel.generator``: pairings, boxes, random-mask control) is re-seeded with
      :func:`synthesis_seed` ``(seed, rank, iteration)``. Each rank draws different but
      reproducible pairings, and nothing about the generator has to be checkpointed: only
      rank 0 writes checkpoints (mmengine's ``save_checkpoint`` is ``master_only``), so a
      saved generator state could not restore the other ranks' streams.
    * **Global RNGs** (torch CPU and CUDA, NumPy, Python ``random``: dropout, dataset
      augmentation) and the lazy guidance schedule's step are saved in
      ``checkpoint["meta"]["pgg_train_state"]`` and restored at the start of the resumed loop
      (after mmengine's own resume logic, which may reseed).
    """

    priority = "VERY_HIGH"

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._pending: dict[str, Any] | None = None

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        model = _unwrap(runner.model)
        gen = getattr(model, "generator", None)
        if isinstance(gen, torch.Generator):
            gen.manual_seed(synthesis_seed(self.seed, rank_and_world()[0], runner.iter))

    @staticmethod
    def _lazy_schedule(runner: Any) -> Any:
        guidance = getattr(_unwrap(runner.model), "guidance", None)
        return getattr(guidance, "mode_options", {}).get("schedule") if guidance else None

    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        np_state = np.random.get_state()
        state: dict[str, Any] = {
            "torch": torch.get_rng_state(),
            # NumPy's state as plain ints and a tensor: loadable with weights_only=True.
            "numpy": (str(np_state[0]), torch.from_numpy(np_state[1].astype(np.int64)),
                      int(np_state[2]), int(np_state[3]), float(np_state[4])),
            "python": random.getstate(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        sched = self._lazy_schedule(runner)
        if sched is not None:
            state["lazy_step"] = int(sched.step)
        checkpoint.setdefault("meta", {})["pgg_train_state"] = state

    def after_load_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        self._pending = (checkpoint.get("meta") or {}).get("pgg_train_state")

    def before_train(self, runner: Any) -> None:
        state, self._pending = self._pending, None
        if not state:
            return
        torch.set_rng_state(state["torch"])
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        py = state["python"]
        random.setstate((py[0], tuple(py[1]), py[2]))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
        sched = self._lazy_schedule(runner)
        if sched is not None and "lazy_step" in state:
            sched.step = int(state["lazy_step"])
