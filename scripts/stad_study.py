"""The STAD study of docs/results.md ("STAD: stad-scenes-v1"): ablation variants over paired
seeds, and the convergence of the guided run.

    python scripts/stad_study.py --out runs/stad_scenes/study --seeds 0 1 2 3 4 --alpha 1 \
        --variants paste paste+pgg paste+random-mask paste+no-mask --convergence paste+pgg
    python scripts/stad_study.py --out runs/stad_scenes/study --seeds 0 1 2 3 4 --report

Variants are the STAD task's ablation (``STADTask.study_variants("ablate")``: no-mix, paste,
paste+pgg, paste+random-mask, paste+no-mask); guided ones run at ``--alpha``. Every run:
``benchmark=stad-scenes-v1``, the task's defaults, evaluated on test. Per seed,
``<out>/s<seed>/metrics.json`` has the layout of ``pgg-zoo demo`` (``task``, ``seed``,
``variants``, ``results``), so ``python scripts/summarize_runs.py --paired-to paste
<out>/s*`` aggregates it. A variant whose folder holds a finished run is read, not retrained.

Convergence (``--convergence V ...``): those variants keep a checkpoint after every epoch
(``checkpoint_interval="1e"``; the engine keeps the last two, so this script keeps all), and
each epoch's checkpoint is evaluated on test afterwards (``<run>/epochs.jsonl``). ``--report``
prints, per seed, the first epoch at which the guided run's test frame-mAP reaches the
paste-alone run's final value (the paper's "epochs to converge").
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pgg_zoo
from pgg_zoo.study import epochs_to_reach, read_curve, run_paired, variant_dir_name

METRIC = "frame_map@0.5[act]"
COMMON = {"benchmark": "stad-scenes-v1", "eval_split": "test"}


def keep_every_checkpoint() -> None:
    """Make the engine's checkpoint hook keep all epoch checkpoints (it keeps two)."""
    from pgg_zoo.engine import hooks

    hook = hooks.AtomicCheckpointHook
    if getattr(hook, "_keeps_all", False):
        return
    original = hook._save_checkpoint_with_step

    def save(self: Any, runner: Any, step: int, meta: dict) -> None:
        self.max_keep_ckpts = -1
        return original(self, runner, step, meta)

    hook._save_checkpoint_with_step = save
    hook._keeps_all = True


def variant_config(name: str, alpha: float) -> dict[str, Any]:
    from pgg_zoo_tasks.stad.task import STADTask

    variants = STADTask.study_variants("ablate")
    if name not in variants:
        raise SystemExit(f"unknown variant {name!r}: use {sorted(variants)}")
    v = dict(variants[name])
    if v.get("guidance"):
        v["alpha"] = alpha
    return v


def evaluate_epochs(work: Path, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Test metrics of every ``epoch_N.pth`` in ``work`` (written to ``work/epochs.jsonl``)."""
    out_file = work / "epochs.jsonl"
    done = {json.loads(line)["epoch"]: json.loads(line)
            for line in out_file.read_text().splitlines()} if out_file.is_file() else {}
    for ckpt in sorted(work.glob("epoch_*.pth"), key=lambda p: int(p.stem.split("_")[1])):
        epoch = int(ckpt.stem.split("_")[1])
        if epoch in done:
            continue
        task = pgg_zoo.build("stad", **{**cfg, "work_dir": str(work / "epoch_eval" / f"e{epoch}"),
                                        "leakage_items": 0})
        metrics = task.evaluate(checkpoint=str(ckpt), split="test")
        done[epoch] = {"epoch": epoch, "metrics": {k: float(v) for k, v in metrics.items()}}
        with open(out_file, "a") as f:
            f.write(json.dumps(done[epoch]) + "\n")
    return [done[e] for e in sorted(done)]


def run(args: argparse.Namespace) -> None:
    from pgg_zoo.cli.run import parse_set_options

    common = {**COMMON, **parse_set_options(args.set)}
    if args.convergence:
        keep_every_checkpoint()
    variants = {}
    for name in args.variants:
        variants[name] = variant_config(name, args.alpha)
        if name in args.convergence:
            variants[name]["checkpoint_interval"] = "1e"
    run_paired("stad", variants, args.out, args.seeds, common)
    for seed in args.seeds:
        folder = args.out / f"s{seed}"
        for name in args.convergence:
            work = folder / variant_dir_name(name)
            cfg = {**common, **variant_config(name, args.alpha), "seed": seed}
            curve = evaluate_epochs(work, cfg)
            print(f"[s{seed} {name}] per-epoch test {METRIC}: "
                  + ", ".join(f"{r['metrics'][METRIC]:.1f}" for r in curve), flush=True)


def report(args: argparse.Namespace) -> None:
    """Per seed: paste's final metric, the guided run's per-epoch curve, epochs to reach it."""
    print(f"| seed | paste final {METRIC} | {args.guided} per epoch | epochs to reach |")
    print("|---|---|---|---|")
    reached = []
    for seed in args.seeds:
        folder = args.out / f"s{seed}"
        m = json.loads((folder / "metrics.json").read_text())["results"]
        target = m[args.baseline][METRIC]
        epochs = read_curve(folder / variant_dir_name(args.guided) / "epochs.jsonl")
        curve = [m[METRIC] for _, m in epochs]
        hit = epochs_to_reach(epochs, METRIC, target)
        reached.append(hit)
        print(f"| {seed} | {target:.2f} | " + ", ".join(f"{v:.1f}" for v in curve)
              + f" | {hit if hit is not None else 'not reached'} |")
    print(f"\nreached in fewer than {len(curve)} epochs on "
          f"{sum(1 for h in reached if h is not None and h < len(curve))} of {len(reached)} seeds")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--variants", nargs="+", default=[])
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--convergence", nargs="*", default=[], metavar="VARIANT",
                    help="variants whose every epoch is evaluated on test")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="another task option for every run (e.g. head_context=global)")
    ap.add_argument("--report", action="store_true", help="print the convergence table")
    ap.add_argument("--guided", default="paste+pgg")
    ap.add_argument("--baseline", default="paste")
    args = ap.parse_args(argv)
    if args.report:
        report(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
