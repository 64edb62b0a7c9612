"""Exploratory, validation only: can the STAD detector learn the scenes benchmark's actions
from the actors at all? (studies/log/results.md, "After study v3: can the actors be learned")

    python studies/probes/stad_learnability_probe.py --out runs/stad_learn/p33_e6 \
        --p-scene 0.333 --epochs 6 [--per-class 40] [--head-context none] [--alpha 0] \
        [--zone clip] [--set synthesizer_options='{"prob": 0.5, "host_labels": "drop"}']

Trains plain paste (or paste + guidance with ``--alpha``) on a ``stad-scenes-v1`` variant
whose training scenes follow ``--p-scene`` (1/3 = no shortcut), registered under its own name
(:mod:`scenes_variant`), and prints the val frame-mAP, the leakage and the box accuracy on
scene-aligned / misaligned val videos. Not a benchmark version; no test split is read.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pgg_zoo
from scenes_variant import scenes_variant
from stad_scene_check import scene_accuracy


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--p-scene", type=float, default=0.95)
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--zone", default="frame", help="ScenesSpec.zone: frame (v1) or clip")
    ap.add_argument("--head-context", default="none")
    ap.add_argument("--backbone", default="tiny3d")
    ap.add_argument("--alpha", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", nargs="*", default=[], help="extra task options key=value (json)")
    args = ap.parse_args(argv)
    benchmark = scenes_variant(p_scene_train=args.p_scene, n_train_per_class=args.per_class,
                               zone=args.zone)
    extra = {"guidance": True, "alpha": args.alpha} if args.alpha > 0 else {"guidance": False}
    for kv in args.set:
        k, v = kv.split("=", 1)
        extra[k] = json.loads(v)
    work = args.out
    if (work / "metrics.json").is_file():
        m = json.loads((work / "metrics.json").read_text())["metrics"]
    else:
        t = pgg_zoo.build("stad", benchmark=benchmark, eval_split="val", seed=args.seed,
                          epochs=args.epochs, head_context=args.head_context,
                          backbone=args.backbone, work_dir=str(work), **extra)
        m = t.train()
    acc = scene_accuracy(work, "val", benchmark=benchmark)
    print(f"{work}: val frame_map@0.5 {m['frame_map@0.5[act]']:.2f} leakage {m['leakage']:.2f} "
          f"(chance {m['leakage_chance']:.2f}) box acc aligned {acc['acc_aligned']:.1f} "
          f"misaligned {acc['acc_misaligned']:.1f}", flush=True)


if __name__ == "__main__":
    main()
