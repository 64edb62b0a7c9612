"""Figure of the decoy task: where each model's input gradient lies."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from pgg_zoo.viz import save_figure

__all__ = ["gradient_figure"]


def gradient_figure(tasks: Mapping[str, Any], dataset: Any, path: str | Path, n: int = 6) -> Path:
    """Row 0: ``n`` test digits (swatch outlined in red). One row per model: the squared input
    gradient of the true class's logit, each map scaled to its own maximum, with the share of
    the squared gradient on the swatch (the leakage) in the corner.

    Args:
        tasks: ``{variant name: trained DecoyTask}``.
        dataset: a :class:`~pgg_zoo_tasks.decoy.data.DecoyDigits` split with swatches.
        path: the PNG to write.
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
    rows = 1 + len(tasks)
    fig, axes = plt.subplots(rows, len(idx), figsize=(1.4 * len(idx), 1.5 * rows), squeeze=False)

    def outline(ax: Any, k: int) -> None:
        ys, xs = torch.nonzero(m[k, 0] < 1, as_tuple=True)
        if len(ys):
            ax.add_patch(Rectangle((int(xs.min()) - 0.5, int(ys.min()) - 0.5),
                                   int(xs.max() - xs.min()) + 1, int(ys.max() - ys.min()) + 1,
                                   fill=False, edgecolor="red", linewidth=1))

    for k in range(len(idx)):
        axes[0, k].imshow(x[k, 0], cmap="gray", vmin=0, vmax=1)
        axes[0, k].set_title(f"class {int(y[k])}", fontsize=7)
        outline(axes[0, k], k)
    for r, (name, task) in enumerate(tasks.items(), start=1):
        model = task.model.eval()
        xi = x.clone().requires_grad_(True)
        logits = model(xi)
        (g,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), xi)
        g2 = g.pow(2)[:, 0]
        for k in range(len(idx)):
            ax = axes[r, k]
            ax.imshow(g2[k] / g2[k].max().clamp_min(1e-30), cmap="inferno", vmin=0, vmax=1)
            share = float((g2[k] * (1 - m[k, 0])).sum() / g2[k].sum().clamp_min(1e-30))
            ax.text(0.5, 27, f"{100 * share:.0f}%", color="cyan", fontsize=6)
            outline(ax, k)
            if k == 0:
                ax.set_ylabel(name, fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("squared input gradient of the true class (red: decoy swatch; % on it)",
                 fontsize=8)
    return save_figure(fig, Path(path))
