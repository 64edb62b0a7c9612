"""Learnability check of ``wsol-shapes-v1`` that never touches the test split.

A small CNN is trained on 400 of the 480 train images and scored on the other 80 train images
(held out by a fixed permutation). The benchmark is only useful if this is clearly above chance
(25 %); a previous design with busy textures and random colours left such a CNN at chance.
Also reported: held-out accuracy on the (few) held-out train images whose texture is *not*
their class's own family, a small-sample hint of whether shape, not only texture, was learned.

Run: ``python -m pgg_zoo_tasks.wsol.data.learnability [--root DIR] [--epochs 8]``.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .benchmark import read_shapes_attributes, write_shapes_benchmark
from pgg_zoo.vision.cub import CUBDataset


def small_cnn(num_classes: int = 4) -> nn.Module:
    """4 conv layers (32-64-128-128) with BN + ReLU, two 2x2 max-pools, GAP, linear.

    Input (B, 3, 64, 64) -> logits (B, num_classes). The pools come early (after conv 1 and 2)
    to keep the check cheap on one CPU thread.
    """
    def block(i: int, o: int) -> list[nn.Module]:
        return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

    return nn.Sequential(
        *block(3, 32), nn.MaxPool2d(2),
        *block(32, 64), nn.MaxPool2d(2),
        *block(64, 128), *block(128, 128),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, num_classes),
    )


def _fit_and_score(x: torch.Tensor, y: torch.Tensor, tr: torch.Tensor, te: torch.Tensor,
                   num_classes: int, epochs: int, batch_size: int, lr: float):
    """Train a fresh :func:`small_cnn` on ``x[tr]`` (random horizontal flips) and score ``x[te]``
    after every epoch. Returns ``(history, correct, seconds)``; ``correct`` is the last epoch's
    per-image hit vector on ``te``. Draws from the global torch RNG (seed it first)."""
    model = small_cnn(num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        order = tr[torch.randperm(len(tr))]
        tot = 0.0
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            xb = x[idx]
            # random horizontal flip: all four shapes are mirror-symmetric, labels unchanged
            flip = torch.rand(len(idx)) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            correct = model(x[te]).argmax(1) == y[te]
        history.append({"epoch": epoch + 1, "train_loss": round(tot / len(tr), 4),
                        "heldout_acc": round(correct.float().mean().item(), 4)})
    return history, correct, round(time.time() - t0, 1)


def learnability_check(root: str | Path | None = None, *, seed: int = 0, epochs: int = 8,
                       n_heldout: int = 80, batch_size: int = 32, lr: float = 1e-3,
                       threads: int = 1) -> dict:
    """Train :func:`small_cnn` on the train split minus ``n_heldout`` images; score the rest.

    Returns a dict with per-epoch train loss, held-out accuracy, held-out accuracy on images
    with another class's texture (and their count), and the wall time. Uses only split="train".
    """
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    tmp = None
    if root is None:
        tmp = tempfile.TemporaryDirectory()
        root = write_shapes_benchmark(Path(tmp.name) / "wsol-shapes", seed=0)
    ds = CUBDataset(root, split="train", image_size=64)
    attrs = read_shapes_attributes(root)
    items = [ds[i] for i in range(len(ds))]
    x = torch.stack([it["inputs"] for it in items])
    y = torch.tensor([it["label"] for it in items])
    off = torch.tensor([attrs[it["image_id"]]["texture"] != it["label"] for it in items])
    perm = torch.randperm(len(ds), generator=torch.Generator().manual_seed(1234))
    te, tr = perm[:n_heldout], perm[n_heldout:]

    history, correct, seconds = _fit_and_score(x, y, tr, te, ds.num_classes, epochs,
                                               batch_size, lr)
    o = off[te]
    result = {
        "n_train": len(tr), "n_heldout": len(te), "chance": 1 / ds.num_classes,
        "heldout_acc": history[-1]["heldout_acc"],
        "heldout_other_texture_n": int(o.sum()),
        "heldout_other_texture_acc": (round(correct[o].float().mean().item(), 4)
                                      if o.any() else None),
        "history": history, "seconds": seconds,
    }
    if tmp is not None:
        tmp.cleanup()
    return result


def shape_only_check(*, seed: int = 12345, n_train: int = 400, n_heldout: int = 80,
                     epochs: int = 8, batch_size: int = 32, lr: float = 1e-3,
                     threads: int = 1) -> dict:
    """Can the same CNN learn *shape* at all when texture carries no label information?

    Renders ``n_train + n_heldout`` images in memory with the benchmark's renderer under the
    test rule (texture independent of class) but from a different seed (default 12345), so no
    image of the benchmark's test split is generated or read. This measures headroom, not any
    method: if shape were unlearnable at this size, no training method could beat the texture
    shortcut on the benchmark's test split.
    """
    from pgg_zoo.vision.files import IMAGENET_MEAN, IMAGENET_STD
    from .benchmark import render_shapes_image

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    n = n_train + n_heldout
    K = 4
    imgs, ys = [], []
    for i in range(n):
        label = i % K
        img, _m, _a = render_shapes_image(seed, i + 1, label, train=False)
        imgs.append(torch.from_numpy(img).permute(2, 0, 1).float() / 255.0)
        ys.append(label)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    x = (torch.stack(imgs) - mean) / std
    y = torch.tensor(ys)
    tr, te = torch.arange(n_train), torch.arange(n_train, n)
    history, _, seconds = _fit_and_score(x, y, tr, te, K, epochs, batch_size, lr)
    return {"n_train": n_train, "n_heldout": n_heldout, "heldout_acc": history[-1]["heldout_acc"],
            "history": history, "seconds": seconds}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=None)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shape-only", action="store_true",
                    help="run shape_only_check (texture uninformative, separate seed) instead")
    a = ap.parse_args()
    if a.shape_only:
        print(json.dumps(shape_only_check(epochs=a.epochs), indent=2))
    else:
        print(json.dumps(learnability_check(a.root, epochs=a.epochs, seed=a.seed), indent=2))
