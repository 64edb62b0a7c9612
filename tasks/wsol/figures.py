"""WSOL figures: CAM overlays with ground-truth and predicted boxes."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch.utils.data import Dataset

from pgg_zoo.viz import denormalize, draw_boxes, heat_overlay, save_figure


def _predicted_box(cam: np.ndarray) -> np.ndarray:
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
            draw_boxes(ax, _predicted_box(p["cam"]), "lime")
            ok = int(p["top5"][0]) == int(p["label"])
            ax.set_title(f"pred {int(p['top5'][0])} {'ok' if ok else 'x'}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.suptitle("CAM of the true class; red: ground truth, green: box at CAM threshold 0.5",
                 fontsize=8)
    return save_figure(fig, path)


def _class_name(dataset: Dataset, label: int) -> str:
    names = getattr(dataset, "classes", None)
    try:
        return f"{label}:{names[label]}" if names is not None else str(label)
    except (IndexError, TypeError):
        return str(label)


def cutmix_test_batch(dataset: Dataset, n: int = 4, seed: int = 0, max_tries: int = 200,
                      synthesizer: Any = None) -> dict[str, Any]:
    """A CutMix batch of ``n`` test images, reproducible from ``seed``.

    The images are spread evenly over the dataset. Generator seeds ``seed, seed + 1, ...`` are
    tried until every image receives a patch from an image of *another* class (so the host and
    pasted labels differ, which is what the figure compares); after ``max_tries`` the last draw
    is used as is.

    Returns:
        ``{"inputs": (n, 3, H, W) mixed, "clean": (n, 3, H, W), "host": (n,), "pasted": (n,),
        "boxes": (n, 4) x0, y0, x1, y1 of the pasted region, "mixed": (n,) bool}``.
    """
    from pgg_zoo.synthesizers.cutmix import CutMix

    synth = synthesizer if synthesizer is not None else CutMix(alpha=1.0, prob=1.0)
    idx = np.linspace(0, len(dataset) - 1, n).astype(int)
    items = [dataset[int(i)] for i in idx]
    x = torch.stack([it["inputs"] for it in items])
    labels = torch.tensor([int(it["label"]) for it in items])
    out = None
    for k in range(max_tries):
        g = torch.Generator()
        g.manual_seed(int(seed) + k)
        out = synth({"inputs": x, "labels": labels}, g)
        pasted = out.provenance.labels[:, 1]
        if bool(out.provenance.valid[:, 1].all()) and bool((pasted != labels).all()):
            break
    assert out is not None
    yx = out.extras["boxes"]  # (n, 4) y0, x0, y1, x1, end-exclusive
    boxes = torch.stack([yx[:, 1], yx[:, 0], yx[:, 3], yx[:, 2]], 1).float()
    return {"inputs": out.inputs, "clean": x, "host": labels,
            "pasted": out.provenance.labels[:, 1].clone(), "boxes": boxes,
            "mixed": out.provenance.valid[:, 1].clone()}


def guided_gradcam_cutmix_figure(tasks: Mapping[str, Any], dataset: Dataset, path: Path,
                                 n: int = 4, seed: int = 0) -> Path:
    """Guided Grad-CAM side by side for several models on the same CutMix inputs.

    One row per mixed test image (:func:`cutmix_test_batch`, fixed ``seed``). Column 1: the
    mixed input with the pasted box (yellow). Then, per model (``{variant: trained task}``),
    the Guided Grad-CAM of the host label and of the pasted label (``|gradient|`` max over
    color channels, normalized per map), with the pasted box drawn. A model that keeps each
    label on its own source shows the host label's evidence outside the box and the pasted
    label's inside it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pgg_zoo.viz import denormalize, draw_boxes, save_figure

    from pgg_zoo.vision.localization import guided_grad_cam, saliency_to_image

    batch = cutmix_test_batch(dataset, n=n, seed=seed)
    x, boxes = batch["inputs"], batch["boxes"].numpy()
    ncol = 1 + 2 * len(tasks)
    fig, axes = plt.subplots(n, ncol, figsize=(1.8 * ncol, 1.9 * n), squeeze=False)
    for r in range(n):
        ax = axes[r, 0]
        ax.imshow(denormalize(x[r]))
        draw_boxes(ax, boxes[r], "yellow")
        ax.set_title(f"host {_class_name(dataset, int(batch['host'][r]))}\n"
                     f"pasted {_class_name(dataset, int(batch['pasted'][r]))}", fontsize=6)
    for m, (name, task) in enumerate(tasks.items()):
        model = task.model
        dev = next(model.parameters()).device
        for k, key in enumerate(("host", "pasted")):
            ggc = guided_grad_cam(model, x.to(dev), batch[key].to(dev))
            maps = saliency_to_image(ggc).cpu().numpy()
            for r in range(n):
                ax = axes[r, 1 + 2 * m + k]
                ax.imshow(maps[r], cmap="gray", vmin=0, vmax=1)
                draw_boxes(ax, boxes[r], "yellow", lw=1.0)
                if r == 0:
                    ax.set_title(f"{name}\n{key} label", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Guided Grad-CAM on CutMix inputs (yellow: pasted box); host label should "
                 "light up outside the box, pasted label inside", fontsize=8)
    return save_figure(fig, path)
