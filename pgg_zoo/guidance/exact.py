"""Exact provenance penalty by double backpropagation."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ..registry import GUIDANCE_MODES


def label_input_gradients(
    inputs: Tensor, label_logits: Tensor, valid: Tensor, *, create_graph: bool = True
) -> list[Tensor]:
    """Input gradient of each label's logit.

    Args:
        inputs: ``(B, C, *grid)`` leaf or intermediate tensor with ``requires_grad``.
        label_logits: ``(B, L)`` logit of each label, computed from ``inputs``.
        valid: ``(B, L)`` bool; invalid slots contribute no gradient.
        create_graph: keep the graph so the result can be differentiated again.

    Returns:
        ``L`` tensors of shape ``(B, C, *grid)`` in float32 (float64 for float64 logits): ``d f_{y_bl} / d x_b``. Samples
        are summed before differentiating, so coupling through train-mode BatchNorm adds the
        cross-sample terms that a per-sample Jacobian would not have.
    """
    grads = []
    dtype = accumulation_dtype(label_logits)
    n_labels = label_logits.shape[1]
    for lab in range(n_labels):
        sel = label_logits[:, lab].to(dtype) * valid[:, lab].to(dtype)
        (g,) = torch.autograd.grad(
            sel.sum(), inputs, create_graph=create_graph, retain_graph=True, allow_unused=True
        )
        if g is None:  # the logit does not depend on the input at all
            g = torch.zeros_like(inputs, dtype=dtype)
        grads.append(g.to(dtype))
    return grads


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
) -> Tensor:
    """Per-input penalty ``sum_l sum_{c, grid} (off_l * d f_l / dx)^2``.

    Args:
        inputs: ``(B, C, *grid)`` with ``requires_grad``.
        label_logits: ``(B, L)`` computed from ``inputs``.
        off_masks: ``(B, L, *grid)`` weight of each element in label ``l``'s penalty
            (``1 - M_l`` for true provenance).
        valid: ``(B, L)`` bool.
        forward_fn: unused by this mode (approximate modes re-run the model).

    Returns:
        ``(B,)`` float32 penalty per input, differentiable w.r.t. the model's weights.
    """
    grads = label_input_gradients(inputs, label_logits, valid, create_graph=True)
    dtype = accumulation_dtype(label_logits)
    total = torch.zeros(inputs.shape[0], device=inputs.device, dtype=dtype)
    reduce_dims = tuple(range(1, inputs.dim()))
    for lab, g in enumerate(grads):
        off = off_masks[:, lab].unsqueeze(1).to(dtype)  # broadcast over channels
        term = (off * g).pow(2).sum(dim=reduce_dims)
        total = total + term * valid[:, lab].to(dtype)
    return total
