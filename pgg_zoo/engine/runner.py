"""Training and evaluation of a task on mmengine's Runner."""
from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from mmengine.evaluator import Evaluator
from mmengine.runner import Runner
from torch.utils.data import DataLoader

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


def train(task: "Task") -> dict[str, float]:
    """Train ``task`` per its config; return the final evaluation metrics (test split)."""
    runner, recorder = build_runner(task, train=True)
    runner.train()
    return dict(recorder.last)


def evaluate(task: "Task", checkpoint: str | None = None, split: str = "test") -> dict[str, float]:
    """Evaluate the task's current model, or the weights in ``checkpoint``, on ``split``."""
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint {checkpoint} does not exist")
    runner, recorder = build_runner(task, train=False, checkpoint=checkpoint, split=split)
    metrics = runner.test()
    return {k: float(v) for k, v in (metrics or recorder.last).items()}
