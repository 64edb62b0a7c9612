"""Training and evaluation of a task on mmengine's Runner."""
from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import torch
from mmengine.evaluator import Evaluator
from mmengine.runner import Runner
from torch.utils.data import DataLoader, Subset

from .hooks import MetricsRecorderHook, ProgressHook
from .model import PGGModel

if TYPE_CHECKING:
    from ..task import Task

OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}


def default_work_dir(task: "Task") -> Path:
    """``work_dirs/<task>/<backbone>_<synth>_<guided|plain>_s<seed>`` below the current folder."""
    c = task.config
    guided = f"pgg{c['alpha']:g}-{c['guidance_mask']}" if task.guidance.active else "plain"
    return Path("work_dirs") / task.name / f"{c['backbone']}_{c['synthesizer']}_{guided}_s{c['seed']}"


def _loader(task: "Task", split: str, train: bool) -> DataLoader:
    c = task.config
    ds = task.build_dataset(split)
    limit = c.get("limit_train" if train else "limit_test")
    if limit is not None and int(limit) < len(ds):
        ds = Subset(ds, range(int(limit)))
    g = torch.Generator()
    g.manual_seed(int(c["seed"]))
    return DataLoader(
        ds,
        batch_size=int(c["batch_size"]),
        shuffle=train,
        drop_last=train and len(ds) > int(c["batch_size"]),
        num_workers=int(c["num_workers"]),
        collate_fn=task.collate,
        generator=g,
        persistent_workers=False,
    )


def _experiment_name(task: "Task") -> str:
    # mmengine keys its global logger/visualizer instances by this name: two runs in one
    # process (the demo) must not collide.
    return f"{task.name}_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:6]}"


def _optim_wrapper(task: "Task") -> dict[str, Any]:
    c = task.config
    name = str(c.get("optimizer", "adamw")).lower()
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {sorted(OPTIMIZERS)}")
    opt: dict[str, Any] = dict(type=OPTIMIZERS[name], lr=float(c["lr"]),
                               weight_decay=float(c["weight_decay"]))
    if name == "sgd":
        opt["momentum"] = 0.9
    wrapper: dict[str, Any] = dict(type="OptimWrapper", optimizer=opt)
    amp = c.get("amp")
    if amp:
        # The penalty itself is reduced in fp32 (ProvenanceGuidance disables autocast).
        wrapper = dict(type="AmpOptimWrapper", optimizer=opt,
                       dtype={"bf16": "bfloat16", "fp16": "float16"}.get(amp, amp))
    return wrapper


def build_runner(task: "Task", *, train: bool = True, checkpoint: str | None = None,
                 split: str = "test") -> tuple[Runner, MetricsRecorderHook]:
    """An mmengine Runner for ``task``: train (with a final evaluation) or test only."""
    c = task.config
    work_dir = Path(c["work_dir"] or default_work_dir(task))
    work_dir.mkdir(parents=True, exist_ok=True)
    model = PGGModel(task.model, task.synthesizer, task.guidance, seed=int(c["seed"]))
    recorder = MetricsRecorderHook()
    kwargs: dict[str, Any] = dict(
        model=model,
        work_dir=str(work_dir),
        experiment_name=_experiment_name(task),
        randomness=dict(seed=int(c["seed"])),
        default_hooks=dict(
            logger=dict(type="LoggerHook", interval=10),
            checkpoint=dict(type="CheckpointHook", interval=int(c["epochs"]), max_keep_ckpts=2),
        ),
        custom_hooks=[ProgressHook(desc=task.name), recorder],
        log_level=logging.WARNING,
        default_scope="mmengine",
    )
    if train:
        epochs = int(c["epochs"])
        kwargs.update(
            train_dataloader=_loader(task, "train", train=True),
            train_cfg=dict(by_epoch=True, max_epochs=epochs, val_interval=epochs),
            val_dataloader=_loader(task, split, train=False),
            val_cfg=dict(),
            val_evaluator=Evaluator(task.build_metrics()),
            optim_wrapper=_optim_wrapper(task),
            param_scheduler=[dict(type="CosineAnnealingLR", T_max=epochs, by_epoch=True,
                                  convert_to_iter_based=True)],
        )
    else:
        kwargs.update(
            test_dataloader=_loader(task, split, train=False),
            test_cfg=dict(),
            test_evaluator=Evaluator(task.build_metrics()),
            load_from=checkpoint,
        )
    return Runner(**kwargs), recorder


WEIGHTS_FILE = "model.safetensors"


def train(task: "Task") -> dict[str, float]:
    """Train ``task`` per its config; return the final evaluation metrics (test split).

    Besides mmengine's checkpoints (``epoch_N.pth``, for resuming), the trained task model's
    weights are written to ``<work_dir>/model.safetensors`` (temporary name, then renamed):
    the file to evaluate, share or describe in a model card.
    """
    runner, recorder = build_runner(task, train=True)
    runner.train()
    save_weights(task.model, Path(runner.work_dir) / WEIGHTS_FILE)
    return dict(recorder.last)


def save_weights(model: torch.nn.Module, path: Path) -> Path:
    """Write ``model``'s state dict as safetensors, atomically."""
    from safetensors.torch import save_file

    tmp = path.with_name(path.name + ".tmp")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp))
    os.replace(tmp, path)
    return path


def load_weights_file(model: torch.nn.Module, path: str | Path) -> None:
    """Load a ``.safetensors`` state dict strictly; errors list missing/unexpected keys."""
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise ValueError(f"{path}: not a readable safetensors file ({exc})") from None
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(state)) if state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        raise ValueError(
            f"{path} does not fit the model: missing keys {missing[:10]}, unexpected keys "
            f"{unexpected[:10]}, shape mismatches {shapes[:10]} (counts {len(missing)}, "
            f"{len(unexpected)}, {len(shapes)})"
        )
    model.load_state_dict(state, strict=True)


@contextlib.contextmanager
def _mmengine_checkpoint_globals() -> Iterator[None]:
    """Let ``torch.load(weights_only=True)`` read mmengine's own checkpoints.

    Since torch 2.6 ``weights_only=True`` is the default and mmengine 0.10's checkpoints hold a
    ``HistoryBuffer`` and NumPy arrays (mmengine#1655). Allowing exactly those types keeps
    arbitrary pickled code out.
    """
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer

    allowed: list[Any] = [HistoryBuffer, np.ndarray, np.dtype, getattr]
    core = getattr(np, "_core", None) or np.core
    allowed += [core.multiarray._reconstruct, core.multiarray.scalar]
    allowed += [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool")]
    with torch.serialization.safe_globals(allowed):
        yield


def evaluate(task: "Task", checkpoint: str | None = None, split: str = "test") -> dict[str, float]:
    """Evaluate the task's current model, or the weights in ``checkpoint``, on ``split``.

    ``checkpoint`` is a ``model.safetensors`` written by training, or an mmengine
    ``epoch_N.pth`` checkpoint.
    """
    load_from = None
    if checkpoint is not None:
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(f"checkpoint {checkpoint} does not exist")
        if str(checkpoint).endswith(".safetensors"):
            load_weights_file(task.model, checkpoint)
        else:
            load_from = str(checkpoint)
    runner, recorder = build_runner(task, train=False, checkpoint=load_from, split=split)
    with _mmengine_checkpoint_globals():
        metrics = runner.test()
    return {k: float(v) for k, v in (metrics or recorder.last).items()}
