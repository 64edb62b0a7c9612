"""The classification study of docs/classification.md: named variants over paired seeds.

    python scripts/classification_study.py --out runs/classification/study --seeds 0 1 2 3 4 \
        --variants plain edited edited+pgg edited+random-mask edited+no-mask --set alpha=1

Variants: the task's ``STUDY_VARIANTS`` (plain, edited, edited+pgg, edited+random-mask,
edited+no-mask) and two families built from them:

* ``edited@S`` / ``edited+pgg@S``: only the fraction S (e.g. 0.1, 0.3) of the edited copies
  (``edit_share``);
* ``edited+pgg~P``: masks grown (P > 0) or shrunk (P < 0) by P % of their area
  (``edit_mask_adjust``; the paper's dilation / erosion study).

Per seed, ``<out>/s<seed>/metrics.json`` has the layout of ``pgg-zoo demo`` (``task``, ``seed``,
``variants``, ``results``), so ``python scripts/summarize_runs.py --paired-to edited <out>/s*``
aggregates it. A variant whose run folder already holds a finished run (``metrics.json``) is
read, not retrained, so an interrupted study continues where it stopped. Every run: the same
data order, initial weights and leakage batches for a given seed.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import pgg_zoo
from pgg_zoo.cli.run import parse_set_options
from pgg_zoo.study import variant_dir_name, write_json


def variant_config(name: str) -> dict[str, Any]:
    """Config overrides of a named variant (module docstring)."""
    from pgg_zoo_tasks.classification.task import STUDY_VARIANTS

    if name in STUDY_VARIANTS:
        return dict(STUDY_VARIANTS[name])
    if "@" in name:
        base, share = name.split("@", 1)
        if base in ("edited", "edited+pgg"):
            return {**STUDY_VARIANTS[base], "edit_share": float(share)}
    if "~" in name:
        base, pct = name.split("~", 1)
        if base == "edited+pgg":
            return {**STUDY_VARIANTS[base], "edit_mask_adjust": float(pct)}
    raise SystemExit(f"unknown variant {name!r}: use {sorted(STUDY_VARIANTS)}, edited@S, "
                     "edited+pgg@S or edited+pgg~P")


def run_paired(task_name: str, variants: dict[str, dict[str, Any]], out: Path,
               seeds: list[int], common: dict[str, Any]) -> None:
    """Train each variant (config overrides over ``common``) for each seed in
    ``out/s<seed>/<variant>``; per seed, ``out/s<seed>/metrics.json`` gathers the results in
    ``pgg-zoo demo``'s layout. A finished run folder is read, not retrained. Shared with the
    other study scripts (``scripts/wsol_study.py``)."""
    for seed in seeds:
        folder = out / f"s{seed}"
        summary_file = folder / "metrics.json"
        old = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
        results: dict[str, dict[str, float]] = dict(old.get("results", {}))
        specs: dict[str, dict[str, Any]] = dict(old.get("variants", {}))
        for name, overrides in variants.items():
            work = folder / variant_dir_name(name)
            cfg = {**common, **overrides, "seed": seed, "work_dir": str(work)}
            if (work / "metrics.json").is_file():
                print(f"[s{seed} {name}] finished earlier: read {work / 'metrics.json'}")
                done = json.loads((work / "metrics.json").read_text())["metrics"]
                metrics = {**done, "train_minutes": results.get(name, {}).get(
                    "train_minutes", float("nan"))}
            else:
                t0 = time.time()
                task = pgg_zoo.build(task_name, **cfg)
                print(f"[s{seed} {name}] training {task!r}", flush=True)
                metrics = task.train()
                metrics["train_minutes"] = (time.time() - t0) / 60
                print(f"[s{seed} {name}] " + ", ".join(f"{k}={v:.2f}" for k, v in metrics.items()),
                      flush=True)
            # re-read before writing: another process may have added variants of this seed
            old = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
            results = {**old.get("results", {}), **results, name: metrics}
            specs = {**old.get("variants", {}), **specs, name: {**common, **overrides}}
            write_json(summary_file, {"task": task_name, "seed": seed, "common": common,
                                      "variants": specs, "results": results})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--variants", nargs="+", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="task options common to every variant (JSON values)")
    args = ap.parse_args(argv)
    variants = {v: variant_config(v) for v in args.variants}
    run_paired("classification", variants, args.out, args.seeds, parse_set_options(args.set))

if __name__ == "__main__":
    main()
