"""Finite-difference guidance: the penalty's weight-gradient without double backprop.

For one label with per-input weight ``w`` (the ``valid`` flag), ``F(x) = sum_b w_b f_b(x)``,
``g = d F / dx`` and off-mask ``m``, the penalty is ``P = ||m * g||^2``. Its derivative with
respect to any weight ``theta`` is

    dP/dtheta = 2 <m^2 g, d g / dtheta> = d/dtheta <v, d F / dx>   with  v = 2 m^2 g  held fixed,

and ``<v, dF/dx>`` is the directional derivative ``D F(x)[v]``, which a forward difference
approximates with first-order autograd only:

    D F(x)[v] ~= (F(x + h u) - F(x)) * s / h,     u = v / s.

``s`` is one scalar per label for the whole batch (the RMS over inputs of ``||v_b||``), so
``h`` is the L2 size of a typical input's step. A per-input scale would be numerically nicer
but is wrong under train-mode BatchNorm: the batch statistics couple the inputs, and the
difference of the *batch* function ``F`` is only a directional derivative if every input
moves along the same scaled direction.

The mode returns a per-input surrogate whose *value* is the exact penalty (for logging) and
whose *gradient* is the finite-difference estimate:
``value_b = P_b.detach() + (S_b - S_b.detach())``.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

from ..registry import GUIDANCE_MODES
from .exact import label_input_gradients


def _wide(t: Tensor) -> Tensor:
    """``t`` in float32, or float64 if it already is: differences of size ~h need >= fp32."""
    return t if t.dtype == torch.float64 else t.float()


def _forward_labels(forward_fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    out = forward_fn(x)
    if out.dim() != 2 or out.shape[0] != x.shape[0]:
        raise ValueError(
            f"forward_fn must return (B, L) label logits for an input of batch {x.shape[0]}, "
            f"got shape {tuple(out.shape)}"
        )
    return _wide(out)


def directional_surrogate(
    inputs: Tensor,
    label_logits: Tensor,
    directions: Sequence[Tensor],
    cotangents: Sequence[Tensor],
    forward_fn: Callable[[Tensor], Tensor] | None,
    *,
    step: float = 1e-4,
    reuse_base: bool | str = "auto",
) -> Tensor:
    """Per-input ``S_b`` with ``d sum_b S_b / d theta ~= sum_k d/dtheta D F_k(x)[v_k]``.

    Args:
        inputs: ``(B, C, *grid)`` the model input (the perturbed inputs are built from it, not
            from a detached copy, so the gradient that reaches ``inputs`` is the matching
            Hessian-vector estimate rather than a spurious ``-dF/dx * s / h``).
        label_logits: ``(B, L)`` logits of ``inputs`` from the main forward.
        directions: ``K`` tensors ``(B, C, *grid)``, the fixed (detached) directions ``v_k``.
        cotangents: ``K`` tensors ``(B, L)``; ``F_k = sum_{b,l} c_k[b, l] f_{bl}``.
        forward_fn: ``x -> (B, L)`` label logits; re-runs the model.
        step: ``h``, the L2 length of a typical input's step along ``u_k = v_k / s_k``.
            Too large crosses ReLU/max-pool kinks (the weight-gradient jumps, and the jump
            is divided by ``h``); too small drowns in float32 rounding. Measured on
            resnet18 (random init, 4x3x112x112, docs/performance.md): eval-mode BN, 1e-4
            gives cosine 0.997 to exact and 1e-3 fails; train-mode BN in float32 has *no*
            good step (1e-3 kinks, 1e-4 and 1e-5 rounding in the batch statistics), while
            in float64 1e-4 gives cosine 1.00000. Evaluated in float32 (float64 inputs stay
            float64); the guidance runs with autocast disabled.
        reuse_base: take ``F(x)`` from ``label_logits`` (saves a forward and its backward) or
            recompute it with ``forward_fn``. ``"auto"`` reuses when ``label_logits`` is
            float32 or float64 (under bf16/fp16 autocast the main logits are too coarse for a difference
            of size ~h). Pass ``False`` for models with dropout or drop-path: the recomputed
            base and the perturbed forwards are then run from the same RNG state, so they
            draw the same masks.

    Returns:
        ``(B,)`` float32; only its gradient is meaningful.
    """
    if forward_fn is None:
        raise ValueError(
            "this guidance mode re-runs the model and needs forward_fn (x -> (B, L) label "
            "logits); PGGModel passes one"
        )
    if step <= 0:
        raise ValueError(f"finite-difference step must be > 0, got {step}")
    if reuse_base == "auto":
        reuse_base = label_logits.dtype in (torch.float32, torch.float64)
    b = inputs.shape[0]
    x = _wide(inputs)
    total = torch.zeros(b, device=inputs.device, dtype=torch.float32)
    work = []
    for v, c in zip(directions, cotangents):
        scale = v.detach().flatten(1).pow(2).sum(1).mean().sqrt()
        if float(scale) == 0.0:  # nothing to penalize along this direction
            continue
        work.append((v.detach().to(x.dtype) / scale, scale, c))
    if not work:
        return total
    devices = [inputs.device] if inputs.device.type == "cuda" else []
    # Same RNG state for every re-run forward: stochastic layers draw identical masks.
    with torch.random.fork_rng(devices=devices):
        cpu_state = torch.get_rng_state()
        dev_states = [torch.cuda.get_rng_state(d) for d in devices]

        def rerun(z: Tensor) -> Tensor:
            torch.set_rng_state(cpu_state)
            for d, st in zip(devices, dev_states):
                torch.cuda.set_rng_state(st, d)
            return _forward_labels(forward_fn, z)

        base = _wide(label_logits) if reuse_base else rerun(x)
        for u, scale, c in work:
            pert = rerun(x + step * u)
            diff = ((pert - base) * c.to(pert.dtype)).sum(1)
            total = total + diff.float() * (scale.float() / step)
    return total


@GUIDANCE_MODES.register("finite_difference")
def finite_difference_penalty(
    inputs: Tensor,
    label_logits: Tensor,
    off_masks: Tensor,
    valid: Tensor,
    forward_fn: Callable[[Tensor], Tensor] | None = None,
    *,
    step: float = 1e-4,
    reuse_base: bool | str = "auto",
) -> Tensor:
    """Penalty value exactly, its weight-gradient by a forward difference (no double backprop).

    Cost: ``L`` first-order input-gradient backwards, then ``L`` forwards of the perturbed
    batch and their backwards, instead of ``L`` create-graph backwards and their double
    backward. Options: ``step`` and ``reuse_base`` (see :func:`directional_surrogate`).

    Args:
        inputs, label_logits, off_masks, valid: as for :func:`exact_penalty`.
        forward_fn: ``x -> (B, L)`` label logits (required).

    Returns:
        ``(B,)`` float32: value = the exact penalty per input; gradient w.r.t. the weights =
        finite-difference estimate of the exact penalty's gradient (bias O(h), see
        docs/performance.md).
    """
    grads = label_input_gradients(inputs, label_logits, valid, create_graph=False)
    reduce_dims = tuple(range(1, inputs.dim()))
    bcast = (-1,) + (1,) * (inputs.dim() - 1)
    wts = valid.float()
    value = torch.zeros(inputs.shape[0], device=inputs.device, dtype=torch.float32)
    directions, cotangents = [], []
    for lab, g in enumerate(grads):
        if not bool(valid[:, lab].any()):
            continue
        off = off_masks[:, lab].unsqueeze(1).float()
        w = wts[:, lab]
        og = off * g
        value = value + og.pow(2).sum(dim=reduce_dims) * w
        directions.append(2.0 * off * og * w.view(bcast))
        c = torch.zeros_like(wts)
        c[:, lab] = w
        cotangents.append(c)
    surrogate = directional_surrogate(
        inputs, label_logits, directions, cotangents, forward_fn, step=step,
        reuse_base=reuse_base,
    )
    return value.detach() + (surrogate - surrogate.detach())
