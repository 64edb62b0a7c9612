"""Turn a finished training run into a shipped model card.

Copies ``<run>/model.safetensors`` next to the card under ``model_cards/<task>/``, evaluates it
with the same code path as ``pgg-zoo eval`` (so the card's numbers are reproducible by anyone),
and writes the YAML card with the file's sha256, size and parameter count.

    python scripts/card_from_run.py --task wsol --run work_dirs/demo/cutmix_pgg \
        --name wsol_tiny_cam_cutmix_pgg_shapes_v2 --recipe "pgg-zoo demo wsol --seed 0" \
        --set synthesizer=cutmix --set alpha=0.05
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import yaml

import pgg_zoo
from pgg_zoo import METRICS
from pgg_zoo.cli.run import parse_set_options

ROOT = Path(__file__).resolve().parents[1]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def protocol_names(metrics: dict[str, float], preset: str | None) -> dict[str, float]:
    """Keep metrics under their registered protocol names (``maxboxacc_v2[wsoleval]``)."""
    registered = set(METRICS.names())
    out = {}
    presets = (preset or "").split(",")
    for k, v in metrics.items():
        for name in (k, *(f"{k}[{p}]" for p in presets if p)):
            if name in registered:
                out[name] = round(float(v), 4)
                break
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", required=True)
    ap.add_argument("--run", required=True, type=Path, help="work dir holding model.safetensors")
    ap.add_argument("--name", required=True)
    ap.add_argument("--recipe", required=True)
    ap.add_argument("--dataset", required=True, help="data set name for the metrics key")
    ap.add_argument("--preset", default=None,
                    help="protocol suffixes for metric names, comma-separated (first match wins)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="task options of the run (JSON values)")
    ap.add_argument("--notes", default="")
    ap.add_argument("--input-size", dest="input_size", type=int, nargs="+", default=None,
                    help="input size for tasks without an image_size option: one side, or two "
                         "numbers ([persons, joints] for keypoint cards)")
    ap.add_argument("--clip-len", dest="clip_len", type=int, default=None,
                    help="frames per sample (keypoint cards)")
    ap.add_argument("--modality", choices=["image", "video", "keypoint"], default=None,
                    help="default: video for stad, keypoint for keypoint, else image")
    ap.add_argument("--mean", type=float, nargs="+", default=[0.485, 0.456, 0.406])
    ap.add_argument("--std", type=float, nargs="+", default=[0.229, 0.224, 0.225])
    args = ap.parse_args()

    cfg = parse_set_options(args.set)
    folder = ROOT / "model_cards" / args.task
    weights = folder / f"{args.name}.safetensors"
    shutil.copyfile(args.run / "model.safetensors", weights)

    task = pgg_zoo.build(args.task, **cfg, work_dir=str(ROOT / "work_dirs" / "cards" / args.name))
    metrics = task.evaluate(checkpoint=str(weights))
    c = task.config
    n_params = sum(p.numel() for p in task.model.parameters())
    modality = args.modality or {"stad": "video", "keypoint": "keypoint"}.get(args.task, "image")
    video = modality == "video"
    given = list(args.input_size or [])
    size = [int(c["image_size"])] * 2 if c.get("image_size") else (given * 2)[:2] if len(given) == 1 else given
    card = {
        "name": args.name,
        "task": args.task,
        "origin": "pgg_zoo",
        "modality": modality,
        "backbone": c["backbone"],
        "synthesizer": c["synthesizer"],
        "guidance": {"alpha": float(c["alpha"]) if c["guidance"] else 0.0,
                     "mode": c["guidance_mode"], "mask": c["guidance_mask"]},
        "training_data": [args.dataset],
        "metrics": {args.dataset: protocol_names(metrics, args.preset)},
        "input": {"size": size, "mean": args.mean, "std": args.std},
        "num_classes": int(getattr(task.model, "num_classes", 0) or task.num_classes()),
        "categories": None,
        "num_params": int(n_params),
        "file_size_mb": round(weights.stat().st_size / 2**20, 3),
        "weights": {"url": weights.name, "sha256": sha256(weights), "hash_verified": True,
                    "size_bytes": weights.stat().st_size, "format": "safetensors"},
        "build": cfg,
        "license": "Apache-2.0",
        "recipe": args.recipe,
        "citation": "@inproceedings{nagano2026pgg,\n  title={Learning from Synthetic Data via "
                    "Provenance-Based Input Gradient Guidance},\n  author={Nagano and others},\n"
                    "  booktitle={CVPR}, year={2026}\n}\n",
        "notes": args.notes or "Trained by pgg_zoo on its embedded benchmark; a demonstration "
                 "model, not for real data.",
    }
    if modality == "keypoint":
        card["input"]["clip_len"] = int(args.clip_len)
    if video:
        card["input"].update(clip_len=int(c["clip_len"]), frame_interval=int(c["clip_stride"]),
                             sampling="centered on the key frame")
    (folder / f"{args.name}.yaml").write_text(
        "# Generated by scripts/card_from_run.py; metrics measured by `pgg-zoo eval`.\n"
        + yaml.safe_dump(card, sort_keys=False, width=100))
    print(json.dumps(card["metrics"], indent=2))


if __name__ == "__main__":
    main()
