"""Combine the validation runs of several `alpha_study` folders (one selection seed each, run side
by side) into one table and choose alpha with the study's own rule (`choose_alpha`).

    python scripts/combine_alpha.py runs/classification/alpha/select_s0 ... [--metric worst_group_acc]

Prints a markdown table (mean ± sample std over seeds, per-seed values in brackets) and the
chosen alpha; only validation numbers are read.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pgg_zoo.study import choose_alpha


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--metric", default=None, help="default: the metric the studies used")
    ap.add_argument("--columns", nargs="+", default=["top1", "leakage"])
    args = ap.parse_args(argv)
    val: dict[float, list[dict[str, float]]] = {}
    metric = args.metric
    for d in args.dirs:
        m = json.loads((d / "metrics.json").read_text())
        metric = metric or m["metric"]
        for a, runs in m["validation"].items():
            val.setdefault(float(a), []).extend(runs)
    chosen = choose_alpha({a: [r[metric] for r in runs] for a, runs in val.items()})
    cols = [metric] + [c for c in args.columns if c != metric]

    def cell(v: list[float]) -> str:
        x = np.asarray(v, dtype=float)
        per = ", ".join(f"{t:.1f}" for t in x)
        sd = f" ± {x.std(ddof=1):.2f}" if len(x) > 1 else ""
        return f"{x.mean():.2f}{sd} [{per}]"

    print("| alpha | " + " | ".join(f"val {c}" for c in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for a in sorted(val):
        mark = " (chosen)" if a == chosen else ""
        print(f"| {a:g}{mark} | " + " | ".join(cell([r.get(c, float("nan")) for r in val[a]])
                                            for c in cols) + " |")
    print(f"\nchosen alpha (best mean val {metric}, ties to the smaller): {chosen:g}")


if __name__ == "__main__":
    main()
