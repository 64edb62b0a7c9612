"""``pgg-zoo study run | report | claims``: studies as data (docs/studies.md)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from ..study.jobs import StudyRunError
    from ..study.runner import run_study
    from ..study.schema import check_task_options, load_study
    from .run import parse_set_options

    study = load_study(args.file)
    check_task_options(study)  # every option name, before anything is built
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    try:
        run_study(study, phase=args.phase, workers=args.workers, executor=args.executor,
                  runs_dir=args.runs_dir, threads=args.threads,
                  executor_options=parse_set_options(args.executor_option or []))
    except StudyRunError as exc:
        print(f"pgg-zoo: {exc}", file=sys.stderr)
        return 1
    return 0


def _report(args: argparse.Namespace) -> int:
    from ..study.claims import study_paths
    from ..study.report import study_report
    from ..study.schema import load_study
    from ..study.summary import read_summary

    parts = []
    for path in study_paths(args.files):
        study = load_study(path)
        summary = read_summary(study.summary_path)
        parts.append(study_report(study, summary))
        if args.figures and summary is not None:
            from ..study.curves_figure import curves_figure

            figure = curves_figure(study, summary, Path(args.figures) / f"{study.name}_curves.png")
            if figure is not None:
                parts.append(f"Learning curves: {figure}")
    sys.stdout.write("\n\n".join(parts) + "\n")
    return 0


def _claims(args: argparse.Namespace) -> int:
    from ..study.claims import (claims_table, committed_block, default_vocabulary,
                                load_studies, load_vocabulary, replace_block, study_paths,
                                table_differences)

    paths = study_paths(args.files)
    if not paths:
        raise ValueError("no study files given")
    vocabulary = load_vocabulary(args.vocabulary or default_vocabulary(paths))
    table = claims_table(load_studies(paths), vocabulary)
    if args.check:
        committed = committed_block(Path(args.check).read_text("utf-8"), args.check)
        differences = table_differences(committed, table)
        if differences:
            print(f"pgg-zoo: {args.check}: the claims table differs from the one regenerated "
                  f"from the study files ({len(differences)} row(s)); regenerate it with "
                  f"`pgg-zoo study claims ... --write {args.check}`:", file=sys.stderr)
            for line in differences:
                print(f"  {line}", file=sys.stderr)
            return 1
        print(f"{args.check}: the claims table equals the regenerated one")
        return 0
    if args.write:
        target = Path(args.write)
        target.write_text(replace_block(target.read_text("utf-8"), table, target),
                          encoding="utf-8")
        print(f"claims table: {target}")
        return 0
    sys.stdout.write(table + "\n")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    from ..study.jobs import EXECUTORS
    from ..study.runner import PHASES

    p = sub.add_parser("study", help="pre-registered studies as data: run a study file, "
                                     "report it, regenerate the claims table")
    study_sub = p.add_subparsers(dest="study_command", metavar="COMMAND")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    r = study_sub.add_parser("run", help="train a study's runs (resumable: a finished run is "
                                         "read, never retrained) and write its summary.json")
    r.add_argument("file", metavar="FILE", help="a study file (studies/<name>/study.yaml) or "
                                                "its folder")
    r.add_argument("--phase", choices=PHASES, default="all",
                   help="select: choose alpha on validation; test: the variants at the test "
                        "alpha; all: both (default)")
    r.add_argument("--workers", type=int, default=1, metavar="N",
                   help="runs trained at once (default 1)")
    r.add_argument("--threads", type=int, default=1, metavar="T",
                   help="torch threads per run (default 1)")
    r.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local: worker processes on this machine (default); slurm: job arrays "
                        "through submitit (pip install 'pgg-zoo[cluster]'); submitit-local: "
                        "submitit's local executor (the Slurm path on one machine)")
    r.add_argument("--executor-option", dest="executor_option", action="append",
                   metavar="KEY=VALUE", help="a submitit parameter (timeout_min=120, "
                                             "slurm_partition=gpu, ...), repeatable")
    r.add_argument("--runs-dir", dest="runs_dir", metavar="DIR",
                   help="where the run folders go (default runs/studies/<name>)")
    r.set_defaults(func=_run)

    r = study_sub.add_parser("report", help="a study's paired table, criteria and verdicts "
                                            "(markdown) from its summary")
    r.add_argument("files", nargs="+", metavar="FILE",
                   help="study files, study folders, or a folder of study folders (studies/)")
    r.add_argument("--figures", metavar="DIR",
                   help="also draw each study's learning curves to DIR/<name>_curves.png")
    r.set_defaults(func=_report)

    r = study_sub.add_parser("claims", help="regenerate the claims table (markdown) from the "
                                            "study files and their summaries")
    r.add_argument("files", nargs="+", metavar="FILE",
                   help="study files, study folders, or a folder of study folders (studies/)")
    r.add_argument("--vocabulary", metavar="PATH",
                   help="the claims (default: claims.yaml beside the study folders)")
    out = r.add_mutually_exclusive_group()
    out.add_argument("--check", metavar="PATH",
                     help="compare with the table committed in PATH; exit 1 naming the rows "
                          "that differ")
    out.add_argument("--write", metavar="PATH", help="replace the table in PATH")
    r.set_defaults(func=_claims)
