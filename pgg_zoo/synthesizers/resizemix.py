"""Batch ResizeMix with provenance (Qin et al., "ResizeMix: Mixing Data with Preserved Object
Information and True Labels", 2020)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from ..provenance import Provenance, check_provenance_level
from ..registry import SYNTHESIZERS
from .base import SynthesizedBatch, rand_uniform
from .cutmix import box_masks

__all__ = ["ResizeMix", "resize_into_box"]


def resize_into_box(source: Tensor, box: Tensor) -> Tensor:
    """The whole ``source`` image ``(C, H, W)`` resized to the ``(y0, x0, y1, x1)`` box size.

    Bilinear with antialiasing (as torchvision's ``Resize`` on tensors), so a small box is a
    faithful thumbnail rather than an aliased subsample. Returns ``(C, y1 - y0, x1 - x0)``.
    """
    h, w = int(box[2] - box[0]), int(box[3] - box[1])
    out = F.interpolate(source[None].float(), size=(h, w), mode="bilinear",
                        align_corners=False, antialias=True)[0]
    return out.to(source.dtype)


@SYNTHESIZERS.register("resizemix", modality="image")
@dataclass
class ResizeMix:
    """Paste the *whole* image of another input, shrunk into a random box, into each input.

    For input ``b`` the scale ``tau ~ U(scale_min, scale_max)`` gives a box of
    ``round(tau H) x round(tau W)`` (at least 1 x 1) whose top-left corner is uniform over the
    positions that keep it inside the image; input ``perm[b]`` resized to the box
    (:func:`resize_into_box`) replaces the box's pixels.

    Provenance: the pasted label (slot 1) owns the box, the host label (slot 0) the rest.
    Label weights are the area fractions (``box_area / (H W)`` for the pasted label, as in the
    paper's ``lambda``; ``1 -`` that for the host). Inputs left unmixed (probability
    ``1 - prob``) have an empty box and their pasted slot marked invalid.

    ``extras``: ``perm`` (B,), ``boxes`` (B, 4) int64 ``(y0, x0, y1, x1)`` end-exclusive,
    ``mixed`` (B,) bool, ``tau`` (B,): enough to rebuild the batch from its sources.

    Args:
        scale_min, scale_max: range of ``tau`` (the paper's alpha = 0.1, beta = 0.8).
        prob: probability that an input is mixed.
        provenance: ``"label"`` (default) or ``"source"``, as for :class:`CutMix`.
    """

    scale_min: float = 0.1
    scale_max: float = 0.8
    prob: float = 1.0
    provenance: str = "label"

    def __post_init__(self) -> None:
        check_provenance_level(self.provenance)
        if not 0 < self.scale_min <= self.scale_max <= 1:
            raise ValueError(f"need 0 < scale_min <= scale_max <= 1, got "
                             f"({self.scale_min}, {self.scale_max})")

    def __call__(self, batch: Mapping[str, Any], generator: torch.Generator | None = None
                 ) -> SynthesizedBatch:
        x: Tensor = batch["inputs"]
        labels: Tensor = batch["labels"].long()
        if x.dim() != 4:
            raise ValueError(f"ResizeMix expects images (B, C, H, W), got {tuple(x.shape)}")
        b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
        perm = torch.randperm(b, generator=generator)
        tau = self.scale_min + (self.scale_max - self.scale_min) * rand_uniform(b, generator)
        bh = (tau * h).round().long().clamp(1, h)
        bw = (tau * w).round().long().clamp(1, w)
        y0 = (rand_uniform(b, generator) * (h - bh + 1)).long().clamp(max=h - bh)
        x0 = (rand_uniform(b, generator) * (w - bw + 1)).long().clamp(max=w - bw)
        mixed = rand_uniform(b, generator) < self.prob
        boxes = torch.stack([y0, x0, y0 + bh, x0 + bw], dim=1)
        boxes[~mixed] = 0

        out = x.clone()
        for i in torch.nonzero(mixed).flatten().tolist():
            by0, bx0, by1, bx1 = boxes[i].tolist()
            out[i, :, by0:by1, bx0:bx1] = resize_into_box(x[int(perm[i])], boxes[i])

        dev = x.device
        paste = box_masks(boxes, h, w).to(dev)  # (B, H, W), 1 inside the pasted box
        area = paste.flatten(1).mean(1)
        masks = torch.stack([1 - paste, paste], dim=1)
        lab = torch.stack([labels, labels[perm.to(labels.device)]], dim=1).to(dev)
        weights = torch.stack([1 - area, area], dim=1).float()
        valid = torch.stack([torch.ones_like(mixed), mixed], dim=1).to(dev)
        prov = Provenance(masks.contiguous(), lab, weights, input_shape=x.shape, valid=valid)
        if self.provenance == "label":
            prov = prov.label_level()
        return SynthesizedBatch(out, prov, {"perm": perm, "boxes": boxes, "mixed": mixed,
                                            "tau": tau})
