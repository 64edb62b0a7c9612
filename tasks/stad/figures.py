"""STAD figures: key frames with boxes and actions, and input-gradient maps per model."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch.utils.data import Dataset

from pgg_zoo.viz import denormalize, draw_boxes, heat_overlay, save_figure


def box_input_gradient(model: Any, clip: torch.Tensor, boxes: torch.Tensor,
                       labels: torch.Tensor) -> np.ndarray:
    """``(T, H, W)`` magnitude of the input gradient of the boxes' own-class logits summed.

    Args:
        clip: ``(3, T, H, W)``; boxes: ``(n, 4)``; labels: ``(n,)``.
    """
    x = clip[None].clone().requires_grad_(True)
    out = model(x, {"boxes": [boxes]})
    logit = out["logits"][torch.arange(len(labels)), labels].sum()
    (g,) = torch.autograd.grad(logit, x)
    return g[0].abs().sum(0).numpy()


def stad_comparison_figure(tasks: Mapping[str, Any], dataset: Dataset, path: Path,
                           n: int = 4) -> Path:
    """Row 1: key frames with GT boxes (red) and the first model's predicted actions. Then one
    row per model: the key frame's input-gradient magnitude of the actors' own-class logits
    (where the model looks; with paste guidance it should stay on the actors)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idx = np.linspace(0, len(dataset) - 1, n).astype(int)
    items = [dataset[int(i)] for i in idx]
    names = list(getattr(dataset, "labels", []))
    rows = 1 + len(tasks)
    fig, axes = plt.subplots(rows, n, figsize=(2.2 * n, 2.3 * rows), squeeze=False)
    first = next(iter(tasks.values())).model
    for c, it in enumerate(items):
        clip = it["inputs"]
        key = clip.shape[1] // 2
        frame = denormalize(clip[:, key])
        boxes = torch.as_tensor(it["boxes"], dtype=torch.float32)
        labels = torch.as_tensor(it["labels"]).long()
        first.eval()
        pred = first.predict(clip[None], {"boxes": [boxes]})[0]
        ax = axes[0, c]
        ax.imshow(frame)
        draw_boxes(ax, boxes.numpy(), "red")
        words = []
        for j, p in enumerate(pred["labels"].tolist()):
            gt = names[int(labels[j])] if names else int(labels[j])
            pr = names[p] if names else p
            words.append(f"{gt}->{pr}")
        ax.set_title("; ".join(words), fontsize=7)
        for r, (name, task) in enumerate(tasks.items(), start=1):
            model = task.model
            was = model.training
            model.eval()
            grad = box_input_gradient(model, clip, boxes, labels)
            model.train(was)
            axr = axes[r, c]
            axr.imshow(heat_overlay(frame, grad[key], alpha=0.6))
            draw_boxes(axr, boxes.numpy(), "white", lw=1.0)
            if c == 0:
                axr.set_ylabel(name, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("GT -> predicted", fontsize=8)
    fig.suptitle("STAD key frames; rows 2+: |d logit / d input| of the actors' own class",
                 fontsize=8)
    return save_figure(fig, path)
