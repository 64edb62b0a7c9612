"""Mean and spread over seeds of `pgg-zoo demo | ablate | modes` runs: a markdown table per task.

    python scripts/summarize_runs.py work_dirs/demo_s0 work_dirs/demo_s1 work_dirs/demo_s2
    python scripts/summarize_runs.py --paired-to cutmix work_dirs/ablate_s0 ... # differences

A thin wrapper over ``pgg-zoo report --markdown`` (:mod:`pgg_zoo.report_markdown`), kept so
that the study scripts that call it keep working; new scripts call ``pgg-zoo report
--markdown`` directly. ``--paired-to VARIANT`` names the reference of the paired differences:
every variant minus VARIANT, seed by seed (the runs of one seed share data order, synthesis
draws and initial weights, so paired differences remove most of the seed-to-seed spread).
"""
from __future__ import annotations

import argparse

from pgg_zoo.cli.main import main as pgg_zoo


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="output folders, each with a metrics.json")
    ap.add_argument("--paired-to", metavar="VARIANT",
                    help="reference of the per-seed differences")
    ap.add_argument("--penalty-share", action="store_true",
                    help="also print the guidance term's share of the training loss (mean of "
                         "loss_pgg / loss over the logged iterations of each run)")
    ap.add_argument("--alpha-figure", metavar="PNG",
                    help="`pgg-zoo ablate` runs: plot the alpha sweep, mean ± std over seeds")
    args = ap.parse_args(argv)
    argv = ["report", "--markdown", *args.runs]
    if args.paired_to:
        argv += ["--paired-to", args.paired_to]
    if args.penalty_share:
        argv.append("--penalty-share")
    if args.alpha_figure:
        argv += ["--alpha-figure", args.alpha_figure]
    code = pgg_zoo(argv)
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
