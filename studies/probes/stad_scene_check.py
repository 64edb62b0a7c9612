"""Does a STAD model read the scene? Per-box accuracy on ``stad-scenes-v1`` grouped by whether
the video's scene is its class's own ("aligned") or another class's ("misaligned").

    python studies/probes/stad_scene_check.py --split val runs/stad_scenes/check/paste_s0 ...

A model that reads the actor scores the same on both groups; one that reads the scene scores
high on aligned and low on misaligned videos. ``--split train`` shows the training videos
(95 % aligned), ``val`` the validation videos (scenes independent of the class), ``test``
the test videos (a diagnostic of finished study runs only: choices are made on val;
studies/log/benchmarks.md, "STAD: stad-scenes-v1"). ``--benchmark`` names the scenes spec the
runs were trained on when it is not the one their configuration records (a probe variant).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from pgg_zoo.task import load_run


def scene_accuracy(run_dir: Path, split: str, batch_size: int = 16,
                   benchmark: str | None = None) -> dict[str, float]:
    """Accuracy (%) of the run's final model on ``split``'s key-frame boxes, overall and by
    scene alignment, with the number of boxes of each group. ``benchmark``: the scenes spec to
    read (default: the one the run's configuration records)."""
    task = load_run(run_dir, **({"benchmark": benchmark} if benchmark else {}))
    model = task.model
    model.eval()
    ds = task.build_dataset(split)
    meta = ds.ann.extra["pgg_meta"]["videos"]
    hits: dict[bool, list[bool]] = {True: [], False: []}
    with torch.no_grad():
        for start in range(0, len(ds), batch_size):
            items = [ds[i] for i in range(start, min(start + batch_size, len(ds)))]
            batch = task.collate(items)
            preds = model.predict(batch["inputs"], batch["data_samples"])
            for it, p in zip(items, preds):
                ok = (p["scores"].argmax(1) == it["labels"]).tolist()
                hits[bool(meta[it["video"]]["scene_aligned"])].extend(ok)
    out = {}
    for name, group in (("aligned", hits[True]), ("misaligned", hits[False])):
        out[f"acc_{name}"] = 100.0 * float(np.mean(group)) if group else float("nan")
        out[f"n_{name}"] = float(len(group))
    allh = hits[True] + hits[False]
    out["acc_all"] = 100.0 * float(np.mean(allh))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--split", choices=("train", "val", "test"), default="val")
    ap.add_argument("--benchmark", help="the registered scenes spec the runs trained on")
    args = ap.parse_args(argv)
    print(f"| run | {args.split} acc | aligned | misaligned | n aligned / misaligned |")
    print("|---|---|---|---|---|")
    for run in args.runs:
        r = scene_accuracy(run, args.split, benchmark=args.benchmark)
        print(f"| {run} | {r['acc_all']:.1f} | {r['acc_aligned']:.1f} | "
              f"{r['acc_misaligned']:.1f} | {r['n_aligned']:.0f} / {r['n_misaligned']:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
