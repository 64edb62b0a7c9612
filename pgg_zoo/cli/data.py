"""``pgg-zoo check-data TASK --data-root PATH [--set key=value ...]``: validate a data layout
and report its counts before training (:func:`pgg_zoo.data.check.check_data`)."""
from __future__ import annotations

import argparse
import sys

from .run import parse_set_options


def _check_data(args: argparse.Namespace) -> int:
    from ..data.check import check_data

    options = parse_set_options(args.set or [])
    try:
        summary = check_data(args.task, args.data_root, **options)
    except OSError as exc:
        # A file the readers open that is a folder, unreadable, ...: OSError's message names
        # it. (Dataset errors are ValueErrors and FileNotFoundErrors: main reports those.)
        if isinstance(exc, FileNotFoundError):
            raise
        print(f"pgg-zoo: error: {exc}", file=sys.stderr)
        return 2
    for line in summary.lines():
        print(line)
    print("OK")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check-data", help="validate a data set's layout and report its counts before training",
        description="Open every split the task reads (train, test, and val where the data has "
                    "its own), check the files and print items, classes (per-class min/max) and "
                    "boxes/tubes per split, then OK. A bad file is one error line naming it "
                    "(exit status 2). Layouts: docs/data.md.")
    p.add_argument("task", help="task name (see `pgg-zoo list`)")
    p.add_argument("--data-root", dest="data_root",
                   help="dataset folder (default: the task's embedded benchmark)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="a task option the layout needs (JSON values), repeatable, e.g. "
                        "--set data_format=wsoleval --set metadata_root=metadata")
    p.set_defaults(func=_check_data)
