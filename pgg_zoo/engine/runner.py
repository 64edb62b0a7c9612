"""Training and evaluation of a task on mmengine's Runner."""
from __future__ import annotations

import logging
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import torch
from mmengine.evaluator import Evaluator
from mmengine.runner import Runner
from torch.utils.data import DataLoader, Dataset, Subset

from ..data import dataset_labels, stratified_sample
from ..data.policy import apply_on_error
from .amp import PGGAmpOptimWrapper
from ..config.run import LOG_BACKENDS, OPTIMIZERS as OPTIMIZER_NAMES, RunConfig, parse_checkpoint_interval
from .distributed import (check_launcher, init_distributed, is_main_process, model_wrapper_cfg,
                          rank_and_world)
from .leakage import LeakageHook
from .hooks import (AtomicCheckpointHook, MetricsRecorderHook, ProgressHook, TrainedItersHook,
                    TrainStateHook)
from .loops import PGGEpochBasedTrainLoop, ResumableSampler
from .model import PGGModel
from ..weights_io import checkpoint_globals, load_weights_file, save_weights, torch_load_weights
# The protocol, not pgg_zoo.task.Task: the task layer imports the engine, never the reverse.
from .protocol import EngineTask as Task
from .run_folder import (WEIGHTS_FILE, claimed_run_folder, last_checkpoint, work_dir_of,
                         write_run_records)

#: torch.optim class names of the ``optimizer`` run option's values.
OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}
assert set(OPTIMIZERS) == set(OPTIMIZER_NAMES)


