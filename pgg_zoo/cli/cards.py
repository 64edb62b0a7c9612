"""``pgg-zoo cards``, ``pgg-zoo card NAME`` and ``pgg-zoo download NAME``."""
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
