"""Batch CutMix with provenance (Yun et al., ICCV 2019)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import Tensor

from ..provenance import Provenance, check_provenance_level
from ..registry import SYNTHESIZERS
from .base import SynthesizedBatch, rand_beta, rand_uniform


def random_boxes(
    n: int, height: int, width: int, lam: Tensor, generator: torch.Generator | None
) -> Tensor:
    """CutMix boxes: ``(n, 4)`` int64 ``(y0, x0, y1, x1)``, end-exclusive, clipped to the image.

    The box side is ``sqrt(1 - lam)`` of the image side and its centre is uniform over the
    image, as in the CutMix paper; clipping makes the true area smaller, which is why the
    label weight is recomputed from the clipped box.
    """
    cut = torch.sqrt(1.0 - lam)
    ch = (height * cut).long()
    cw = (width * cut).long()
    cy = (rand_uniform(n, generator) * height).long()
    cx = (rand_uniform(n, generator) * width).long()
    y0 = (cy - ch // 2).clamp(0, height)
    y1 = (cy + ch // 2).clamp(0, height)
    x0 = (cx - cw // 2).clamp(0, width)
    x1 = (cx + cw // 2).clamp(0, width)
    return torch.stack([y0, x0, y1, x1], dim=1)


def box_masks(boxes: Tensor, height: int, width: int) -> Tensor:
    """``(n, H, W)`` float masks, 1 inside each ``(y0, x0, y1, x1)`` box."""
    ys = torch.arange(height).view(1, height, 1)
    xs = torch.arange(width).view(1, 1, width)
    y0, x0, y1, x1 = (boxes[:, i].view(-1, 1, 1) for i in range(4))
    return ((ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)).float()


@SYNTHESIZERS.register("cutmix", modality="image,video")
@dataclass
class CutMix:
    """Paste a random box of another input of the batch into each input.

    Works on images ``(B, C, H, W)`` and on video ``(B, C, T, H, W)`` (the same box in every
    frame). Input ``b`` keeps its own label ``labels[b]`` (the host, label slot 0) and receives
    a box from input ``perm[b]`` (label slot 1).

    Provenance: the host label owns ``M`` (everything outside the box), the pasted label owns
    ``1 - M``. Label weights are area-corrected: ``1 - box_area / (H W)`` for the host and
    ``box_area / (H W)`` for the pasted label. Inputs left unmixed (probability ``1 - prob``, or
    a box clipped to nothing) have their pasted slot marked invalid.

    Args:
        alpha: Beta(alpha, alpha) parameter of the mixing ratio.
        prob: probability that an input is mixed.
        provenance: ``"label"`` (default): slots of an input that carry the same class are
            merged (:meth:`Provenance.label_level`), so a same-class or self pair owns the
            whole input and gets no penalty; ``"source"``: one slot per source image, the
            paper's literal formula, under which such a pair gets the whole-gradient penalty.
    """

    alpha: float = 1.0
    prob: float = 1.0
    provenance: str = "label"

    def __post_init__(self) -> None:
        check_provenance_level(self.provenance)

    def __call__(
        self, batch: Mapping[str, Any], generator: torch.Generator | None = None
    ) -> SynthesizedBatch:
        x: Tensor = batch["inputs"]
        labels: Tensor = batch["labels"].long()
        if x.dim() not in (4, 5):
            raise ValueError(f"CutMix expects (B, C, H, W) or (B, C, T, H, W), got {tuple(x.shape)}")
        b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
        perm = torch.randperm(b, generator=generator)
        lam = rand_beta(b, self.alpha, generator)
        boxes = random_boxes(b, h, w, lam, generator)
        mixed_flag = rand_uniform(b, generator) < self.prob
        boxes[~mixed_flag] = 0
        paste = box_masks(boxes, h, w)  # (B, H, W), 1 inside the pasted box
        area = paste.flatten(1).mean(1)
        mixed_flag = mixed_flag & (area > 0)

        dev = x.device
        paste = paste.to(dev, x.dtype if x.is_floating_point() else torch.float32)
        perm_d = perm.to(dev)
        # Broadcast (B, H, W) over channels (and frames for video).
        paste_b = paste.view(b, 1, *([1] * (x.dim() - 4)), h, w)
        mixed = x * (1 - paste_b) + x[perm_d] * paste_b if x.is_floating_point() else torch.where(
            paste_b.bool(), x[perm_d], x)

        grid = x.shape[2:]
        host_mask = (1 - paste).view(b, *([1] * (x.dim() - 4)), h, w).expand(b, *grid)
        masks = torch.stack([host_mask, 1 - host_mask], dim=1).float()
        lab = torch.stack([labels, labels[perm_d]], dim=1)
        area_d = area.to(dev)
        weights = torch.stack([1 - area_d, area_d], dim=1).float()
        valid = torch.stack([torch.ones_like(mixed_flag), mixed_flag], dim=1).to(dev)
        prov = Provenance(masks.contiguous(), lab, weights, input_shape=x.shape, valid=valid)
        if self.provenance == "label":
            prov = prov.label_level()
        return SynthesizedBatch(
            mixed, prov, {"perm": perm, "boxes": boxes, "mixed": mixed_flag, "lam": lam}
        )


@SYNTHESIZERS.register("none", modality="any")
@dataclass
class NoMix:
    """No synthesis: each input keeps its own label, which owns every element."""

    def __call__(
        self, batch: Mapping[str, Any], generator: torch.Generator | None = None
    ) -> SynthesizedBatch:
        x, labels = batch["inputs"], batch["labels"]
        return SynthesizedBatch(x, Provenance.whole(x, labels.to(x.device)), {})
