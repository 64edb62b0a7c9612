"""``pgg-zoo train | eval | demo``."""
from __future__ import annotations

import argparse
import json
from typing import Any

from ..config import run_option_names
from ..task import build

#: Task options with a flag of their own (the run options' flags are found by name: a flag's
#: ``dest`` is the option it sets).
TASK_OPTION_FLAGS = ("backbone", "synthesizer", "alpha", "guidance_mask", "guidance_mode")


def _task_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The options the command line sets: flags given, then ``--set`` (which wins)."""
    out: dict[str, Any] = {}
    for key in (*TASK_OPTION_FLAGS, *run_option_names()):
        v = getattr(args, key, None)
        # store_true flags (sync_bn) are False when absent: only a given flag overrides
        if v is not None and v is not False:
            out[key] = v
    if getattr(args, "no_guidance", False):
        out["guidance"] = False
    out.update(parse_set_options(getattr(args, "set", None) or []))
    return out


def parse_set_options(items: list[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` items as task options: values parsed as JSON, else kept as text."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def _add_task_flags(p: argparse.ArgumentParser, train: bool = True) -> None:
    if train:
        p.add_argument("task", nargs="?",
                       help="task name (see `pgg-zoo list`); optional with --config / --recipe")
        src = p.add_mutually_exclusive_group()
        src.add_argument("--config", metavar="FILE",
                         help="a run configuration (YAML: task, task_options, run), e.g. a run "
                              "folder's config.yaml; flags and --set override its values")
        src.add_argument("--recipe", metavar="NAME",
                         help="a shipped run configuration (`pgg-zoo recipes`); needs "
                              "--data-root; flags and --set override its values")
    else:
        p.add_argument("task", help="a run folder (written by `pgg-zoo train`) or a task name")
    p.add_argument("--backbone")
    p.add_argument("--data-root", dest="data_root",
                   help="dataset folder (default: the task's embedded benchmark)")
    p.add_argument("--work-dir", dest="work_dir")
    if train:
        p.add_argument("--allow-unverified", dest="allow_unverified", action="store_true",
                       help="accept card weights (weights=, pretrained=) whose card records no "
                            "verified sha256 (upstream files nobody here could hash)")
    p.add_argument("--seed", type=int)
    p.add_argument("--batch-size", dest="batch_size", type=int)
    p.add_argument("--num-workers", dest="num_workers", type=int)
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any other task option (JSON values), repeatable")
    if train:
        p.add_argument("--synthesizer")
        p.add_argument("--alpha", type=float)
        p.add_argument("--no-guidance", action="store_true", help="train without the penalty")
        p.add_argument("--guidance-mask", dest="guidance_mask",
                       choices=["provenance", "random", "none"])
        p.add_argument("--guidance-mode", dest="guidance_mode")
        p.add_argument("--epochs", type=int)
        p.add_argument("--lr", type=float)
        p.add_argument("--amp", choices=["bf16", "fp16"],
                       help="mixed precision (the guidance penalty stays in fp32)")
        p.add_argument("--accumulate", type=int, metavar="N",
                       help="gradient accumulation: N micro-batches per optimizer step")
        p.add_argument("--sync-bn", dest="sync_bn", action="store_true",
                       help="SyncBatchNorm across ranks (GPUs, launcher != none)")
        p.add_argument("--checkpoint-interval", dest="checkpoint_interval", metavar="N|Ne",
                       help="checkpoint every N iterations, or every N epochs with 'Ne' "
                            "(default: at the end)")
        p.add_argument("--resume", nargs="?", const="auto", metavar="CHECKPOINT",
                       help="continue training: from CHECKPOINT, or (no value) from the work "
                            "dir's last checkpoint")
        p.add_argument("--log-backend", dest="log_backend", choices=["json", "tensorboard"],
                       help="scalars as JSON lines (default) or also TensorBoard events")
    p.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"],
                   help="distributed launcher: pytorch under torchrun, slurm under srun, mpi "
                        "under mpirun (docs/distributed.md)")
    p.add_argument("--on-error", dest="on_error", choices=["raise", "skip"],
                   help="corrupted samples: stop (default) or skip and report")


def _print_metrics(split: str, metrics: dict[str, float]) -> None:
    # Every task reports its metrics in percent (docs/index.md, "Units").
    print(f"{split} metrics (percent):")
    for k, v in metrics.items():
        print(f"  {k}: {v:.3f}")


def _train(args: argparse.Namespace) -> int:
    from ..task import build_from_config

    overrides = _task_overrides(args)
    allow = bool(getattr(args, "allow_unverified", False))
    if args.recipe:
        from ..recipes import get_recipe

        recipe = get_recipe(args.recipe)
        if overrides.get("data_root") is None and recipe.config.run.get("data_root") is None:
            data = recipe.config.data or "its data set"
            raise ValueError(f"recipe {recipe.name!r} trains on {data}: give its folder with "
                             "--data-root PATH")
        task = build_from_config(recipe.config, task=args.task, allow_unverified=allow,
                                 **overrides)
    elif args.config:
        task = build_from_config(args.config, task=args.task, allow_unverified=allow,
                                 **overrides)
    elif args.task is None:
        raise ValueError("train needs a task name (see `pgg-zoo list`), --config FILE or "
                         "--recipe NAME")
    else:
        task = build(args.task, allow_unverified=allow, **overrides)
    print(f"training {task!r}")
    metrics = task.train()
    _print_metrics(str(task.run.eval_split), metrics)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..task import load_run

    if Path(args.task).is_dir():  # a run folder: its run.json and model.safetensors
        task = load_run(args.task, checkpoint=args.checkpoint, **_task_overrides(args))
        split = args.split or str(task.run.eval_split)
        print(f"evaluating {task!r} from {args.task}")
        metrics = task.evaluate(split=split)
        _print_metrics(split, metrics)
        return 0
    task = build(args.task, **_task_overrides(args))
    split = args.split or "test"
    metrics = task.evaluate(checkpoint=args.checkpoint, split=split)
    _print_metrics(split, metrics)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ..study import demo

    overrides = _task_overrides(args)
    overrides.pop("work_dir", None)
    demo(args.task, out_dir=args.out_dir, **overrides)
    return 0


def _ablate(args: argparse.Namespace) -> int:
    from ..study import ALPHAS, ablate

    overrides = _task_overrides(args)
    overrides.pop("work_dir", None)
    alphas = tuple(args.alphas) if args.alphas else ALPHAS
    ablate(args.task, out_dir=args.out_dir, alphas=alphas, **overrides)
    return 0


def _modes(args: argparse.Namespace) -> int:
    from ..registry import TASKS
    from ..study import compare_modes

    overrides = _task_overrides(args)
    overrides.pop("work_dir", None)
    declared = TASKS.get(args.task).study_variants("modes")
    names = args.modes or list(declared)
    unknown = [m for m in names if m not in declared]
    if unknown:
        raise ValueError(f"unknown mode variant(s) {unknown} of {args.task}; choose from "
                         f"{list(declared)}")
    # the declared variants are complete runs (guided variant + mode), so pass them whole
    compare_modes(args.task, out_dir=args.out_dir,
                  modes={m: declared[m] for m in names}, **overrides)
    return 0


def _alpha(args: argparse.Namespace) -> int:
    from ..study import ALPHA_GRID, alpha_study

    overrides = _task_overrides(args)
    overrides.pop("work_dir", None)
    overrides.pop("seed", None)
    alpha_study(args.task, out_dir=args.out_dir, seeds=tuple(args.seeds),
                test_seeds=tuple(args.test_seeds), alphas=tuple(args.alphas or ALPHA_GRID),
                metric=args.metric, **overrides)
    return 0


def _add_study_flags(p: argparse.ArgumentParser, out_dir: str, alpha_help: str | None) -> None:
    """Flags shared by the commands that train several variants (demo, ablate)."""
    p.add_argument("task", nargs="?", default="wsol")
    p.add_argument("--out-dir", dest="out_dir", default=out_dir)
    p.add_argument("--seed", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--backbone")
    p.add_argument("--alpha", type=float, help=alpha_help)
    p.add_argument("--set", action="append", metavar="KEY=VALUE")


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a task (default: its embedded benchmark)")
    _add_task_flags(p)
    p.set_defaults(func=_train)

    p = sub.add_parser("eval", help="evaluate a run folder (`pgg-zoo eval RUN_DIR`: its "
                                    "run.json and model.safetensors) or a checkpoint")
    _add_task_flags(p, train=False)
    p.add_argument("--checkpoint", help="weights written by `pgg-zoo train`: model.safetensors "
                                        "or an epoch_N.pth (loaded strictly); with RUN_DIR, "
                                        "instead of its model.safetensors")
    p.add_argument("--split", help="default: test, or for RUN_DIR the split the run evaluated on")
    p.set_defaults(func=_eval)

    p = sub.add_parser("demo", help="CutMix vs CutMix + guidance on the embedded benchmark")
    _add_study_flags(p, "work_dirs/demo", alpha_help=None)
    p.set_defaults(func=_demo)

    p = sub.add_parser("ablate", help="the task's mask ablation (declared by the task: its synthesis "
                                      "without and with guidance, the random-mask and no-mask "
                                      "controls) and an alpha sweep")
    _add_study_flags(p, "work_dirs/ablate", alpha_help="alpha of the mask-ablation runs")
    p.add_argument("--alphas", type=float, nargs="+", help="alpha sweep (default 0 .01 .03 .05 .09)")
    p.add_argument("--data-root", dest="data_root")
    p.set_defaults(func=_ablate)

    p = sub.add_parser("alpha", help="choose alpha on a validation split (carved from the "
                                     "training data when the data set has none), then report "
                                     "the chosen alpha's test numbers over paired seeds")
    _add_study_flags(p, "work_dirs/alpha", alpha_help=argparse.SUPPRESS)
    p.add_argument("--alphas", type=float, nargs="+",
                   help="alpha grid (default 1e-3 1e-2 1e-1 1 10 100 1000)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                   help="selection seeds (default 0 1 2)")
    p.add_argument("--test-seeds", dest="test_seeds", type=int, nargs="+",
                   default=[0, 1, 2, 3, 4], help="paired test seeds (default 0 1 2 3 4)")
    p.add_argument("--metric", help="validation metric to maximize (default: the task's)")
    p.add_argument("--data-root", dest="data_root")
    p.set_defaults(func=_alpha)

    p = sub.add_parser("modes", help="synthesis + guidance with each guidance computation mode "
                                     "(exact vs the cheap estimates), same data and seed")
    _add_study_flags(p, "work_dirs/modes", alpha_help=None)
    p.add_argument("--modes", nargs="+", metavar="NAME",
                   help="subset of the task's mode variants (default for every task: "
                        "no-guidance exact lazy4[exact] one_label lazy4[one_label]; default: all)")
    p.set_defaults(func=_modes)
