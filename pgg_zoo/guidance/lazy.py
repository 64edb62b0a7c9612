"""Lazy guidance: compute the penalty every ``k`` steps and scale it by ``k``.

As StyleGAN2's lazy R1 regularization: the expected penalty gradient per step is unchanged
(``k`` times the gradient once every ``k`` steps) and its average cost is divided by ``k``.

The schedule needs state (a step counter). It lives in a :class:`LazySchedule` held in the
guidance's ``mode_options["schedule"]``; :class:`ProvenanceGuidance` creates one when
``mode="lazy"`` and none was given, and drops it from ``to_dict()``. Each call of the mode
(= each call of ``ProvenanceGuidance.penalty``, once per training step) advances it.

How an engine should call it::

    guidance = ProvenanceGuidance(alpha=0.05, mode="lazy",
                                  mode_options={"every": 4, "inner": "exact"})
    # per training step:
    if guidance.active and guidance.due:   # skip requires_grad / label logits off-steps
        x = x.detach().requires_grad_(True)
    ...
    loss_pgg = guidance(x, label_logits, prov, forward_fn=...)   # call it EVERY step

On an off-step ``penalty`` returns a zero (no graph, no model call) and still advances the
counter, so an engine that ignores ``due`` stays correct; it only pays for the input gradient
it asked for. Each DDP rank holds its own counter; they stay in step because every rank calls
once per step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor

from ..registry import GUIDANCE_MODES


@dataclass
class LazySchedule:
    """Step counter of the lazy mode.

    Attributes:
        step: number of penalty calls so far; the penalty is computed when
            ``step % every == 0`` (the first step included).
    """

    step: int = 0

    def due(self, every: int) -> bool:
        """Whether the call at the current step computes the penalty."""
        return self.step % every == 0

    def advance(self) -> None:
        self.step += 1


def check_lazy_options(every: Any, inner: Any) -> None:
    """Validate the options of the lazy mode; raise ``ValueError`` naming the bad one."""
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise ValueError(f"lazy guidance needs an integer every >= 1, got {every!r}")
    if inner == "lazy":
        raise ValueError("lazy guidance cannot wrap itself (inner='lazy')")
    GUIDANCE_MODES.get(inner)  # unknown names fail here, with the list of modes


@GUIDANCE_MODES.register("lazy")
def lazy_penalty(
    inputs: Tensor,
    label_logits: Tensor,
    off_masks: Tensor,
    valid: Tensor,
    forward_fn: Callable[[Tensor], Tensor] | None = None,
    *,
    schedule: LazySchedule | None = None,
    every: int = 4,
    inner: str = "exact",
    inner_options: dict[str, Any] | None = None,
) -> Tensor:
    """``every * inner(...)`` on every ``every``-th call, a zero ``(B,)`` otherwise.

    Options:
        every: ``k``, the interval (1 = the inner mode every step).
        inner: the wrapped mode's name (``"exact"``, ``"finite_difference"``,
            ``"one_label"``, ...).
        inner_options: keyword options of the wrapped mode.
        schedule: the :class:`LazySchedule` (``ProvenanceGuidance`` supplies it).

    Returns:
        ``(B,)`` float32. The value on a due step is ``k`` times the penalty: divide by
        ``every`` to log the penalty itself.
    """
    if schedule is None:
        raise ValueError(
            "lazy guidance needs a LazySchedule in mode_options['schedule'] "
            "(ProvenanceGuidance(mode='lazy') creates one)"
        )
    check_lazy_options(every, inner)
    due = schedule.due(every)
    schedule.advance()
    if not due:
        return torch.zeros(inputs.shape[0], device=inputs.device, dtype=torch.float32)
    fn = GUIDANCE_MODES.get(inner)
    out = fn(inputs, label_logits, off_masks, valid, forward_fn, **dict(inner_options or {}))
    return out.float() * float(every)
