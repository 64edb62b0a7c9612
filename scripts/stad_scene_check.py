"""Does a STAD model read the scene? Per-box accuracy on ``stad-scenes-v1`` grouped by whether
the video's scene is its class's own ("aligned") or another class's ("misaligned").

    python scripts/stad_scene_check.py --split val runs/stad_scenes/check/paste_s0 ...

A model that reads the actor scores the same on both groups; one that reads the scene scores
high on aligned and low on misaligned videos. ``--split train`` shows the training videos
(95 % aligned), ``val`` the validation videos (scenes independent of the class), ``test``
the test videos (a diagnostic of finished study runs only: choices are made on val;
docs/benchmarks.md, "STAD: stad-scenes-v1").
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import pgg_zoo
from pgg_zoo.weights_io import read_state_dict


def scene_accuracy(run_dir: Path, split: str, batch_size: int = 16) -> dict[str, float]:
    """Accuracy (%) of the run's final model on ``split``'s key-frame boxes, overall and by
    scene alignment, with the number of boxes of each group."""
    cfg = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() \
        else {}
    saved = (cfg.get("config") or cfg) if isinstance(cfg, dict) else {}
    # The model options the run was trained with (image size, head) rebuild its architecture.
    opts = {k: saved[k] for k in ("image_size", "head_context", "backbone") if saved.get(k) is not None}
    task = pgg_zoo.build("stad", benchmark=saved.get("benchmark") or "stad-scenes-v1", **opts)
    model = task.build_model()
    model.load_state_dict(read_state_dict(run_dir / "model.safetensors", "safetensors"))
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
    args = ap.parse_args(argv)
    print(f"| run | {args.split} acc | aligned | misaligned | n aligned / misaligned |")
    print("|---|---|---|---|---|")
    for run in args.runs:
        r = scene_accuracy(run, args.split)
        print(f"| {run} | {r['acc_all']:.1f} | {r['acc_aligned']:.1f} | "
              f"{r['acc_misaligned']:.1f} | {r['n_aligned']:.0f} / {r['n_misaligned']:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
