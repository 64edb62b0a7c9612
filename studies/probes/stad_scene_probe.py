"""Exploratory, validation only: does paste guidance act when the actor boxes are large
against the detector's receptive field? (studies/log/results.md, "STAD: stad-scenes-v1".)

    python studies/probes/stad_scene_probe.py --out runs/stad_scenes/probe64 --alphas 0 1 --seed 0

Trains the STAD task's paste variant (alpha 0) and paste + guidance (other alphas) on a
``stad-scenes-v1`` variant rendered at ``--size`` pixels (default 64: every box twice as large
as in v1 against the same ``tiny3d`` receptive field of about 15 px), evaluated on the spec's
own val videos. Not a benchmark version: v1's spec with another frame size, registered under
its own name (:mod:`scenes_variant`); no test split is read.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pgg_zoo
from scenes_variant import scenes_variant


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.0, 1.0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    benchmark = scenes_variant(size=args.size, render_size=max(64, args.size))
    for a in args.alphas:
        work = args.out / f"alpha_{a:g}"
        if (work / "metrics.json").is_file():
            m = json.loads((work / "metrics.json").read_text())["metrics"]
        else:
            extra = {"guidance": True, "alpha": a} if a > 0 else {"guidance": False}
            t = pgg_zoo.build("stad", benchmark=benchmark, eval_split="val",
                              seed=args.seed, work_dir=str(work), **extra)
            m = t.train()
        print(f"size {args.size} alpha {a:g}: val frame_map@0.5 {m['frame_map@0.5[act]']:.2f} "
              f"leakage {m['leakage']:.2f} (chance {m['leakage_chance']:.2f})", flush=True)


if __name__ == "__main__":
    main()
