"""A plain classifier's ``(B, K)`` logits read through a Provenance.

What one's own training loop needs beside the synthesizer and :class:`ProvenanceGuidance`:
each label's logit (the quantity whose input gradient the guidance penalizes) and the
synthesized soft targets (for ``torch.nn.functional.cross_entropy``). Task plugins do the same
inside their ``TaskModel.label_logits`` / ``task_loss``.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .provenance import Provenance


def _slot_classes(provenance: Provenance) -> Tensor:
    """``(B, L)`` class ids with padding slots pointed at class 0 (they never count)."""
    return torch.where(provenance.valid, provenance.labels, torch.zeros_like(provenance.labels))


def label_logits(logits: Tensor, provenance: Provenance) -> Tensor:
    """Each provenance label's logit, the input of :meth:`ProvenanceGuidance.penalty`.

    Args:
        logits: ``(B, K)`` class logits of a classifier, computed from the synthesized inputs.
        provenance: labels ``(B, L)`` and valid ``(B, L)`` of the batch.

    Returns:
        ``(B, L)``: ``logits[b, labels[b, l]]``; padding slots (``valid`` False) read class 0,
        which the guidance ignores.
    """
    return logits.gather(1, _slot_classes(provenance).to(logits.device))


def soft_targets(provenance: Provenance, num_classes: int) -> Tensor:
    """The synthesized targets as class probabilities, for ``F.cross_entropy(logits, targets)``.

    Args:
        provenance: labels, weights and valid ``(B, L)`` of the batch.
        num_classes: ``K``.

    Returns:
        ``(B, K)`` float: ``targets[b, k] = sum of weights[b, l] over the valid slots l with
        labels[b, l] == k``. For CutMix a row is ``1 - area`` on the host class and ``area`` on
        the pasted class (the area-corrected mixing weights), summing to 1.
    """
    w = provenance.weights.float() * provenance.valid.float()
    out = torch.zeros(w.shape[0], num_classes, dtype=w.dtype, device=w.device)
    return out.scatter_add_(1, _slot_classes(provenance).to(w.device), w)
