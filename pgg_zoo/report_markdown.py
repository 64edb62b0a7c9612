"""``pgg-zoo report --markdown``: the comparison of runs as markdown tables for the terminal
and for committed summaries (``summary.md`` beside a study's runs).

Per task: mean ± sample std over seeds with the per-seed values in brackets, the options that
tell the variants apart, and the paired differences to the reference variant; optionally the
guidance term's share of the training loss and the alpha-sweep figure. The runs are read and
paired by :mod:`pgg_zoo.report`, as for the HTML page.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Mapping, Sequence

from .report import (Run, check_reference, format_stats, group_by_variant, metric_columns,
                     metric_values, paired_differences, reference_variant, variant_details)
from .viz.tables import format_table

__all__ = ["markdown_report", "penalty_share"]


def penalty_share(run: Run) -> float | None:
    """Mean of ``100 * loss_pgg / loss`` over the run's logged training iterations (the
    latest log of its folder); None when it logged no guidance term."""
    ratios = [100.0 * d["loss_pgg"] / d["loss"] for _, d in run.losses
              if "loss_pgg" in d and d.get("loss")]
    return sum(ratios) / len(ratios) if ratios else None


def _cells(groups: Mapping[str, Mapping[str, Sequence[float]]], signed: bool
           ) -> dict[str, dict[str, str]]:
    return {v: {c: format_stats(vals, signed=signed, per_seed=True) for c, vals in m.items()}
            for v, m in groups.items()}


def _alpha_figure(runs: Sequence[Run], columns: list[str], path: Path) -> Path:
    """The alpha sweep of the studies among ``runs`` (one per folder given), mean ± std over
    them; ValueError when no study holds one."""
    from .study import alpha_figure, alpha_sweep

    sweep: dict[float, list[Mapping[str, float]]] = defaultdict(list)
    for source in dict.fromkeys(r.source for r in runs):
        mine = [r for r in runs if r.source == source and r.spec is not None]
        specs = {r.variant: r.spec for r in mine}
        for alpha, metrics in alpha_sweep(specs, {r.variant: r.metrics for r in mine}).items():
            sweep[alpha].append(metrics)
    if not sweep:
        raise ValueError("--alpha-figure: no study folder among the runs holds a guided "
                         "variant and its unguided twin (pgg-zoo ablate or demo folders)")
    return alpha_figure(sweep, columns, path)


def _task_summary(task: str, runs: Sequence[Run], details: Mapping[str, str],
                  paired_to: str | None, share: bool) -> list[str]:
    cols = metric_columns(task, runs)
    groups = group_by_variant(runs)
    seeds = list(dict.fromkeys(r.seed for r in runs))
    out = [f"{task}, seeds {seeds} (mean ± sample std over seeds; per-seed values in "
           "brackets)\n",
           format_table(_cells({v: {c: metric_values(rs, c) for c in cols}
                                for v, rs in groups.items()}, signed=False),
                        cols, first="variant")]
    if any(details.get(v) for v in groups):
        out.append("\nVariants (the options that differ between the runs, seed aside):\n")
        out += [f"- `{v}`: {details.get(v) or '(as the others)'}" for v in groups]
    ref = reference_variant(runs, paired_to if paired_to in groups else None)
    if ref and len(groups) > 1:
        diff_cols = [c for c in cols if c != "train_minutes"]
        diffs = paired_differences(groups, ref, diff_cols)
        out.append(f"\nPaired differences to {ref} (same seed), mean ± sample std "
                   "[per seed]:\n")
        out.append(format_table(_cells({v: d for v, (_, d) in diffs.items()}, signed=True),
                                diff_cols, first="variant"))
    if share:
        shares = {v: [s for s in map(penalty_share, rs) if s is not None]
                  for v, rs in groups.items()}
        out.append("\nGuidance term's share of the training loss (%), mean over logged "
                   "iterations:\n")
        out.append(format_table({v: {"loss_pgg / loss (%)": format_stats(s, per_seed=True)}
                                 for v, s in shares.items() if s},
                                ["loss_pgg / loss (%)"], first="variant"))
    return out


def markdown_report(runs: Sequence[Run], *, paired_to: str | None = None,
                    penalty_shares: bool = False, alpha_figure: str | Path | None = None
                    ) -> str:
    """The markdown summary of ``runs`` (:func:`pgg_zoo.report.collect_runs`), one block per
    task. ``paired_to`` picks the reference of the paired differences (default as the HTML
    page: the unguided twin of the guided variant); ``penalty_shares`` adds the guidance
    term's share of the training loss per variant; ``alpha_figure`` writes the studies' alpha
    sweep (mean ± std over the folders given) to that PNG.

    Raises:
        ValueError: ``paired_to`` is no variant of ``runs``, or ``alpha_figure`` is asked of
            runs without a sweep.
    """
    check_reference(runs, paired_to)
    details = variant_details(runs)
    blocks: list[str] = []
    for task in dict.fromkeys(r.task for r in runs):
        truns = [r for r in runs if r.task == task]
        blocks.append("\n".join(_task_summary(task, truns, details, paired_to,
                                              penalty_shares)))
    if alpha_figure is not None:
        first = runs[0].task
        truns = [r for r in runs if r.task == first]
        cols = [c for c in metric_columns(first, truns) if c != "train_minutes"]
        blocks.append(f"alpha figure: {_alpha_figure(truns, cols, Path(alpha_figure))}")
    return "\n\n".join(blocks) + "\n"
