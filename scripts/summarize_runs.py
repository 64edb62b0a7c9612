"""Mean and spread over seeds of `pgg-zoo demo` runs: a markdown table per task.

    python scripts/summarize_runs.py work_dirs/demo_s0 work_dirs/demo_s1 work_dirs/demo_s2
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np


def main(paths: list[str]) -> None:
    runs = [json.loads((Path(p) / "metrics.json").read_text()) for p in paths]
    by_variant: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    seeds = []
    for r in runs:
        seeds.append(r["seed"])
        for variant, metrics in r["results"].items():
            for k, v in metrics.items():
                by_variant[variant][k].append(float(v))
    task = runs[0]["task"]
    from pgg_zoo import TASKS

    columns = list(getattr(TASKS.get(task), "summary_metrics", ())) + ["train_minutes"]
    print(f"{task}, seeds {seeds} (mean ± sample std over seeds; per-seed values in brackets)\n")
    print("| variant | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for variant, metrics in by_variant.items():
        cells = []
        for c in columns:
            v = np.array(metrics.get(c, []))
            if len(v) == 0:
                cells.append("")
            elif len(v) == 1:
                cells.append(f"{v[0]:.2f}")
            else:
                cells.append(f"{v.mean():.2f} ± {v.std(ddof=1):.2f} [{', '.join(f'{x:.1f}' for x in v)}]")
        print(f"| {variant} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
