"""``pgg-zoo cards``, ``pgg-zoo card NAME``, ``pgg-zoo new-card RUN_DIR`` and
``pgg-zoo download NAME``."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_commands(sub: Any) -> None:
    """Add the model-card commands to the ``pgg-zoo`` sub-parsers."""
    p = sub.add_parser("cards", help="list model cards", description="List model cards (name, task, origin, weights status).")
    p.add_argument("--task", default=None, help="only cards of this task")
    p.set_defaults(func=_cmd_cards)

    p = sub.add_parser("card", help="show one model card", description="Show a model card.")
    p.add_argument("name", help="card name (see `pgg-zoo cards`) or path to a card .yaml file")
    p.add_argument("--json", action="store_true", help="print the card as JSON")
    p.set_defaults(func=_cmd_card)

    p = sub.add_parser(
        "new-card", help="write a model card from a finished run",
        description="Write a model card from a run folder written by `pgg-zoo train`: the "
                    "weights are copied beside it and evaluated again, the recipe is the "
                    "command that recreates the run.")
    p.add_argument("run_dir", help="a folder written by `pgg-zoo train` (config.yaml, "
                                   "model.safetensors)")
    p.add_argument("--name", required=True, help="the card name")
    p.add_argument("--out-dir", dest="out_dir", default=None,
                   help="card folder (default: model_cards/<task>/ below the current folder)")
    p.add_argument("--recipe", default=None,
                   help="the exact pgg-zoo command (default: the train command recreating "
                        "the run)")
    p.add_argument("--dataset", default=None, help="data set name for the metrics key "
                   "(default: the run's benchmark or data folder name)")
    p.add_argument("--preset", default=None, help="protocol suffixes for metric names, "
                   "comma-separated (default: the run's preset/protocol option)")
    p.add_argument("--modality", choices=["image", "video", "keypoint"], default=None)
    p.add_argument("--input-size", dest="input_size", type=int, nargs="+", default=None,
                   help="input size for tasks without an image_size option")
    p.add_argument("--clip-len", dest="clip_len", type=int, default=None,
                   help="frames per sample (keypoint cards)")
    p.add_argument("--mean", type=float, nargs="+", default=[0.485, 0.456, 0.406])
    p.add_argument("--std", type=float, nargs="+", default=[0.229, 0.224, 0.225])
    p.add_argument("--notes", default="")
    p.set_defaults(func=_cmd_new_card)

    p = sub.add_parser(
        "download",
        help="download and verify a card's weights",
        description="Download a card's weights into the cache (verified by sha256) and print the path.",
    )
    p.add_argument("name", help="card name or path to a card .yaml file")
    p.add_argument("--cache-dir", default=None, help="cache folder (default $PGG_ZOO_CACHE or $PGG_ZOO_HOME/weights)")
    p.add_argument("--allow-unverified", action="store_true", help="accept weights whose card has no verified sha256")
    p.add_argument("--offline", action="store_true", default=None, help="never touch the network (also PGG_ZOO_OFFLINE=1)")
    p.add_argument("--mirror", default=None, help="URL prefix or folder to fetch from (also PGG_ZOO_MIRROR)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_download)


def _cmd_cards(args: argparse.Namespace) -> int:
    from ..cards.store import scan_cards

    cards, problems = scan_cards()
    for exc in problems:  # the other cards are still listed
        print(f"pgg-zoo: warning: skipped {exc}", file=sys.stderr)
    cards = sorted((c for c in cards if args.task is None or c.task == args.task),
                   key=lambda c: c.name)
    if not cards:
        print(f"no model cards{' for task ' + repr(args.task) if args.task else ''}")
        return 0
    rows = [("NAME", "TASK", "ORIGIN", "BACKBONE", "WEIGHTS")]
    for c in cards:
        rows.append((c.name, c.task, c.origin, c.backbone, "sha256" if c.verified else "UNVERIFIED"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    return 0


def _cmd_card(args: argparse.Namespace) -> int:
    from ..cards import load_card

    card = load_card(args.name)
    print(json.dumps(card.to_dict(), indent=2) if args.json else card.summary())
    return 0


def _cmd_new_card(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..cards.from_run import CardRequest, card_from_run
    from ..config import CONFIG_FILE, read_config_file

    run_dir = Path(args.run_dir)
    out_dir = args.out_dir
    if out_dir is None:
        if not (run_dir / CONFIG_FILE).is_file():
            raise FileNotFoundError(f"{run_dir}: no {CONFIG_FILE}; give --out-dir")
        out_dir = Path("model_cards") / read_config_file(run_dir / CONFIG_FILE).task
    request = CardRequest(
        name=args.name, out_dir=Path(out_dir), recipe=args.recipe, dataset=args.dataset,
        presets=args.preset.split(",") if args.preset else None, modality=args.modality,
        input_size=args.input_size, clip_len=args.clip_len, mean=args.mean, std=args.std,
        notes=args.notes)
    path = card_from_run(run_dir, request)
    print(path)
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from ..cards import DownloadError, download_weights

    try:
        path = download_weights(
            args.name,
            args.cache_dir,
            progress=not args.no_progress,
            allow_unverified=args.allow_unverified,
            offline=args.offline,
            mirror=args.mirror,
        )
    except DownloadError as exc:  # a clear message, not a traceback (PGG_ZOO_DEBUG=1 for one)
        import os

        if os.environ.get("PGG_ZOO_DEBUG", "") not in ("", "0"):
            raise
        print(f"pgg-zoo: error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0
