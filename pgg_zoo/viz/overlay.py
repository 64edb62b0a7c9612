"""Image overlays shared by the task plugins' figures."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def denormalize(x: Tensor, mean: Sequence[float] = IMAGENET_MEAN,
                std: Sequence[float] = IMAGENET_STD) -> np.ndarray:
    """``(3, H, W)`` normalized tensor -> ``(H, W, 3)`` float image in [0, 1]."""
    img = x.detach().float().cpu().numpy().transpose(1, 2, 0)
    img = img * np.asarray(std) + np.asarray(mean)
    return np.clip(img, 0, 1)


def heat_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5,
                 cmap: str = "jet") -> np.ndarray:
    """Blend a heat map (``(H, W)``, any range; min-max normalized) over ``(H, W, 3)`` image."""
    import matplotlib

    h = heat.astype(np.float64)
    h = (h - h.min()) / (h.max() - h.min() + 1e-12)
    colored = matplotlib.colormaps[cmap](h)[..., :3]
    return np.clip((1 - alpha) * image + alpha * colored, 0, 1)


def draw_boxes(ax, boxes: np.ndarray, color: str, lw: float = 1.5) -> None:
    """Draw ``(n, 4)`` ``x0, y0, x1, y1`` boxes on a matplotlib axis."""
    from matplotlib.patches import Rectangle

    for x0, y0, x1, y1 in np.asarray(boxes).reshape(-1, 4):
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=color, lw=lw))


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Save via a temporary name and rename, so a killed run leaves no half-written image."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path
