"""Comparisons of training variants, and studies as data.

* :mod:`.runs`: variants side by side in their own run folders, per seed, resumable
  (:func:`run_variants`, :func:`run_paired`).
* :mod:`.comparisons`: what a task declares (:func:`demo`, :func:`ablate`,
  :func:`compare_modes`).
* :mod:`.alpha`: alpha chosen on validation only (:func:`choose_alpha`, :func:`alpha_study`).
* Study files (``study.yaml``: a pre-registered study as data): :mod:`.schema` (the format,
  :func:`load_study`), :mod:`.criteria` (the rules a verdict is computed by),
  :mod:`.summary` (per-seed numbers, ``summary.json``), :mod:`.jobs` and :mod:`.runner`
  (``pgg-zoo study run``), :mod:`.report` and :mod:`.claims` (``pgg-zoo study report`` /
  ``claims``). docs/studies.md describes the format and the commands.
"""
from ..task.variants import MODE_VARIANTS
from .alpha import (ALPHA_GRID, alpha_for_test, alpha_study, alpha_variant_name, choose_alpha,
                    selection_metric)
from .comparisons import ALPHAS, ablate, alpha_figure, alpha_sweep, compare_modes, demo
from .runs import (epochs_to_reach, finished_metrics, read_curve, run_paired, run_variants,
                   variant_dir_name, write_json)
from .schema import StudyFile, load_study
from .summary import Summary, read_summary, write_summary
from .runner import run_study
from .report import study_report

__all__ = ["demo", "ablate", "compare_modes", "alpha_study", "run_variants", "run_paired",
           "read_curve", "epochs_to_reach", "alpha_sweep", "alpha_figure", "selection_metric",
           "choose_alpha", "alpha_for_test", "alpha_variant_name", "variant_dir_name",
           "write_json", "finished_metrics", "MODE_VARIANTS", "ALPHAS", "ALPHA_GRID",
           "StudyFile", "load_study", "Summary", "read_summary", "write_summary", "run_study",
           "study_report"]
