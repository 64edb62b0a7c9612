"""Exact provenance penalty by double backpropagation."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ..registry import GUIDANCE_MODES


def label_input_gradients(
    inputs: Tensor,
    label_logits: Tensor,
    valid: Tensor,
    *,
    create_graph: bool = True,
    batch_labels: bool = False,
) -> list[Tensor]:
    """Input gradient of each label's logit.

    Args:
        inputs: ``(B, C, *grid)`` leaf or intermediate tensor with ``requires_grad``.
        label_logits: ``(B, L)`` logit of each label, computed from ``inputs``.
        valid: ``(B, L)`` bool; invalid slots contribute no gradient.
        create_graph: keep the graph so the result can be differentiated again.
        batch_labels: compute all ``L`` gradients in one vectorized backward
            (``is_grads_batched``) instead of ``L`` sequential ones. Same values; it trades
            ``L`` graph traversals for one traversal of ``L``-times larger kernels, which can
            pay off with many labels per input (person boxes) on a GPU.

    Returns:
        ``L`` tensors of shape ``(B, C, *grid)`` in float32: ``d f_{y_bl} / d x_b``. Samples
        are summed before differentiating, so coupling through train-mode BatchNorm adds the
        cross-sample terms that a per-sample Jacobian would not have. A slot that is invalid
        in every input gets an all-zero gradient without a backward pass (its gradient would
        be exactly zero anyway: the logit is multiplied by 0).
    """
    n_labels = label_logits.shape[1]
    live = [lab for lab in range(n_labels) if bool(valid[:, lab].any())]
    grads: list[Tensor | None] = [None] * n_labels
    dtype = accumulation_dtype(label_logits)
    weights = valid.to(dtype)
    if batch_labels and len(live) > 1:
        # One backward for all live labels: cotangent k selects label live[k] of each input.
        cot = torch.zeros(len(live), *label_logits.shape, device=label_logits.device,
                          dtype=dtype)
        for k, lab in enumerate(live):
            cot[k, :, lab] = weights[:, lab]
        (gb,) = torch.autograd.grad(
            label_logits.to(dtype), inputs, cot, create_graph=create_graph, retain_graph=True,
            allow_unused=True, is_grads_batched=True,
        )
        for k, lab in enumerate(live):
            grads[lab] = None if gb is None else gb[k].to(dtype)
    else:
        for lab in live:
            sel = label_logits[:, lab].to(dtype) * weights[:, lab]
            (g,) = torch.autograd.grad(
                sel.sum(), inputs, create_graph=create_graph, retain_graph=True,
                allow_unused=True,
            )
            grads[lab] = None if g is None else g.to(dtype)
    # A logit that does not depend on the input at all, or a slot that is never valid.
    return [torch.zeros_like(inputs, dtype=dtype) if g is None else g for g in grads]


def accumulation_dtype(t: Tensor) -> torch.dtype:
    """float32, or float64 when ``t`` is float64: reduced precision never reaches the penalty."""
    return torch.float64 if t.dtype == torch.float64 else torch.float32


@GUIDANCE_MODES.register("exact")
def exact_penalty(
    inputs: Tensor,
    label_logits: Tensor,
    off_masks: Tensor,
    valid: Tensor,
    forward_fn: Callable[[Tensor], Tensor] | None = None,
    *,
    batch_labels: bool = False,
) -> Tensor:
    """Per-input penalty ``sum_l sum_{c, grid} (off_l * d f_l / dx)^2``.

    Args:
        inputs: ``(B, C, *grid)`` with ``requires_grad``.
        label_logits: ``(B, L)`` computed from ``inputs``.
        off_masks: ``(B, L, *grid)`` weight of each element in label ``l``'s penalty
            (``1 - M_l`` for true provenance).
        valid: ``(B, L)`` bool.
        forward_fn: unused by this mode (approximate modes re-run the model).
        batch_labels: see :func:`label_input_gradients` (option ``batch_labels`` of the mode).

    Returns:
        ``(B,)`` float32 penalty per input, differentiable w.r.t. the model's weights.
    """
    return _off_mask_penalty(inputs, label_logits, off_masks, valid, batch_labels, eps=None)


def _off_mask_penalty(inputs: Tensor, label_logits: Tensor, off_masks: Tensor, valid: Tensor,
                      batch_labels: bool, eps: float | None) -> Tensor:
    """``(B,)`` sum over valid labels of ``sum (off_l * g_l)^2``, divided by
    ``sum g_l^2 + eps`` when ``eps`` is given (the share form)."""
    grads = label_input_gradients(
        inputs, label_logits, valid, create_graph=True, batch_labels=batch_labels
    )
    dtype = accumulation_dtype(label_logits)
    total = torch.zeros(inputs.shape[0], device=inputs.device, dtype=dtype)
    reduce_dims = tuple(range(1, inputs.dim()))
    for lab, g in enumerate(grads):
        if not bool(valid[:, lab].any()):  # never-valid slot: its term is exactly 0
            continue
        off = off_masks[:, lab].unsqueeze(1).to(dtype)  # broadcast over channels
        term = (off * g).pow(2).sum(dim=reduce_dims)
        if eps is not None:
            term = term / (g.pow(2).sum(dim=reduce_dims) + eps)
        total = total + term * valid[:, lab].to(dtype)
    return total


@GUIDANCE_MODES.register("share")
def share_penalty(
    inputs: Tensor,
    label_logits: Tensor,
    off_masks: Tensor,
    valid: Tensor,
    forward_fn: Callable[[Tensor], Tensor] | None = None,
    *,
    batch_labels: bool = False,
    eps: float = 1e-8,
) -> Tensor:
    """Per-input penalty ``sum_l sum (off_l * g_l)^2 / (sum g_l^2 + eps)``, ``g_l = d f_l/dx``:
    the *share* of each label's squared input gradient outside its provenance (the leakage
    metric itself), instead of its amount.

    Why: the amount (mode ``"exact"``, the paper's) can be lowered by shrinking the whole input
    gradient, which on the fine-grained WSOL and scene STAD benchmarks is what training did
    (docs/results.md); the share is unchanged by any rescaling of ``g_l``, so only moving
    gradient onto the label's own elements lowers it. Experimental (docs/method.md). With the
    no-mask control (``off = 1``) it is the constant 1 and trains nothing.

    Args and returns as :func:`exact_penalty`; ``eps`` keeps a zero gradient finite.
    """
    return _off_mask_penalty(inputs, label_logits, off_masks, valid, batch_labels, eps=float(eps))
