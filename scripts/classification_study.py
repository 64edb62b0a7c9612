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
from pathlib import Path
from typing import Any

from pgg_zoo.cli.run import parse_set_options
from pgg_zoo.study import run_paired


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
