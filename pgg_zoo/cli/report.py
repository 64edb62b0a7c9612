"""``pgg-zoo report RUN_DIR...``: an HTML page (or markdown tables) comparing run and study
folders."""
from __future__ import annotations

import argparse
import sys


def _report(args: argparse.Namespace) -> int:
    from ..report import collect_runs, nonfinite_warnings, write_report

    if not args.markdown and (args.penalty_share or args.alpha_figure):
        raise ValueError("--penalty-share and --alpha-figure belong to the markdown summary: "
                         "add --markdown")
    runs = collect_runs(args.runs)
    if not runs:
        raise ValueError("no runs found in the folders given")
    for line in nonfinite_warnings(runs):
        print(f"pgg-zoo: {line}", file=sys.stderr)
    if args.markdown:
        from ..report_markdown import markdown_report

        text = markdown_report(runs, paired_to=args.paired_to,
                               penalty_shares=args.penalty_share,
                               alpha_figure=args.alpha_figure)
        if args.output is None:
            sys.stdout.write(text)
        else:
            from pathlib import Path

            Path(args.output).write_text(text, encoding="utf-8")
            print(f"report: {args.output}")
        return 0
    out = write_report(runs, args.output or "report.html", title=args.title,
                       paired_to=args.paired_to)
    print(f"report: {out}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="one self-contained HTML page (or markdown tables) "
                                      "comparing run folders (train) and study folders (demo, "
                                      "ablate, modes, alpha)")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR",
                   help="folders written by train (run.json) or by demo/ablate/modes/alpha "
                        "(metrics.json); seeds of one variant are averaged")
    p.add_argument("-o", "--output", help="the page (default report.html); with --markdown "
                                          "the markdown file (default: standard output)")
    p.add_argument("--title", help="page title")
    p.add_argument("--paired-to", dest="paired_to", metavar="VARIANT",
                   help="reference of the paired differences (default: the unguided twin of "
                        "the guided variant, else the variant with synthesis and no guidance)")
    p.add_argument("--markdown", action="store_true",
                   help="print markdown tables instead of writing the page: mean ± std over "
                        "seeds with per-seed values, and paired differences")
    p.add_argument("--penalty-share", dest="penalty_share", action="store_true",
                   help="with --markdown: also the guidance term's share of the training loss "
                        "(mean of loss_pgg / loss over each run's logged iterations)")
    p.add_argument("--alpha-figure", dest="alpha_figure", metavar="PNG",
                   help="with --markdown: plot the studies' alpha sweep (pgg-zoo ablate "
                        "folders), mean ± std over the folders given")
    p.set_defaults(func=_report)
