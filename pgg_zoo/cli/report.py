"""``pgg-zoo report RUN_DIR...``: an HTML page comparing run and study folders."""
from __future__ import annotations

import argparse


def _report(args: argparse.Namespace) -> int:
    from ..report import write_report

    out = write_report(args.runs, args.output, title=args.title, paired_to=args.paired_to)
    print(f"report: {out}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="one self-contained HTML page comparing run folders "
                                      "(train) and study folders (demo, ablate, modes, alpha)")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR",
                   help="folders written by train (run.json) or by demo/ablate/modes/alpha "
                        "(metrics.json); seeds of one variant are averaged")
    p.add_argument("-o", "--output", default="report.html", help="the page (default report.html)")
    p.add_argument("--title", help="page title")
    p.add_argument("--paired-to", dest="paired_to", metavar="VARIANT",
                   help="reference of the paired differences (default: the variant with "
                        "synthesis and no guidance)")
    p.set_defaults(func=_report)
