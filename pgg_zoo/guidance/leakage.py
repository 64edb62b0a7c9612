"""Gradient leakage: how much of each label's input gradient falls outside its provenance.

The mechanism the guidance trains, measured directly. For a synthesized input ``x`` with label
slots ``l`` (logit ``f_l``, provenance mask ``M_l``)::

    leak_l = sum((1 - M_l) * g_l^2) / sum(g_l^2),       g_l = d f_l(x) / dx

the share of label ``l``'s squared input gradient that lies on elements it does not own. Only
slots that are valid and do not own the whole input count (a label owning every element cannot
leak). The chance level is the same share for a gradient spread evenly over the elements,
i.e. the mean area ``mean(1 - M_l)`` of the non-owned region. A guided run whose leakage is not
below the unguided run's on the same held-out batches has not been guided.

Models that localize (class activation maps) also get the same share measured on their maps
(:func:`map_leakage`, reported as ``cam_leakage``): how much of each label's positive map mass
sits on elements it does not own — what a user sees in a CAM figure.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol, runtime_checkable

import torch
from torch import Tensor

from ..provenance import Provenance
from .exact import label_input_gradients

__all__ = ["LeakageMeter", "LocalizingModel", "gradient_leakage", "gradient_mass", "map_leakage"]


def gradient_mass(inputs: Tensor, label_logits: Tensor, valid: Tensor) -> Tensor:
    """Per-element squared input gradient of each label's logit, summed over channels.

    Args:
        inputs: ``(B, C, *grid)`` with ``requires_grad``.
        label_logits: ``(B, L)`` computed from ``inputs``.
        valid: ``(B, L)`` bool; an invalid slot gets zeros.

    Returns:
        ``(B, L, *grid)`` float32 ``sum_c (d f_l / d x_c)^2``, detached (first-order only).
    """
    grads = label_input_gradients(inputs, label_logits, valid, create_graph=False)
    return torch.stack([g.detach().float().pow(2).sum(1) for g in grads], dim=1)


def gradient_leakage(inputs: Tensor, label_logits: Tensor, provenance: Provenance
                     ) -> tuple[Tensor, Tensor, Tensor]:
    """Per-slot leakage of one batch (first-order gradients, nothing kept for training).

    Args:
        inputs: ``(B, C, *grid)`` with ``requires_grad``.
        label_logits: ``(B, L)`` computed from ``inputs``.
        provenance: the batch's provenance (masks broadcast over channels).

    Returns:
        ``(share, chance, counted)``, each ``(B, L)``: the leaked share of the squared
        gradient, the non-owned area share, and whether the slot counts (valid, owns less than
        everything, non-zero gradient). ``share`` and ``chance`` are 0 where not counted.
    """
    provenance.check_input(inputs)
    # the off-mask share of the squared gradient is the map leakage of its per-element mass
    return map_leakage(gradient_mass(inputs, label_logits, provenance.valid), provenance)


@runtime_checkable
class LocalizingModel(Protocol):
    """A task model that also has a localization map per label (a CAM model); the engine then
    reports ``cam_leakage`` besides the gradient leakage."""

    def label_maps(self, outputs: Any, provenance: Provenance, batch: Mapping[str, Any]
                   ) -> Tensor:
        """``(B, L, *grid)`` non-negative map of each provenance label on the input's grid
        (the grid of ``provenance.masks``)."""
        ...


def map_leakage(maps: Tensor, provenance: Provenance) -> tuple[Tensor, Tensor, Tensor]:
    """Per-slot share of each label's map mass outside its provenance.

    Args:
        maps: ``(B, L, *grid)`` non-negative maps (negative values are clipped to 0), on the
            grid of ``provenance.masks``.
        provenance: the batch's provenance.

    Returns:
        ``(share, chance, counted)``, each ``(B, L)``, as :func:`gradient_leakage`: the share
        of the map's mass on non-owned elements, the non-owned area, and whether the slot
        counts (valid, owns less than everything, non-zero map).
    """
    masks = provenance.masks.float()
    if maps.shape != masks.shape:
        raise ValueError(f"maps of shape {tuple(maps.shape)} do not match the provenance "
                         f"masks {tuple(masks.shape)}")
    m = maps.detach().float().clamp_min(0.0).flatten(2)
    off = (1.0 - masks).flatten(2)
    total = m.sum(2)
    counted = provenance.valid & (off.amax(2) > 0) & (total > 0)
    share = torch.where(counted, (off * m).sum(2) / total.clamp_min(1e-30), 0.0)
    chance = torch.where(counted, off.mean(2), 0.0)
    return share, chance, counted


@dataclass
class LeakageMeter:
    """Mean leakage over every counted slot of several batches, in percent.

    ``name`` prefixes the result keys (``"leakage"``, or ``"cam_leakage"`` for map leakage).
    """

    share_sum: float = 0.0
    chance_sum: float = 0.0
    count: int = 0
    name: str = "leakage"

    def update(self, share: Tensor, chance: Tensor, counted: Tensor) -> None:
        """Add the output of :func:`gradient_leakage` for one batch."""
        self.share_sum += float(share[counted].sum())
        self.chance_sum += float(chance[counted].sum())
        self.count += int(counted.sum())

    def result(self) -> dict[str, float]:
        """``{name: %, name_chance: %, name_slots: n}`` (``name`` = ``"leakage"`` by default);
        empty when nothing counted (no synthesized label owned less than its whole input)."""
        if not self.count:
            return {}
        return {self.name: 100.0 * self.share_sum / self.count,
                f"{self.name}_chance": 100.0 * self.chance_sum / self.count,
                f"{self.name}_slots": float(self.count)}
