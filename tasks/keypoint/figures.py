"""Demo figure: test scenes as stick figures, every person coloured by each model's score."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from .benchmark import COCO_LIMBS

__all__ = ["draw_scene", "keypoint_comparison_figure"]


def draw_scene(ax: Any, x: np.ndarray, t: int, img_shape: tuple[int, int],
               person_scores: np.ndarray | None = None, title: str = "") -> None:
    """Draw frame ``t`` of ``x`` ``(3, M, T, V)``; persons coloured by ``person_scores`` (M,)
    in [0, 1] (red = high), labelled with the score."""
    import matplotlib.cm as cm

    h, w = img_shape
    for m in range(x.shape[1]):
        s = x[2, m, t]
        if not (s > 0).any():
            continue
        px, py = (x[0, m, t] + 1) / 2 * w, (x[1, m, t] + 1) / 2 * h
        score = None if person_scores is None else float(person_scores[m])
        color = "k" if score is None else cm.coolwarm(score)
        for a, b in COCO_LIMBS:
            if s[a] > 0 and s[b] > 0:
                ax.plot([px[a], px[b]], [py[a], py[b]], color=color, linewidth=1.5)
        if score is not None:
            on = s > 0
            ax.text(px[on].mean(), py[on].min() - 6, f"{score:.2f}", fontsize=6, ha="center")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=7)


def keypoint_comparison_figure(tasks: Mapping[str, Any], dataset: Any, path: Path,
                               n: int = 4) -> Path:
    """One row per trained model, one column per test scene (the first ``n`` two-actor scenes
    when there are any): the middle frame, each person coloured by the model's person-frame
    score of the scene's (first) label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pgg_zoo.viz import save_figure

    first = next(iter(tasks.values()))
    gt = first.gt_tubes()
    picks = [i for i in range(len(dataset))
             if gt is not None and sum(len(v) for v in gt.gttubes[dataset[i]["video"]].values()) > 1]
    picks = (picks or list(range(len(dataset))))[:n]
    items = [dataset[i] for i in picks]
    batch = first.collate(items)
    fig, axes = plt.subplots(len(tasks), len(items), figsize=(2.2 * len(items), 1.9 * len(tasks)),
                             squeeze=False)
    names = None if gt is None else gt.labels
    for r, (name, task) in enumerate(tasks.items()):
        task.model.eval()
        with torch.no_grad():
            preds = task.model.predict(batch["inputs"], batch["data_samples"])
        for c, (it, pred) in enumerate(zip(items, preds)):
            x = it["inputs"].numpy()
            t = x.shape[2] // 2
            label = int(it["label"])
            title = f"{name}: {names[label] if names else label}" if c == 0 else \
                (names[label] if names else str(label))
            draw_scene(axes[r, c], x, t, it["img_shape"], pred["person_scores"][:, t, label],
                       title)
    fig.suptitle("person-frame score of the scene's label (middle frame)", fontsize=8)
    return save_figure(fig, path)
