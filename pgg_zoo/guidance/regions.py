"""Where each label's input gradient sits: its squared input gradient split over named regions.

Gradient leakage (:mod:`.leakage`) is one number per label slot, the share of the squared input
gradient outside the label's provenance. Asking *why* a run leaks needs the same mass split
further, by regions the synthesis or the data know: own object / own background / other
object / other background on CutMix inputs with object masks (:func:`own_other_regions`),
inside / outside the provenance per kind of label on pasted clips, and so on::

    mass = gradient_mass(x, label_logits, prov.valid)            # (B, L, *grid)
    split = region_split(mass, own_other_regions(prov.masks, objects), prov.valid)
    shares, _ = split.per_slot(select=partly_owned)              # (N, 4) percent per slot

Regions are weights in [0, 1] on the input grid; a partition of the grid (weights summing to
1 at every element) gives shares that add up to 100 %.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
from torch import Tensor

__all__ = ["RegionSplit", "region_split", "own_other_regions", "OWN_OTHER_PARTS"]

#: The regions of :func:`own_other_regions`, in its order.
OWN_OTHER_PARTS = ("own object", "own background", "other object", "other background")


@dataclass(frozen=True)
class RegionSplit:
    """A batch's squared input gradient split over named regions, per label slot.

    Attributes:
        names: the region names, in the order of the last axis of ``mass``.
        mass: ``(B, L, R)`` float32, ``sum(mass_element * region_weight)`` per slot and region.
        total: ``(B, L)`` float32, each slot's whole squared gradient.
        counted: ``(B, L)`` bool, valid slots with a non-zero gradient.
    """

    names: tuple[str, ...]
    mass: Tensor
    total: Tensor
    counted: Tensor

    def shares(self) -> Tensor:
        """``(B, L, R)`` percent of each slot's total in each region; 0 where not counted."""
        share = 100.0 * self.mass / self.total.clamp_min(1e-30)[..., None]
        return torch.where(self.counted[..., None], share, torch.zeros_like(share))

    def per_slot(self, select: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(shares, mass)``, each ``(N, R)``: the counted slots (and those ``select``, a
        ``(B, L)`` bool, keeps), in ``(b, l)`` order; shares in percent. Concatenate them over
        batches and average to get a mean over slots."""
        keep = self.counted if select is None else self.counted & select.to(self.counted.device)
        return self.shares()[keep], self.mass[keep]


def region_split(mass: Tensor, regions: Mapping[str, Tensor], valid: Tensor) -> RegionSplit:
    """Split each label slot's squared input gradient over named regions.

    Args:
        mass: ``(B, L, *grid)`` per-element squared input gradient of each slot's logit
            (:func:`~pgg_zoo.guidance.gradient_mass`).
        regions: name -> weights in [0, 1], ``(B, L, *grid)`` or broadcastable to it (a
            ``(B, 1, *grid)`` region is the same for every slot of an input).
        valid: ``(B, L)`` bool; invalid slots are not counted.

    Returns:
        :class:`RegionSplit` with the regions in the order of ``regions``.

    Raises:
        ValueError: no region, a region that does not broadcast to ``mass``, or weights
            outside [0, 1].
    """
    if not regions:
        raise ValueError("region_split needs at least one region")
    m = mass.detach().float()
    parts = []
    for name, weight in regions.items():
        w = torch.as_tensor(weight, device=m.device).float()
        try:
            w = torch.broadcast_to(w, m.shape)
        except RuntimeError:
            raise ValueError(f"region {name!r} of shape {tuple(w.shape)} does not broadcast to "
                             f"the gradient mass {tuple(m.shape)}") from None
        if bool((w < 0).any()) or bool((w > 1).any()):
            raise ValueError(f"region {name!r} has weights outside [0, 1]")
        parts.append((m * w).flatten(2).sum(2))
    total = m.flatten(2).sum(2)
    counted = valid.to(m.device).bool() & (total > 0)
    return RegionSplit(tuple(regions), torch.stack(parts, dim=-1), total, counted)


def own_other_regions(own: Tensor, objects: Tensor) -> dict[str, Tensor]:
    """The four regions of :data:`OWN_OTHER_PARTS`: the label's provenance ("own") or not,
    crossed with an object mask or not.

    Args:
        own: ``(B, L, *grid)`` provenance masks (``Provenance.masks``).
        objects: ``(B, *grid)`` object masks of the synthesized inputs (1 = object), in [0, 1].

    Returns:
        name -> ``(B, L, *grid)`` float weights; the four add up to 1 at every element.
    """
    o = own.float()
    obj = objects.float().to(o.device)[:, None].expand_as(o)
    return {"own object": o * obj, "own background": o * (1 - obj),
            "other object": (1 - o) * obj, "other background": (1 - o) * (1 - obj)}
