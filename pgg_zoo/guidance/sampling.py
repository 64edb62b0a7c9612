"""One-label sampling: an unbiased estimate of the penalty from one label per input.

``P_b = sum_l valid_bl * ||off_bl * g_bl||^2`` needs one input-gradient per label. Drawing one
label ``l_b`` per input with probability ``p_bl`` (over the valid labels) and returning
``P_b_hat = ||off_{b l_b} * g_{b l_b}||^2 / p_{b l_b}`` gives ``E[P_b_hat] = P_b`` (value and
weight-gradient, by linearity) whenever ``p_bl > 0`` for every label whose term can be
non-zero, at the cost of one input-gradient per input instead of ``L``.

Caveat (documented in docs/performance.md): the ``L`` drawn logits of a batch are
differentiated together, ``g = d/dx sum_b f_{b l_b}``. For models that treat inputs
independently (eval-mode BatchNorm, GroupNorm/LayerNorm, no norm) ``g_b`` is exactly
``d f_{b l_b} / d x_b`` and the estimate is unbiased. Under train-mode BatchNorm the exact
penalty's ``g_bl`` includes cross-input terms through the batch statistics from *the same
label slot* of the other inputs, while here they come from the other inputs' *drawn* slots:
a bias of the order of those O(1/B) cross terms.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

from ..registry import GUIDANCE_MODES
from .exact import accumulation_dtype
from .finite_difference import directional_surrogate

PROBS = ("off_area", "area", "uniform")


def label_probabilities(
    off_masks: Tensor, valid: Tensor, probs: str = "off_area", uniform_mix: float = 0.1
) -> Tensor:
    """``(B, L)`` drawing probabilities, zero on invalid slots, rows summing to 1.

    Args:
        off_masks: ``(B, L, *grid)`` penalty weights.
        valid: ``(B, L)`` bool.
        probs: ``"off_area"`` (proportional to the area each label's penalty covers, i.e.
            where its term can be non-zero; for CutMix the pasted label is drawn in
            proportion to the host's area and vice versa), ``"area"`` (proportional to the
            area the label owns, ``mean(1 - off)``, which for CutMix equals its mixing
            weight) or ``"uniform"``.
        uniform_mix: fraction of uniform probability mixed in, so every valid label keeps
            ``p >= uniform_mix / L``. Needed for unbiasedness with ``"area"`` (a label that owns
            nothing still has a penalty); harmless otherwise.

    Rows with no valid slot are all zero (nothing is drawn for them).
    """
    if probs not in PROBS:
        raise ValueError(f"one_label probs must be one of {PROBS}, got {probs!r}")
    if not 0.0 <= uniform_mix <= 1.0:
        raise ValueError(f"uniform_mix must lie in [0, 1], got {uniform_mix}")
    vf = valid.float()
    n_valid = vf.sum(1, keepdim=True)
    uniform = vf / n_valid.clamp(min=1)
    if probs == "uniform":
        return uniform
    off_area = off_masks.float().flatten(2).mean(2)
    score = (off_area if probs == "off_area" else 1.0 - off_area).clamp(min=0) * vf
    tot = score.sum(1, keepdim=True)
    # Rows whose scores are all zero fall back to uniform (for "off_area" every term is 0).
    prop = torch.where(tot > 0, score / tot.clamp(min=1e-30), uniform)
    return (1.0 - uniform_mix) * prop + uniform_mix * uniform


@GUIDANCE_MODES.register("one_label")
def one_label_penalty(
    inputs: Tensor,
    label_logits: Tensor,
    off_masks: Tensor,
    valid: Tensor,
    forward_fn: Callable[[Tensor], Tensor] | None = None,
    *,
    probs: str = "off_area",
    uniform_mix: float = 0.1,
    inner: str = "exact",
    generator: torch.Generator | None = None,
    **inner_options: Any,
) -> Tensor:
    """Unbiased one-label-per-input estimate of the penalty.

    Options:
        probs, uniform_mix: how labels are drawn (see :func:`label_probabilities`).
        inner: ``"exact"`` (double backprop through the one drawn gradient) or
            ``"finite_difference"`` (its weight-gradient by a forward difference; further
            options ``step``, ``reuse_base`` as in :func:`directional_surrogate`).
        generator: a CPU ``torch.Generator`` for the draws (default: the global RNG).

    Args:
        inputs, label_logits, off_masks, valid, forward_fn: as for :func:`exact_penalty`.

    Returns:
        ``(B,)`` float32; value and weight-gradient are unbiased estimates of the exact
        penalty's (the value is therefore noisy: log it as an estimate).
    """
    if inner not in ("exact", "finite_difference"):
        raise ValueError(f"one_label inner must be 'exact' or 'finite_difference', got {inner!r}")
    if inner == "exact" and inner_options:
        raise TypeError(f"unexpected one_label options for inner='exact': {sorted(inner_options)}")
    b, n_labels = label_logits.shape
    p = label_probabilities(off_masks, valid, probs, uniform_mix)  # (B, L)
    has = valid.any(1)  # inputs with at least one valid slot
    # Draw on the CPU from the generator so runs are reproducible on any device.
    p_cpu = torch.where(has.cpu().unsqueeze(1), p.detach().cpu(), torch.ones(1, n_labels))
    pick = torch.multinomial(p_cpu, 1, generator=generator).squeeze(1).to(inputs.device)
    rows = torch.arange(b, device=inputs.device)
    w = has.float() / p[rows, pick].clamp(min=1e-30)  # 1/p, 0 for inputs with nothing valid
    w = torch.where(has, w, torch.zeros_like(w))
    onehot = torch.zeros_like(label_logits, dtype=accumulation_dtype(label_logits))
    onehot[rows, pick] = has.to(onehot.dtype)
    sel = (label_logits.to(onehot.dtype) * onehot).sum()
    create = inner == "exact"
    (g,) = torch.autograd.grad(sel, inputs, create_graph=create, retain_graph=True,
                               allow_unused=True)
    if g is None:  # the drawn logits do not depend on the input
        return torch.zeros(b, device=inputs.device, dtype=accumulation_dtype(label_logits))
    dtype = accumulation_dtype(label_logits)
    g = g.to(dtype)
    w = w.to(dtype)
    off = off_masks[rows, pick].unsqueeze(1).to(dtype)  # (B, 1, *grid)
    og = off * g
    reduce_dims = tuple(range(1, inputs.dim()))
    value = og.pow(2).sum(dim=reduce_dims) * w
    if create:
        return value
    bcast = (-1,) + (1,) * (inputs.dim() - 1)
    direction = 2.0 * off * og * w.view(bcast)
    surrogate = directional_surrogate(
        inputs, label_logits, [direction], [onehot], forward_fn, **inner_options
    )
    return value.detach() + (surrogate - surrogate.detach())
