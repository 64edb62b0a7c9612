"""Figure of the decoy task: where each model's input gradient lies, with each model's test
accuracy and leakage beside its row."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch

from pgg_zoo.viz import save_figure

__all__ = ["gradient_figure", "draw_gradient_figure", "row_metrics"]

#: Layout in inches: image side, gap between images, row-label column, title band.
CELL, GAP, LABEL_W, TITLE_H, COLTITLE_H = 1.0, 0.06, 1.05, 0.17, 0.15


def gradient_figure(tasks: Mapping[str, Any], dataset: Any, path: str | Path, n: int = 6) -> Path:
    """Write :func:`draw_gradient_figure` to the PNG ``path``; return it."""
    return save_figure(draw_gradient_figure(tasks, dataset, n=n), Path(path))


def row_metrics(task: Any, dataset: Any) -> tuple[float, float]:
    """``(top-1 %, leakage %)`` of a trained decoy task: the numbers its run reported
    (``metrics.json`` in its work dir, as in the demo's table), else measured here on all of
    ``dataset`` (eval mode; leakage = mean share of the true class's squared input gradient on
    the swatch)."""
    work = getattr(getattr(task, "run", None), "work_dir", None)
    record = Path(work) / "metrics.json" if work else None
    if record is not None and record.is_file():
        m = json.loads(record.read_text())["metrics"]
        if "top1" in m and "leakage" in m:
            return float(m["top1"]), float(m["leakage"])
    model = task.model.eval()
    correct, shares = 0, []
    for start in range(0, len(dataset), 256):
        items = [dataset[i] for i in range(start, min(start + 256, len(dataset)))]
        x = torch.stack([it["inputs"] for it in items]).requires_grad_(True)
        m = torch.stack([it["provenance_mask"] for it in items])[:, 0]
        y = torch.tensor([it["label"] for it in items])
        logits = model(x)
        correct += int((logits.argmax(1) == y).sum())
        (g,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), x)
        g2 = g.pow(2)[:, 0]
        shares.append((g2 * (1 - m)).flatten(1).sum(1) / g2.flatten(1).sum(1).clamp_min(1e-30))
    return 100.0 * correct / max(len(dataset), 1), 100.0 * float(torch.cat(shares).mean())


def draw_gradient_figure(tasks: Mapping[str, Any], dataset: Any, n: int = 6) -> Any:
    """The figure (a matplotlib Figure, not saved).

    Row 0: ``n`` test digits (swatch outlined in red). One row per model: the squared input
    gradient of the true class's logit, each map scaled to its own maximum, with the share of
    the squared gradient on the swatch in the corner; beside the row, the model's test top-1
    and leakage (:func:`row_metrics`). The axes are placed in inches, so the title sits right
    above the digits whatever the number of rows.

    Args:
        tasks: ``{variant name: trained DecoyTask}``.
        dataset: a :class:`~pgg_zoo_tasks.decoy.data.DecoyDigits` split with swatches.
        n: digits shown (one of each of the first ``n`` classes).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    # One digit of each of the first n classes: the split is stored sorted by class.
    first: dict[int, int] = {}
    for i, lab in enumerate(dataset.labels):
        first.setdefault(int(lab), i)
    idx = [first[c] for c in sorted(first)][:n]
    x = torch.stack([dataset[i]["inputs"] for i in idx])
    m = torch.stack([dataset[i]["provenance_mask"] for i in idx])
    y = torch.tensor([dataset[i]["label"] for i in idx])
    rows, cols = 1 + len(tasks), len(idx)
    width = LABEL_W + cols * CELL + (cols - 1) * GAP
    height = TITLE_H + COLTITLE_H + rows * CELL + (rows - 1) * GAP
    fig = plt.figure(figsize=(width, height))
    axes = [[fig.add_axes(((LABEL_W + k * (CELL + GAP)) / width,
                           (height - TITLE_H - COLTITLE_H - (r + 1) * CELL - r * GAP) / height,
                           CELL / width, CELL / height))
             for k in range(cols)] for r in range(rows)]

    def outline(ax: Any, k: int) -> None:
        ys, xs = torch.nonzero(m[k, 0] < 1, as_tuple=True)
        if len(ys):
            ax.add_patch(Rectangle((int(xs.min()) - 0.5, int(ys.min()) - 0.5),
                                   int(xs.max() - xs.min()) + 1, int(ys.max() - ys.min()) + 1,
                                   fill=False, edgecolor="red", linewidth=1))

    for k in range(cols):
        axes[0][k].imshow(x[k, 0], cmap="gray", vmin=0, vmax=1)
        axes[0][k].set_title(f"class {int(y[k])}", fontsize=7, pad=2)
        outline(axes[0][k], k)
    axes[0][0].set_ylabel("test digits", fontsize=7, rotation=0, ha="right", va="center",
                          labelpad=4)
    for r, (name, task) in enumerate(tasks.items(), start=1):
        top1, leakage = row_metrics(task, dataset)
        model = task.model.eval()
        xi = x.clone().requires_grad_(True)
        logits = model(xi)
        (g,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), xi)
        g2 = g.pow(2)[:, 0]
        for k in range(cols):
            ax = axes[r][k]
            ax.imshow(g2[k] / g2[k].max().clamp_min(1e-30), cmap="inferno", vmin=0, vmax=1)
            share = float((g2[k] * (1 - m[k, 0])).sum() / g2[k].sum().clamp_min(1e-30))
            ax.text(0.5, 27, f"{100 * share:.0f}%", color="cyan", fontsize=6)
            outline(ax, k)
        axes[r][0].set_ylabel(f"{name}\ntop-1 {top1:.1f} %\nleakage {leakage:.1f} %",
                              fontsize=7, rotation=0, ha="right", va="center", labelpad=4)
    for row in axes:
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("squared input gradient of the true class (red: decoy swatch; % on it)",
                 fontsize=8, y=1 - 0.02 / height, va="top")
    return fig
