"""The fine-grained WSOL study of docs/wsol.md: the ablation variants over paired seeds.

    python scripts/wsol_study.py --out runs/wsol_fg/study --seeds 0 1 2 3 4 \
        --variants cutmix cutmix+pgg cutmix+random-mask cutmix+no-mask \
        --set benchmark=wsol-finegrained-v1 --set image_size=40 --set alpha=1 --eval-every 1

Variants: the WSOL task's ablation (``WSOLTask.study_variants("ablate")``: no-mix, cutmix,
cutmix+pgg, cutmix+random-mask, cutmix+no-mask). Per seed, ``<out>/s<seed>/metrics.json`` has
the layout of ``pgg-zoo demo`` (``task``, ``seed``, ``variants``, ``results``), so
``python scripts/summarize_runs.py --paired-to cutmix <out>/s*`` aggregates it. A variant whose
run folder already holds a finished run is read, not retrained (an interrupted study continues).

``--eval-every N`` also evaluates on the run's evaluation split after every N epochs (each
evaluation is a line of the run's ``metrics.jsonl``; the engine's ``eval_interval`` run
option), for the convergence measure
(``--convergence``: epochs for a variant to reach the reference variant's final metric). The
engine has no such option yet, so this script sets the validation interval of mmengine's train
loop for the runs it starts; evaluation does not touch the training data order, the synthesis
draws or the weights, so the runs stay paired.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from pgg_zoo.cli.run import parse_set_options
from pgg_zoo.study import epochs_to_reach, read_curve, run_paired, variant_dir_name


def run(args: argparse.Namespace) -> None:
    from pgg_zoo_tasks.wsol.task import WSOLTask

    common = parse_set_options(args.set)
    ablation = WSOLTask.study_variants("ablate")
    unknown = [v for v in args.variants if v not in ablation]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}: use {sorted(ablation)}")
    if args.eval_every:
        common["eval_interval"] = args.eval_every
    run_paired("wsol", {v: dict(ablation[v]) for v in args.variants}, args.out, args.seeds, common)


def convergence(args: argparse.Namespace) -> None:
    """Per seed: epochs for each variant to reach the reference variant's final metric."""
    ref = args.convergence
    print(f"Epochs to reach {ref}'s final value (first evaluation >= it; '-' never)\n")
    for metric in args.metrics:
        print(f"### {metric}\n")
        cols = [v for v in args.variants if v != ref]
        print("| seed | " + f"{ref} final | {ref} reaches it at | "
              + " | ".join(f"{v} reaches it at" for v in cols) + " |")
        print("|---|---|---|" + "---|" * len(cols))
        for seed in args.seeds:
            folder = args.out / f"s{seed}"
            href = read_curve(folder / variant_dir_name(ref) / "metrics.jsonl")
            target = href[-1][1][metric]
            cells = [f"{target:.2f}", str(epochs_to_reach(href, metric, target))]
            for v in cols:
                e = epochs_to_reach(read_curve(folder / variant_dir_name(v) / "metrics.jsonl"),
                                    metric, target)
                cells.append("-" if e is None else str(e))
            print(f"| {seed} | " + " | ".join(cells) + " |")
        print()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--variants", nargs="+", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="task options common to every variant (JSON values)")
    ap.add_argument("--eval-every", type=int, default=0, metavar="N",
                    help="also evaluate every N epochs (metrics.jsonl), for --convergence")
    ap.add_argument("--convergence", metavar="VARIANT",
                    help="do not train: print epochs-to-reach VARIANT's final metric")
    ap.add_argument("--metrics", nargs="+", default=["top1", "maxboxacc_v2"])
    args = ap.parse_args(argv)
    if args.convergence:
        convergence(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
