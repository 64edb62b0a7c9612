"""Training curves of several runs side by side (the figure of ``pgg-zoo report``)."""
from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence

__all__ = ["curves_figure"]

#: Legend labels are cut to this many characters, so that a long variant name cannot widen
#: the figure (and, once scaled to the page, shrink the plots).
MAX_LABEL = 40
#: Characters of legend text that fit across the figure's width at the legend's font size.
_LEGEND_CHARS = 230


class CurveRun(Protocol):
    """What the figure reads from a run (:class:`pgg_zoo.report.Run` has it)."""

    variant: str
    losses: Sequence[tuple[int, Mapping[str, float]]]
    evals: Sequence[tuple[int, Mapping[str, float]]]
    leakage: Sequence[tuple[int, float]]


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[:MAX_LABEL - 1] + "…"


def curves_figure(title: str, runs: Sequence[CurveRun], metric: str | None) -> Any:
    """A matplotlib figure of four panels: training loss and guidance term by iteration,
    ``metric`` and leakage by epoch; one line per run, one colour and legend entry per
    variant (seeds of a variant share the colour). None when no run recorded any curve.

    The legend sits below the panels, in as many columns as fit the figure's width, so that
    it never narrows the plots."""
    if not any(r.losses or r.evals or r.leakage for r in runs):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    panels = [("training loss", "iteration"), ("guidance term alpha·penalty", "iteration"),
              (f"{metric or 'metric'} (%)", "epoch"), ("gradient leakage (%)", "epoch")]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    variants = list(dict.fromkeys(r.variant for r in runs))
    labelled: set[str] = set()
    for r in runs:
        color = colors[variants.index(r.variant) % len(colors)]
        kw: dict[str, Any] = dict(color=color, marker="." if len(r.evals) < 20 else None)
        if r.variant not in labelled:  # one legend entry per variant, on its first line
            drawn = bool(r.losses or (metric and r.evals) or r.leakage)
            if drawn:
                kw["label"] = _short(r.variant)
                labelled.add(r.variant)
        if r.losses:
            axes[0].plot([i for i, _ in r.losses], [d["loss"] for _, d in r.losses], **kw)
            pgg = [(i, d["loss_pgg"]) for i, d in r.losses if "loss_pgg" in d]
            if pgg:
                axes[1].plot(*zip(*pgg), **kw)
        if metric and r.evals:
            pts = [(e, m[metric]) for e, m in r.evals if metric in m]
            if pts:
                axes[2].plot(*zip(*pts), **kw)
        if r.leakage:
            axes[3].plot(*zip(*r.leakage), **kw)
    for ax, (name, xlabel) in zip(axes, panels):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.lines and xlabel == "epoch":
            # a lone final evaluation still reads as "after N epochs"; points all at epoch 0
            # (leakage before training) keep a whole-epoch axis
            ax.set_xlim(left=0, right=max(1.0, ax.get_xlim()[1]))
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
        if not ax.lines:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes,
                    color="gray")
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if labels:
        widest = max(len(lab) for lab in labels) + 6  # + the line sample and spacing
        ncol = max(1, min(len(labels), _LEGEND_CHARS // widest))
        fig.legend(handles, labels, fontsize=7, loc="upper center", ncol=ncol,
                   bbox_to_anchor=(0.5, 0.0), frameon=False)
    fig.suptitle(title, fontsize=10)
    return fig
