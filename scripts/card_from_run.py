"""Turn a finished training run into a shipped model card.

Reads everything from the run folder: the task and its options from ``<run>/config.yaml`` (or
``run.json`` of older runs), the weights from ``<run>/model.safetensors``. Copies the weights
next to the card under ``model_cards/<task>/``, evaluates them with the same code path as
``pgg-zoo eval RUN_DIR`` (so the card's numbers are reproducible by anyone), and writes the YAML
card with the file's sha256, size and parameter count. The card's ``recipe`` is the
``pgg-zoo train`` command that recreates the run (options that differ from the task's
defaults), unless ``--recipe`` says otherwise.

    python scripts/card_from_run.py work_dirs/demo/cutmix_pgg \
        --name wsol_tiny_cam_cutmix_pgg_shapes_v2
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from pgg_zoo import METRICS, TASKS
from pgg_zoo.engine.config import run_option_names
from pgg_zoo.task import Task, load_run

ROOT = Path(__file__).resolve().parents[1]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def protocol_names(metrics: dict[str, float], presets: list[str]) -> dict[str, float]:
    """Keep metrics under their registered protocol names (``maxboxacc_v2[wsoleval]``): the
    name itself, else ``name[preset]`` for the given presets in order, else the one registered
    ``name[...]`` (the first in sorted order when several are)."""
    registered = set(METRICS.names())
    out = {}
    for k, v in metrics.items():
        others = sorted(n for n in registered if n.startswith(f"{k}["))
        for name in (k, *(f"{k}[{p}]" for p in presets if p), *others):
            if name in registered:
                out[name] = round(float(v), 4)
                break
    return out


#: Run options that say where and how a run was executed, not what it trained: left out of
#: the recreating command (the user picks their own folder and launcher).
PLACE_OPTIONS = ("work_dir", "launcher", "resume", "num_workers", "log_backend")


def changed_options(task: Task) -> dict[str, Any]:
    """The task's options (task and run) that differ from its task's defaults, except
    :data:`PLACE_OPTIONS` and the card it was initialized from (``weights``)."""
    defaults = type(task).default_config()
    return {k: v for k, v in task.config.items()
            if k not in PLACE_OPTIONS and k != "weights" and defaults.get(k) != v}


def train_command(task: Task) -> str:
    """The ``pgg-zoo train`` command that recreates ``task``'s run (``--set`` per changed
    option, JSON values)."""
    parts = ["pgg-zoo", "train", task.name]
    if task.build_info.get("recipe"):
        parts = ["pgg-zoo", "train", "--recipe", str(task.build_info["recipe"])]
    if task.config.get("weights"):
        parts += ["--set", f"weights={task.config['weights']}"]
    for k, v in changed_options(task).items():
        parts += ["--set", f"{k}={json.dumps(v)}"]
    return " ".join(parts)


def default_dataset(config: dict[str, Any]) -> str:
    """The data set name of the run: its embedded benchmark, or its data folder's name."""
    if config.get("data_root") is None:
        return str(config.get("benchmark") or "embedded")
    return Path(str(config["data_root"])).name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", nargs="?", type=Path,
                    help="a folder written by `pgg-zoo train` (config.yaml, model.safetensors)")
    ap.add_argument("--run", type=Path, help="the same as RUN_DIR (older spelling)")
    ap.add_argument("--name", required=True)
    ap.add_argument("--task", default=None,
                    help="check that the run is of this task (default: the run's)")
    ap.add_argument("--recipe", default=None,
                    help="the exact pgg-zoo command (default: the train command recreating the run)")
    ap.add_argument("--dataset", default=None,
                    help="data set name for the metrics key (default: the run's benchmark or "
                         "data folder name)")
    ap.add_argument("--preset", default=None,
                    help="protocol suffixes for metric names, comma-separated (first match "
                         "wins; default: the run's preset/protocol option)")
    ap.add_argument("--notes", default="")
    ap.add_argument("--out-dir", dest="out_dir", type=Path, default=None,
                    help="card folder (default: model_cards/<task>/ of this checkout)")
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
    run_dir = args.run_dir or args.run
    if run_dir is None:
        ap.error("give the run folder (RUN_DIR)")

    # The run's own configuration, nothing retyped; evaluated into a scratch folder.
    scratch = ROOT / "work_dirs" / "cards" / args.name
    task = load_run(run_dir, work_dir=str(scratch))
    if args.task is not None and args.task != task.name:
        ap.error(f"{run_dir} is a {task.name} run, not {args.task}")
    TASKS.get(task.name)
    folder = args.out_dir or ROOT / "model_cards" / task.name
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f"{args.name}.safetensors"
    shutil.copyfile(run_dir / "model.safetensors", weights)
    dataset = args.dataset or default_dataset(task.config)
    metrics = task.evaluate(checkpoint=str(weights))
    c = task.config
    n_params = sum(p.numel() for p in task.model.parameters())
    modality = args.modality or {"stad": "video", "keypoint": "keypoint"}.get(task.name, "image")
    video = modality == "video"
    given = list(args.input_size or [])
    size = [int(c["image_size"])] * 2 if c.get("image_size") else (given * 2)[:2] if len(given) == 1 else given
    # the run's own protocol options name the metrics' protocol unless --preset is given
    presets = (args.preset.split(",") if args.preset else
               [*(str(c[k]) for k in ("preset", "protocol") if c.get(k)), task.name])
    run_options = set(run_option_names())
    build_keys = {k: v for k, v in changed_options(task).items() if k not in run_options}
    card = {
        "name": args.name,
        "task": task.name,
        "origin": "pgg_zoo",
        "modality": modality,
        "backbone": c["backbone"],
        "synthesizer": c["synthesizer"],
        "guidance": {"alpha": float(c["alpha"]) if c["guidance"] else 0.0,
                     "mode": c["guidance_mode"], "mask": c["guidance_mask"]},
        "training_data": [dataset],
        "metrics": {dataset: protocol_names(metrics, presets)},
        "input": {"size": size, "mean": args.mean, "std": args.std},
        "num_classes": int(getattr(task.model, "num_classes", 0) or task.num_classes()),
        "categories": None,
        "num_params": int(n_params),
        "file_size_mb": round(weights.stat().st_size / 2**20, 3),
        "weights": {"url": weights.name, "sha256": sha256(weights), "hash_verified": True,
                    "size_bytes": weights.stat().st_size, "format": "safetensors"},
        "build": build_keys,
        "license": "Apache-2.0",
        "recipe": args.recipe or train_command(task),
        "citation": "@inproceedings{nagano2026pgg,\n  title={Learning from Synthetic Data via "
                    "Provenance-Based Input Gradient Guidance},\n  author={Nagano and others},\n"
                    "  booktitle={CVPR}, year={2026}\n}\n",
        "notes": args.notes or ("Trained by pgg_zoo on its embedded benchmark; a demonstration "
                                "model, not for real data." if c.get("data_root") is None
                                else f"Trained by pgg_zoo on {dataset}."),
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
