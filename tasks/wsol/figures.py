"""WSOL figures: CAM overlays with ground-truth and predicted boxes."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch.utils.data import Dataset

from pgg_zoo.viz import denormalize, draw_boxes, heat_overlay, save_figure


def _predicted_box(cam: np.ndarray, preset: str) -> np.ndarray:
    """``(1, 4)`` box of the largest contour at CAM threshold 0.5 (min-max normalized map).

    The metrics pick the best threshold over the whole test set; a figure of a few images
    uses the conventional fixed 0.5 instead.
    """
    import cv2

    c = (cam - cam.min()) / (cam.max() - cam.min() + 1e-12)
    binary = (c >= 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return np.zeros((0, 4))
    x, y, w, h = cv2.boundingRect(max(contours, key=cv2.contourArea))
    return np.array([[x, y, x + w, y + h]], dtype=np.float32)


def cam_comparison_figure(tasks: Mapping[str, Any], dataset: Dataset, path: Path,
                          n: int = 6) -> Path:
    """One row per model: test images with the GT-class CAM, GT (red) and predicted (green)
    boxes; the same images in every row. Title: predicted class (correct or not)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idx = np.linspace(0, len(dataset) - 1, n).astype(int)
    items = [dataset[int(i)] for i in idx]
    x = torch.stack([it["inputs"] for it in items])
    labels = torch.tensor([int(it["label"]) for it in items])
    fig, axes = plt.subplots(len(tasks), n, figsize=(1.9 * n, 2.1 * len(tasks)), squeeze=False)
    for r, (name, task) in enumerate(tasks.items()):
        model = task.model
        was = model.training
        model.eval()
        preds = model.predict(x, {"labels": labels, "boxes": [torch.as_tensor(it["boxes"]) for it in items]})
        model.train(was)
        for c, (it, p) in enumerate(zip(items, preds)):
            ax = axes[r, c]
            ax.imshow(heat_overlay(denormalize(it["inputs"]), p["cam"]))
            draw_boxes(ax, np.asarray(it["boxes"]), "red")
            draw_boxes(ax, _predicted_box(p["cam"], "wsoleval"), "lime")
            ok = int(p["top5"][0]) == int(p["label"])
            ax.set_title(f"pred {int(p['top5'][0])} {'ok' if ok else 'x'}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.suptitle("CAM of the true class; red: ground truth, green: box at CAM threshold 0.5",
                 fontsize=8)
    return save_figure(fig, path)