def _loader(task: "Task", ds: Dataset, train: bool) -> DataLoader:
    """The loader of a split's dataset ``ds`` (``task.dataset(split)``): ``limit_train`` /
    ``limit_test``, ``on_error`` policy, rank shard, per-epoch order from the seed.

    The sampler is mmengine's ``DefaultSampler`` (one permutation per epoch from
    ``seed + epoch``, split across ranks by stride, padded to equal length), made resumable
    mid-epoch. With ``world_size`` ranks of batch ``b`` a step trains on the same samples as
    one process with batch ``world_size * b``.
    """
    rc = task.run
    limit = rc.limit_train if train else rc.limit_test
    if limit is not None and limit < len(ds):
        ds = Subset(ds, limited_indices(len(ds), limit, spread=train))
    ds = apply_on_error(ds, rc.on_error)
    _, world = rank_and_world()
    bs = rc.batch_size
    sampler = ResumableSampler(ds, shuffle=train, seed=rc.seed, round_up=True)
    g = torch.Generator()  # worker seeds; re-seeded per epoch by the train loop
    g.manual_seed(rc.seed)
    per_rank = -(-len(ds) // world)
    return DataLoader(
        ds,
        batch_size=bs,
        sampler=sampler,
        drop_last=train and per_rank > bs,
        num_workers=rc.num_workers,
        collate_fn=task.collate,
        generator=g,
        persistent_workers=False,
    )


def _leakage_loader(task: "Task", split: str,
                    eval_ds: Dataset) -> tuple[DataLoader | None, bool]:
    """The held-out items gradient leakage is measured on, in a fixed order: a
    ``leakage_items`` class-stratified sample (:func:`~pgg_zoo.data.stratified_sample`, fixed
    seed) of ``task.leakage_dataset(split)``, or of the evaluation split itself (``eval_ds``,
    already built for the evaluation loader) when the task declares none; None when ``leakage_items`` is 0. The sample depends on the data alone, so
    paired runs, and every seed of a study, are measured on the same items. Also returns
    whether the items are the task's declared leakage data."""
    rc = task.run
    if not rc.leakage_items:
        return None, False
    ds = task.leakage_dataset(split)
    declared = ds is not None
    if ds is None:
        ds = eval_ds
    labels = dataset_labels(ds)
    keep = stratified_sample(labels if labels is not None else len(ds), rc.leakage_items)
    sample = apply_on_error(Subset(ds, keep), rc.on_error)
    # A generator of its own: iterating a loader draws a base seed, which must not come from
    # (and shift) the global random state training draws from.
    g = torch.Generator()
    g.manual_seed(rc.seed)
    return DataLoader(sample, batch_size=rc.batch_size, shuffle=False, num_workers=0,
                      collate_fn=task.collate, generator=g), declared


def limited_indices(n: int, limit: int, spread: bool) -> list[int]:
    """The items a ``limit_train`` / ``limit_test`` run keeps out of ``n``.

    Training keeps ``limit`` evenly spaced items: data sets are usually stored sorted by class,
    and a prefix would train on one class, where every synthesized pair shares its label and
    label-level provenance leaves guidance nothing to penalize. Evaluation keeps a prefix, so
    video tasks score whole videos (the metric only scores videos it saw).
    """
    if not spread:
        return list(range(limit))
    return sorted({int(i * n // limit) for i in range(limit)})


def _experiment_name(task: "Task") -> str:
    # mmengine keys its global logger/visualizer instances by this name: two runs in one
    # process (the demo) must not collide.
    return f"{task.name}_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:6]}"


def _optim_wrapper(rc: RunConfig) -> dict[str, Any]:
    opt: dict[str, Any] = dict(type=OPTIMIZERS[rc.optimizer], lr=float(rc.lr),
                               weight_decay=float(rc.weight_decay))
    if rc.optimizer == "sgd":
        opt.update(momentum=float(rc.momentum), nesterov=bool(rc.nesterov))
    # mmengine divides each micro-batch loss by accumulative_counts and skips DDP's gradient
    # all-reduce (no_sync) until the update step.
    wrapper: dict[str, Any] = dict(type="OptimWrapper", optimizer=opt,
                                   accumulative_counts=rc.accumulate)
    if rc.amp:
        # The penalty itself is reduced in fp32 (ProvenanceGuidance disables autocast).
        wrapper = dict(type=PGGAmpOptimWrapper, optimizer=opt, dtype=rc.amp,
                       accumulative_counts=rc.accumulate)
    if rc.lr_mult:
        # mmengine's paramwise rule: a parameter takes the factor of the longest key its
        # name contains (names as in the task model, e.g. "fc.weight", "features.body.30.bias")
        wrapper["paramwise_cfg"] = dict(custom_keys={
            k: dict(lr_mult=float(v)) for k, v in rc.lr_mult.items()})
    return wrapper


def _param_scheduler(rc: RunConfig) -> list[dict[str, Any]]:
    """The learning-rate schedule of ``rc.schedule`` (per iteration, from epoch units)."""
    if rc.schedule == "cosine":
        return [dict(type="CosineAnnealingLR", T_max=rc.epochs, by_epoch=True,
                     convert_to_iter_based=True)]
    if rc.schedule == "step":
        # wsolevaluation's schedule: lr x gamma every lr_step epochs
        return [dict(type="StepLR", step_size=rc.lr_step, gamma=rc.lr_gamma, by_epoch=True,
                     convert_to_iter_based=True)]
    return [dict(type="ConstantLR", factor=1.0, by_epoch=True)]


def _visualizer(rc: RunConfig) -> dict[str, Any]:
    """JSON scalars always (``LocalVisBackend``: ``<work_dir>/<timestamp>/vis_data/scalars.json``),
    plus TensorBoard event files with ``log_backend="tensorboard"``."""
    backend = rc.log_backend
    assert backend in LOG_BACKENDS
    backends: list[dict[str, Any]] = [dict(type="LocalVisBackend")]
    if backend == "tensorboard":
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            raise RuntimeError("log_backend 'tensorboard' needs the tensorboard package, which "
                               "is not installed (pip install tensorboard); the default 'json' "
                               "backend writes <work_dir>/<timestamp>/vis_data/scalars.json")
        backends.append(dict(type="TensorboardVisBackend"))
    return dict(type="Visualizer", vis_backends=backends)


def _resume_args(rc: RunConfig, work_dir: Path) -> dict[str, Any]:
    """Runner arguments for ``resume``: False/None (fresh run), True or ``"auto"`` (the
    checkpoint ``<work_dir>/last_checkpoint`` names, inside the folder; fresh if none), or a
    checkpoint path."""
    r = rc.resume_mode
    if r is None:
        return {}
    if r == "auto":
        found = last_checkpoint(work_dir)
        return dict(resume=True, load_from=str(found)) if found is not None else {}
    if not Path(r).is_file():
        raise FileNotFoundError(f"resume checkpoint {r} does not exist")
    return dict(resume=True, load_from=str(r))


def build_runner(task: "Task", *, train: bool = True, checkpoint: str | None = None,
                 split: str = "test") -> tuple[Runner, MetricsRecorderHook]:
    """An mmengine Runner for ``task``: train (with a final evaluation) or test only.

    With ``launcher`` other than ``"none"`` the process group is joined first (NCCL on GPUs,
    gloo on CPUs) so that the loaders can shard by rank; the Runner then wraps the model in
    DistributedDataParallel.
    """
    rc = task.run
    launcher = check_launcher(rc.launcher)
    init_distributed(launcher)
    rank, world = rank_and_world()
    work_dir = work_dir_of(task)
    work_dir.mkdir(parents=True, exist_ok=True)
    model: torch.nn.Module = PGGModel(task.model, task.synthesizer, task.guidance,
                                      seed=rc.seed)
    if rc.sync_bn and world > 1:
        if not torch.cuda.is_available():
            raise RuntimeError("sync_bn needs GPUs: torch's SyncBatchNorm does not run on CPU")
        # Converts BN layers of task.model in place (PGGModel holds the same module).
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    recorder = MetricsRecorderHook(split)
    eval_ds = task.dataset(split)
    leakage_loader, declared = _leakage_loader(task, split, eval_ds)
    interval, by_epoch = parse_checkpoint_interval(rc.checkpoint_interval, rc.epochs)
    kwargs: dict[str, Any] = dict(
        model=model,
        work_dir=str(work_dir),
        experiment_name=_experiment_name(task),
        randomness=dict(seed=rc.seed),
        launcher=launcher,
        default_hooks=dict(
            logger=dict(type="LoggerHook", interval=10),
            checkpoint=dict(type=AtomicCheckpointHook, interval=interval, by_epoch=by_epoch,
                            max_keep_ckpts=2),
        ),
        custom_hooks=[ProgressHook(desc=task.name), recorder, TrainStateHook(rc.seed),
                      LeakageHook(rc.seed, split, loader=leakage_loader, declared=declared)],
        visualizer=_visualizer(rc),
        # mmengine warns about things that do not apply here (no metainfo, no metric prefix);
        # the console shows our progress bars and metric tables instead. Logs: work_dir.
        log_level=logging.ERROR,
        default_scope="mmengine",
    )
    if world > 1:
        # mmengine reads the DDP wrapper's settings from its cfg (no Runner argument).
        kwargs["cfg"] = dict(model_wrapper_cfg=model_wrapper_cfg())
    if train:
        epochs = rc.epochs
        kwargs.update(
            train_dataloader=_loader(task, task.dataset("train"), train=True),
            # mmengine evaluates every val_interval epochs and always after the last one
            train_cfg=dict(type=PGGEpochBasedTrainLoop, max_epochs=epochs,
                           val_interval=rc.eval_interval or epochs),
            val_dataloader=_loader(task, eval_ds, train=False),
            val_cfg=dict(),
            val_evaluator=Evaluator(task.build_metrics()),
            optim_wrapper=_optim_wrapper(rc),
            param_scheduler=_param_scheduler(rc),
            **_resume_args(rc, work_dir),
        )
    else:
        kwargs.update(
            test_dataloader=_loader(task, eval_ds, train=False),
            test_cfg=dict(),
            test_evaluator=Evaluator(task.build_metrics()),
            load_from=checkpoint,
        )
    return Runner(**kwargs), recorder


def train(task: "Task") -> dict[str, float]:
    """Train ``task`` per its run options; return the final evaluation metrics (on ``eval_split``,
    by default the test split).

    The work dir (:func:`~pgg_zoo.engine.run_folder.work_dir_of`) must not hold another run
    unless ``resume`` is set (:func:`~pgg_zoo.engine.run_folder.check_run_folder`);
    ``run.json`` and ``config.yaml`` there record the task, the data and the options. Resuming a run that had already finished trains nothing, says so
    on stderr and evaluates its final weights again.

    Besides mmengine's checkpoints (``epoch_N.pth`` / ``iter_N.pth``, for ``resume``), the trained task model's
    weights are written to ``<work_dir>/model.safetensors`` (temporary name, then renamed):
    the file to evaluate, share or describe in a model card.
    """
    rc = task.run
    # Before anything is built or written: a folder in use or holding another run is refused,
    # not mixed, and it stays this run's until it ends.
    with claimed_run_folder(task) as (work_dir, had_run):
        resume = _resume_args(rc, work_dir)
        if is_main_process() and rc.resume_mode == "auto" and not resume:
            print(f"pgg-zoo: no checkpoint to resume in {work_dir}; training from the start",
                  file=sys.stderr)
        if resume:
            # mmengine unpickles the checkpoint itself; read it here first with the same
            # weights-only rules, so a hostile file is refused before mmengine sees it.
            torch_load_weights(resume["load_from"], mmengine=True)
        runner, recorder = build_runner(task, train=True, split=rc.eval_split)
        progress = TrainedItersHook()
        runner.register_hook(progress)
        main = is_main_process()
        if main:
            write_run_records(task, work_dir)
        # Resuming reads mmengine checkpoints with torch.load(weights_only=True).
        with checkpoint_globals():
            runner.train()
            if had_run and resume and progress.iters == 0:
                # The resumed run had already finished: mmengine trains nothing and evaluates
                # nothing, so evaluate its final weights again rather than return no metrics.
                if main:
                    print(f"pgg-zoo: the run in {work_dir} had already finished training "
                          f"({runner.epoch}/{runner.max_epochs} epochs); nothing was trained, "
                          "its final weights were evaluated again", file=sys.stderr)
                runner.val_loop.run()
        if main:  # every rank holds the same weights; one writer
            save_weights(task.model, Path(runner.work_dir) / WEIGHTS_FILE)
    return dict(recorder.last)


def evaluate(task: "Task", checkpoint: str | None = None, split: str = "test") -> dict[str, float]:
    """Evaluate the task's current model, or the weights in ``checkpoint``, on ``split``.

    ``checkpoint`` is a ``model.safetensors`` written by training, an mmengine ``epoch_N.pth``
    checkpoint, or a plain ``torch.save``-d state dict. Every format loads strictly
    (:func:`pgg_zoo.weights_io.load_weights_file`): weights of another backbone, task or class
    count raise :class:`~pgg_zoo.weights_io.WeightsMismatchError` listing the missing and
    unexpected keys and the shape mismatches, before anything is evaluated or written.
    """
    if checkpoint is not None:
        load_weights_file(task.model, checkpoint)
    runner, recorder = build_runner(task, train=False, split=split)
    with checkpoint_globals():
        metrics = runner.test()
    return {k: float(v) for k, v in (metrics or recorder.last).items()}
