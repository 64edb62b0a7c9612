"""Mean and spread over seeds of `pgg-zoo demo | ablate | modes` runs: a markdown table per task.

    python scripts/summarize_runs.py work_dirs/demo_s0 work_dirs/demo_s1 work_dirs/demo_s2
    python scripts/summarize_runs.py --paired-to cutmix work_dirs/ablate_s0 ... # differences

``--paired-to VARIANT`` adds a second table: every variant minus VARIANT, seed by seed (the
runs of one seed share data order, synthesis draws and initial weights, so paired differences
remove most of the seed-to-seed spread).
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from pgg_zoo.stats import mean_std


def _cell(v: np.ndarray, signed: bool = False) -> str:
    """:func:`pgg_zoo.stats.mean_std`, followed by the per-seed values when there are several."""
    if len(v) < 2:
        return mean_std(v, signed=signed)
    per = ", ".join(("{:+.1f}" if signed else "{:.1f}").format(x) for x in v)
    return f"{mean_std(v, signed=signed)} [{per}]"


def _table(rows: dict[str, dict[str, np.ndarray]], columns: list[str], signed: bool) -> None:
    print("| variant | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for variant, metrics in rows.items():
        cells = [_cell(np.asarray(metrics.get(c, [])), signed) for c in columns]
        print(f"| {variant} | " + " | ".join(cells) + " |")


def penalty_share(work_dir: Path) -> float | None:
    """Mean of ``loss_pgg / loss`` (percent) over the training log lines of the latest run in
    ``work_dir`` (mmengine's ``<timestamp>/vis_data/scalars.json``); None without guidance."""
    logs = sorted(work_dir.glob("*/vis_data/scalars.json"))
    if not logs:
        return None
    ratios = []
    for line in logs[-1].read_text().splitlines():
        rec = json.loads(line)
        if "loss_pgg" in rec and rec.get("loss"):
            ratios.append(100.0 * rec["loss_pgg"] / rec["loss"])
    return float(np.mean(ratios)) if ratios else None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="output folders, each with a metrics.json")
    ap.add_argument("--paired-to", metavar="VARIANT",
                    help="also print per-seed differences to this variant")
    ap.add_argument("--penalty-share", action="store_true",
                    help="also print the guidance term's share of the training loss (mean of "
                         "loss_pgg / loss over the logged iterations of each run)")
    ap.add_argument("--alpha-figure", metavar="PNG",
                    help="`pgg-zoo ablate` runs: plot the alpha sweep, mean ± std over seeds")
    args = ap.parse_args(argv)
    runs = [json.loads((Path(p) / "metrics.json").read_text()) for p in args.runs]
    by_variant: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    seeds = []
    for r in runs:
        seeds.append(r["seed"])
        for variant, metrics in r["results"].items():
            for k, v in metrics.items():
                by_variant[variant][k].append(float(v))
    task = runs[0]["task"]
    from pgg_zoo import TASKS
    from pgg_zoo.study import variant_dir_name

    columns = list(getattr(TASKS.get(task), "summary_metrics", ()))
    if "leakage" not in columns and any("leakage" in m for m in by_variant.values()):
        columns.append("leakage")  # the mechanism, next to the outcome
    columns.append("train_minutes")
    print(f"{task}, seeds {seeds} (mean ± sample std over seeds; per-seed values in brackets)\n")
    _table({v: {k: np.array(x) for k, x in m.items()} for v, m in by_variant.items()},
           columns, signed=False)
    if args.paired_to:
        ref = args.paired_to
        if any(ref not in r["results"] for r in runs):
            raise SystemExit(f"--paired-to {ref!r}: not a variant of every run "
                             f"(have {sorted(by_variant)})")
        print(f"\nPaired differences to {ref} (same seed), mean ± sample std [per seed]:\n")
        # paired run by run, so a variant that only some runs have is compared on those seeds
        diffs: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for r in runs:
            base = r["results"][ref]
            for v, m in r["results"].items():
                for k in columns:
                    if v != ref and k in m and k in base:
                        diffs[v][k].append(float(m[k]) - float(base[k]))
        _table({v: {k: np.array(x) for k, x in m.items()} for v, m in diffs.items()},
               [c for c in columns if c != "train_minutes"], signed=True)
    if args.penalty_share:
        shares: dict[str, list[float]] = defaultdict(list)
        for path, r in zip(args.runs, runs):
            for variant in r["results"]:
                share = penalty_share(Path(path) / variant_dir_name(variant))
                if share is not None:
                    shares[variant].append(share)
        print("\nGuidance term's share of the training loss (%), mean over logged iterations:\n")
        print("| variant | loss_pgg / loss (%) |\n|---|---|")
        for variant, v in shares.items():
            print(f"| {variant} | {_cell(np.array(v))} |")
    if args.alpha_figure:
        from pgg_zoo.study import alpha_figure, alpha_sweep

        sweep: dict[float, list[dict[str, float]]] = defaultdict(list)
        for r in runs:
            for alpha, metrics in alpha_sweep(r.get("variants", {}), r["results"]).items():
                sweep[alpha].append(metrics)
        metric_cols = [c for c in columns if c != "train_minutes"]
        print(f"\nalpha figure: {alpha_figure(sweep, metric_cols, Path(args.alpha_figure))}")


if __name__ == "__main__":
    main()
