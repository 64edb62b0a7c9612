"""The options a study file declares for each of its runs, and the checks that keep a study's
numbers tied to them.

Two ways a study's numbers could silently stop describing its file:

* a run folder that already holds a finished run is read, not retrained; if the file has been
  edited since (another ``epochs``, another variant recipe), the old run would be read as the
  new one. :func:`folder_differences` compares the folder's ``config.yaml`` with what the file
  declares now, and ``pgg-zoo study run`` refuses the folder when they differ;
* the committed summary keeps, per phase, the options each variant (or alpha) was trained with
  (:func:`declared_options`); :func:`stale_runs` compares them with the file, and the claims
  table is not regenerated from a summary whose runs the file no longer describes.

Declared options are the study's own keys (``options``, the variant's overrides, the alpha,
the split, ``eval_interval`` for curves), not the task's defaults for the rest: a change of a
default is a change of the library, not of the study.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..config.file import plain_value

if TYPE_CHECKING:
    from .schema import StudyFile
    from .summary import Summary

__all__ = ["declared_options", "folder_differences", "stale_runs", "PER_RUN"]

#: Options that differ run by run and are not part of what a variant declares.
PER_RUN = ("seed", "work_dir", "resume")


def declared_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` of a job without the per-run keys, as plain YAML values."""
    return {k: plain_value(v) for k, v in sorted(options.items()) if k not in PER_RUN}


def _differences(now: Mapping[str, Any], then: Mapping[str, Any], then_name: str) -> list[str]:
    missing = object()
    out = []
    for key in sorted(set(now) | set(then)):
        a, b = now.get(key, missing), then.get(key, missing)
        if a is missing or b is missing or plain_value(a) != plain_value(b):
            shown_a = "not set" if a is missing else repr(plain_value(a))
            shown_b = "not set" if b is missing else repr(plain_value(b))
            out.append(f"{key} {shown_a} ({then_name} {shown_b})")
    return out


def folder_differences(task: str, options: Mapping[str, Any], work_dir: str | Path
                       ) -> list[str]:
    """``"<option> <declared> (trained with <saved>)"`` for every option the job declares
    that the finished run in ``work_dir`` was trained with otherwise (its ``config.yaml``);
    empty when the folder holds no configuration file (nothing to compare)."""
    from ..config import CONFIG_FILE, PLACE_OPTIONS, read_config_file
    from ..registry import TASKS
    from ..task.building import split_options

    path = Path(work_dir) / CONFIG_FILE
    if not path.is_file():
        return []
    saved = read_config_file(path)
    declared = {k: v for k, v in options.items() if k not in PLACE_OPTIONS + PER_RUN}
    task_opts, run_opts = split_options(TASKS.get(task), declared)
    out = _differences(task_opts, {k: saved.task_options[k] for k in task_opts
                                   if k in saved.task_options}, "trained with")
    out += _differences(run_opts, {k: saved.run[k] for k in run_opts if k in saved.run},
                        "trained with")
    if "seed" in options and "seed" in saved.run and plain_value(options["seed"]) != \
            plain_value(saved.run["seed"]):
        out.append(f"seed {options['seed']!r} (trained with {saved.run['seed']!r})")
    return out


def file_options(study: "StudyFile", summary: "Summary") -> dict[str, dict[Any, dict]]:
    """Per phase (``select``, ``test``, ``curves``), what the file declares now for each
    variant (alpha, for ``select``) of the summary's runs."""
    from .runner import curve_jobs, selection_jobs, test_jobs

    out: dict[str, dict[Any, dict]] = {"select": {}, "test": {}, "curves": {}}
    where = Path("runs")
    if study.parsed_selection is not None:
        for job in selection_jobs(study, where):
            out["select"][float(job.alpha or 0.0)] = declared_options(job.options)
    if summary.test_alpha is not None:
        for job in test_jobs(study, summary.test_alpha, where):
            out["test"][job.name] = declared_options(job.options)
    if summary.curve_alpha is not None:
        for job in curve_jobs(study, summary.curve_alpha, where):
            out["curves"][job.name] = declared_options(job.options)
    return out


def stale_runs(study: "StudyFile", summary: "Summary") -> list[str]:
    """One line per variant (or selection alpha) whose recorded options differ from what the
    study file declares now, or that the file no longer has; empty when the summary records
    no options (written before they were recorded) or every record matches."""
    now = file_options(study, summary)
    out = []
    for phase, recorded in (("select", summary.selection_options),
                            ("test", summary.test_options),
                            ("curves", summary.curve_options)):
        for key, options in recorded.items():
            name = f"alpha {key:g}" if phase == "select" else f"variant {key!r}"
            if key not in now[phase]:
                out.append(f"{phase}: {name} is no longer declared by the file")
                continue
            diff = _differences(now[phase][key], options, "its runs:")
            if diff:
                out.append(f"{phase}: {name}: " + "; ".join(diff))
    return out
