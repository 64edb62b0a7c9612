"""The learning curves of a study's ``curves`` runs as a figure: one panel per metric a reach
measure reads, one line per (variant, seed), b's final value of each seed marked where it is
first reached (``pgg-zoo study report --figures DIR``)."""
from __future__ import annotations

from pathlib import Path

from .schema import StudyFile
from .summary import Summary

__all__ = ["curves_figure", "draw_curves"]


def curves_figure(study: StudyFile, summary: Summary, path: str | Path) -> Path | None:
    """Draw ``summary``'s learning curves to ``path`` (PNG); None when it holds none."""
    from ..viz import save_figure

    fig = draw_curves(study, summary)
    return None if fig is None else save_figure(fig, path)


def draw_curves(study: StudyFile, summary: Summary):
    """The figure (matplotlib) of :func:`curves_figure`; None when there are no curves."""
    reach = [m for m in study.parsed_measures.values() if m.kind == "reach"]
    metrics = list(dict.fromkeys(m.metric for m in reach))
    if not summary.curve_runs or not metrics:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = list(summary.curve_runs)
    colours = {v: plt.cm.tab10(i % 10) for i, v in enumerate(variants)}
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for v in variants:
            for i, (seed, curve) in enumerate(sorted(summary.curve_runs[v].items())):
                points = [(e, m[metric]) for e, m in curve if metric in m]
                ax.plot([e for e, _ in points], [y for _, y in points], marker="o",
                        markersize=3, lw=1, alpha=0.8, color=colours[v],
                        label=v if i == 0 else None)
        for m in (m for m in reach if m.metric == metric and m.a != m.b):
            # the level a's curve has to reach on each seed: b's final value
            for seed, curve in summary.curve_runs.get(m.b, {}).items():
                if curve and metric in curve[-1][1]:
                    ax.axhline(curve[-1][1][metric], color=colours[m.b], lw=0.5, ls=":")
        ax.set_xlabel(f"epoch (evaluated every {summary.curve_every})")
        ax.set_ylabel(f"{summary.curve_split} {metric}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{study.name}: learning curves, one line per seed (dotted: each seed's "
                 "final level of the reference)", fontsize=8)
    return fig
