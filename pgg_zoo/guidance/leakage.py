"""Gradient leakage: how much of each label's input gradient falls outside its provenance.

The mechanism the guidance trains, measured directly. For a synthesized input ``x`` with label
slots ``l`` (logit ``f_l``, provenance mask ``M_l``)::

    leak_l = sum((1 - M_l) * g_l^2) / sum(g_l^2),       g_l = d f_l(x) / dx

the share of label ``l``'s squared input gradient that lies on elements it does not own. Only
slots that are valid and do not own the whole input count (a label owning every element cannot
leak). The chance level is the same share for a gradient spread evenly over the elements,
i.e. the mean area ``mean(1 - M_l)`` of the non-owned region. A guided run whose leakage is not
below the unguided run's on the same held-out batches has not been guided.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..provenance import Provenance
from .exact import label_input_gradients

__all__ = ["LeakageMeter", "gradient_leakage"]


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
    grads = label_input_gradients(inputs, label_logits, provenance.valid, create_graph=False)
    off = 1.0 - provenance.masks.float()
    b, n = label_logits.shape
    share = torch.zeros(b, n, device=inputs.device)
    chance = torch.zeros(b, n, device=inputs.device)
    counted = torch.zeros(b, n, dtype=torch.bool, device=inputs.device)
    dims = tuple(range(1, inputs.dim()))
    for lab, g in enumerate(grads):
        g2 = g.detach().float().pow(2)
        o = off[:, lab].unsqueeze(1)
        total = g2.sum(dims)
        ok = provenance.valid[:, lab] & (o.flatten(1).amax(1) > 0) & (total > 0)
        share[:, lab] = torch.where(ok, (o * g2).sum(dims) / total.clamp_min(1e-30), 0.0)
        chance[:, lab] = torch.where(ok, o.flatten(1).mean(1), 0.0)
        counted[:, lab] = ok
    return share, chance, counted


@dataclass
class LeakageMeter:
    """Mean leakage over every counted slot of several batches, in percent."""

    share_sum: float = 0.0
    chance_sum: float = 0.0
    count: int = 0

    def update(self, share: Tensor, chance: Tensor, counted: Tensor) -> None:
        """Add the output of :func:`gradient_leakage` for one batch."""
        self.share_sum += float(share[counted].sum())
        self.chance_sum += float(chance[counted].sum())
        self.count += int(counted.sum())

    def result(self) -> dict[str, float]:
        """``{"leakage": %, "leakage_chance": %, "leakage_slots": n}``; empty when nothing
        counted (no synthesized label owned less than its whole input)."""
        if not self.count:
            return {}
        return {"leakage": 100.0 * self.share_sum / self.count,
                "leakage_chance": 100.0 * self.chance_sum / self.count,
                "leakage_slots": float(self.count)}
