"""``pgg-zoo study run``: a study file's runs, resumably, then its summary.

Phases: ``select`` trains the guided variant at every alpha of the grid (alpha 0: the same
run without guidance) on the selection seeds, evaluated on the validation split, and chooses
alpha (:func:`~pgg_zoo.study.alpha.choose_alpha`; the test alpha is the best positive one
when validation chose 0); ``test`` trains every variant on its test seeds at the test alpha;
``curves`` (only for a study file with a ``curves`` section) trains the listed variants again,
the same runs evaluated on the test split every ``curves.every`` epochs, for the learning-curve
measures. Run folders: ``<runs_dir>/select/s<seed>/<alpha run>``,
``<runs_dir>/test/s<seed>/<variant>`` (the layout of :func:`~pgg_zoo.study.run_paired`) and
``<runs_dir>/curves/s<seed>/<variant>``. After each phase the summary beside the study file is
rewritten from every finished run of the phase.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from ..task.variants import unguided
from .alpha import alpha_for_test, alpha_variant_name, choose_alpha
from .declared import declared_options
from .jobs import Job, JobResult, StudyRunError, describe, execute
from .runs import read_curve, variant_dir_name
from .schema import StudyFile
from .summary import RUN_SOURCE, Summary, read_summary, write_summary

__all__ = ["run_study", "selection_jobs", "test_jobs", "curve_jobs", "PHASES",
           "default_runs_dir"]

PHASES = ("select", "test", "curves", "all")


def default_runs_dir(study: StudyFile) -> Path:
    """``runs/studies/<name>`` under the current folder (``runs/`` is not committed)."""
    return Path("runs") / "studies" / study.name


def selection_jobs(study: StudyFile, runs_dir: Path, threads: int = 1) -> list[Job]:
    """One job per (selection seed, alpha of the grid)."""
    sel = study.parsed_selection
    if sel is None:
        return []
    guided = study.variants[study.guided]
    jobs = []
    for seed in sel.seeds:
        for alpha in sel.alphas:
            name = alpha_variant_name(alpha)
            overrides = unguided(guided) if alpha == 0 else {**guided, "alpha": alpha}
            options = {**study.options, **overrides, "eval_split": sel.split, "seed": seed,
                       "work_dir": str(runs_dir / "select" / f"s{seed}" / variant_dir_name(name))}
            jobs.append(Job("select", name, seed, study.task, options, alpha, threads))
    return jobs


def _variant_job(study: StudyFile, phase: str, name: str, seed: int, alpha: float,
                 runs_dir: Path, threads: int, **extra: Any) -> Job:
    """Variant ``name`` on ``seed`` at ``alpha`` (unless the variant sets its own), evaluated on
    the test split, in ``<runs_dir>/<phase>/s<seed>/<variant>``; ``extra`` options on top.
    The test and curve runs are built here alike, so a curve run is its test run."""
    options = {**study.options, "alpha": alpha, **study.variants[name], **extra,
               "eval_split": study.parsed_test.split, "seed": seed,
               "work_dir": str(runs_dir / phase / f"s{seed}" / variant_dir_name(name))}
    return Job(phase, name, seed, study.task, options, None, threads)


def test_jobs(study: StudyFile, alpha: float, runs_dir: Path, threads: int = 1) -> list[Job]:
    """One job per (variant, test seed of that variant), at ``alpha`` unless the variant sets
    its own."""
    assert study.parsed_test is not None
    return [_variant_job(study, "test", name, seed, alpha, runs_dir, threads)
            for name in study.variants for seed in study.seeds_of(name)]


def curve_jobs(study: StudyFile, alpha: float, runs_dir: Path, threads: int = 1) -> list[Job]:
    """One job per (variant of ``curves``, its curve seed): the test run's options, evaluated
    on the test split every ``curves.every`` epochs."""
    curves = study.parsed_curves
    if curves is None:
        return []
    return [_variant_job(study, "curves", name, seed, alpha, runs_dir, threads,
                         **curves.options, eval_interval=curves.every)
            for name in curves.variants for seed in study.curve_seeds_of(name)]


def _recorder(runs_dir: Path, log: Callable[[str], Any]) -> Callable[[JobResult], None]:
    """Append each result to ``<runs_dir>/jobs.jsonl`` (when and where each run ran) and log
    one line."""
    path = runs_dir / "jobs.jsonl"

    def record(res: JobResult) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({k: v for k, v in res.to_json().items() if k != "metrics"})
                    + "\n")
        if res.error:
            log(f"[{res.phase} s{res.seed} {res.name}] FAILED: "
                f"{res.error.strip().splitlines()[-1]}")
        elif res.reused:
            log(f"[{res.phase} s{res.seed} {res.name}] finished earlier: read {res.work_dir}")
        else:
            shown = ", ".join(f"{k}={v:.2f}" for k, v in res.metrics.items())
            log(f"[{res.phase} s{res.seed} {res.name}] done in "
                f"{(res.ended - res.started) / 60:.1f} min: {shown}")

    return record


def _start_summary(study: StudyFile, threads: int, log: Callable[[str], Any]) -> Summary:
    old = read_summary(study.summary_path)
    if old is not None and old.from_runs:
        if old.threads is not None and old.threads != threads:
            # CPU results depend on the thread count: runs of two counts would mix unnoticed
            raise ValueError(f"{study.summary_path}: its runs trained with {old.threads} torch "
                             f"thread(s) per run; continue with --threads {old.threads}, or "
                             "remove the summary and the run folders to start over")
        old.threads = threads
        return old
    if old is not None:
        log(f"{study.summary_path}: replacing the transcribed summary ({old.source}) by the "
            "numbers of these runs")
    return Summary(study=study.name, source=RUN_SOURCE, threads=threads)


def run_study(study: StudyFile, *, phase: str = "all", workers: int = 1,
              executor: str = "local", runs_dir: str | Path | None = None, threads: int = 1,
              executor_options: dict[str, Any] | None = None,
              log: Callable[[str], Any] = print) -> Summary:
    """Run ``study``'s phase(s) and write its summary (``summary.json`` beside the study file).

    ``workers`` runs train at once (``executor``: see :func:`~pgg_zoo.study.jobs.execute`),
    each with ``threads`` torch threads. A run folder that holds a finished run is read, not
    retrained, so running a study again continues where it stopped.

    Raises:
        ValueError: the test phase without a test alpha (neither recorded in the file nor
            chosen by a selection run); ``threads`` other than the count the summary's runs
            trained with.
        StudyRunError: some runs failed; the summary holds the others.
    """
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; choose from {', '.join(PHASES)}")
    if phase == "curves" and study.parsed_curves is None:
        raise ValueError(f"{study.path}: --phase curves: the study file has no curves section")
    runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir(study)
    summary = _start_summary(study, threads, log)
    record = _recorder(runs_dir, log)
    failed: list[JobResult] = []

    def run(jobs: list[Job]) -> list[JobResult]:
        results = execute(jobs, executor=executor, workers=workers,
                          folder=runs_dir / "submitit", executor_options=executor_options,
                          on_result=record)
        failed.extend(r for r in results if r.error)
        return [r for r in results if not r.error]

    def declared(jobs: list[Job], key: Callable[[Job], Any]) -> dict[Any, dict[str, Any]]:
        # what each variant (alpha) was trained with, kept beside its numbers
        return {key(j): declared_options(j.options) for j in jobs}

    if phase in ("select", "all") and study.parsed_selection is None:
        log(f"{study.path}: no selection (the study fixes test.alpha "
            f"{study.parsed_test.alpha:g})")
    elif phase in ("select", "all"):
        jobs = selection_jobs(study, runs_dir, threads)
        _select(study, summary, run(jobs), log)
        summary.selection_options = declared(jobs, lambda j: float(j.alpha or 0.0))
        write_summary(study.summary_path, summary)
    if phase in ("test", "all") and not failed:
        alpha = _alpha_for_test(study, summary, log)
        jobs = test_jobs(study, alpha, runs_dir, threads)
        results = run(jobs)
        summary.test_alpha, summary.test_split = alpha, study.parsed_test.split
        summary.test_options = declared(jobs, lambda j: j.name)
        summary.test_runs = {}
        for res in sorted(results, key=lambda r: (list(study.variants).index(r.name), r.seed)):
            summary.test_runs.setdefault(res.name, {})[res.seed] = res.metrics
        write_summary(study.summary_path, summary)
    if phase in ("curves", "all") and study.parsed_curves is not None and not failed:
        alpha = _alpha_for_test(study, summary, log)
        jobs = curve_jobs(study, alpha, runs_dir, threads)
        results = run(jobs)
        split = study.parsed_test.split
        summary.curve_options = declared(jobs, lambda j: j.name)
        summary.curve_every, summary.curve_split = study.parsed_curves.every, split
        summary.curve_alpha = alpha
        summary.curve_runs = {}
        order = list(study.parsed_curves.variants)
        for res in sorted(results, key=lambda r: (order.index(r.name), r.seed)):
            curve = read_curve(Path(res.work_dir) / "metrics.jsonl", split=split)
            summary.curve_runs.setdefault(res.name, {})[res.seed] = curve
        write_summary(study.summary_path, summary)
    log(f"summary: {study.summary_path}")
    if failed:
        lines = describe(failed)
        raise StudyRunError(f"{len(failed)} run(s) failed (the others are kept; running the "
                            f"study again resumes): " + "; ".join(lines))
    return summary


def _select(study: StudyFile, summary: Summary, results: list[JobResult],
            log: Callable[[str], Any]) -> None:
    sel = study.parsed_selection
    assert sel is not None
    summary.selection_metric, summary.selection_split = sel.metric, sel.split
    summary.selection_runs = {}
    for res in results:
        summary.selection_runs.setdefault(float(res.alpha or 0.0), {})[res.seed] = res.metrics
    complete = {a: runs for a, runs in summary.selection_runs.items()
                if set(runs) == set(sel.seeds)}
    if set(complete) != set(sel.alphas):
        summary.chosen_alpha = summary.selected_alpha = None
        return
    missing = sorted({a for a, runs in complete.items() for m in runs.values()
                      if sel.metric not in m})
    if missing:
        raise ValueError(f"{study.path}: option selection.metric: the selection runs did not "
                         f"report {sel.metric!r} (alpha {missing[0]:g})")
    scores = {a: [runs[s][sel.metric] for s in sel.seeds] for a, runs in complete.items()}
    summary.chosen_alpha = choose_alpha(scores, sel.tolerance)
    summary.selected_alpha = alpha_for_test(scores, sel.tolerance)
    line = f"validation chose alpha {summary.chosen_alpha:g} (mean val {sel.metric})"
    if summary.selected_alpha != summary.chosen_alpha:
        line += f"; the guided test runs use the best positive alpha, {summary.selected_alpha:g}"
    log(line)
    recorded = study.parsed_test.alpha
    if recorded is None:
        log(f"record it before the test runs: test.alpha: {summary.selected_alpha:g} in "
            f"{study.path}")
    elif recorded != summary.selected_alpha:
        log(f"WARNING: {study.path} records test.alpha {recorded:g}, this selection gives "
            f"{summary.selected_alpha:g}; the test runs use the recorded alpha")


def _alpha_for_test(study: StudyFile, summary: Summary, log: Callable[[str], Any]) -> float:
    recorded = study.parsed_test.alpha
    if recorded is not None:
        return float(recorded)
    if summary.selected_alpha is not None:
        log(f"test alpha {summary.selected_alpha:g}: chosen by the selection runs (not yet "
            f"recorded as test.alpha in {study.path})")
        return summary.selected_alpha
    raise ValueError(f"{study.path}: option test.alpha: not recorded and no finished selection "
                     "chose it; run --phase select first and record the alpha it chooses")
