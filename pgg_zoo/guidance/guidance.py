"""The provenance-gradient guidance loss: configuration, control masks and reduction."""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Literal

import torch
from torch import Tensor

from ..provenance import Provenance
from ..registry import GUIDANCE_MODES
from .exact import accumulation_dtype

MaskKind = Literal["provenance", "random", "none"]
MASK_KINDS = ("provenance", "random", "none")


@dataclass
class ProvenanceGuidance:
    """Penalty on each label's logit input-gradient over the elements it does not own.

    ``L_pgg = alpha * mean_b sum_l valid_bl * sum_{c, grid} ((1 - M_bl) * d f_{y_bl}(x_b)/dx)^2``

    i.e. squared L2 over the non-target elements and all channels, summed over a sample's
    labels, averaged over the batch. Gradients are of logits (not of the loss), taken with
    ``create_graph=True`` so the penalty trains the weights, and reduced in float32 outside
    autocast.

    Args:
        alpha: weight of the penalty (the paper used 0.01 .. 0.09). 0 disables it.
        mask: ``"provenance"`` (true provenance), or the paper's controls: ``"random"`` (each
            input takes the masks of another input of the batch, so mask statistics are kept
            but the masks are unrelated to where pixels came from) and ``"none"`` (the whole
            gradient is penalized).
        mode: a name in ``GUIDANCE_MODES``: ``"exact"`` (double backprop), or the approximate
            ``"finite_difference"``, ``"one_label"`` and ``"lazy"`` (see docs/performance.md).
        mode_options: extra keyword arguments for the mode. For ``"lazy"`` a
            :class:`~pgg_zoo.guidance.lazy.LazySchedule` is added under ``"schedule"`` (on a
            copy of the dict) unless one is given; it is runtime state and is left out of
            :meth:`to_dict`.
        reduction: ``"mean"`` over the inputs of the batch (default: ``alpha`` does not depend
            on the batch size) or ``"sum"`` (as RRR's reference code does). Measured here: at
            ``alpha = 0.05`` with ``"mean"`` the penalty was only 0.1-0.3 % of the task loss on
            the embedded benchmarks (docs/results.md), so the paper's alpha range need not
            transfer to this reduction; choose alpha on a validation split.
    """

    alpha: float = 0.05
    mask: MaskKind = "provenance"
    mode: str = "exact"
    mode_options: dict[str, Any] = field(default_factory=dict)
    reduction: Literal["mean", "sum"] = "mean"

    def __post_init__(self) -> None:
        if self.alpha < 0:
            raise ValueError(f"guidance alpha must be >= 0, got {self.alpha}")
        if self.mask not in MASK_KINDS:
            raise ValueError(f"guidance mask must be one of {MASK_KINDS}, got {self.mask!r}")
        if self.reduction not in ("mean", "sum"):
            raise ValueError(f"guidance reduction must be 'mean' or 'sum', got {self.reduction!r}")
        GUIDANCE_MODES.get(self.mode)  # fail early, with the list of modes
        if self.mode == "lazy":
            from .lazy import LazySchedule, check_lazy_options

            opts = dict(self.mode_options)  # never mutate the caller's (config's) dict
            check_lazy_options(opts.get("every", 4), opts.get("inner", "exact"))
            opts.setdefault("schedule", LazySchedule())
            self.mode_options = opts

    @property
    def due(self) -> bool:
        """Whether the next :meth:`penalty` call computes anything.

        Always True except for the lazy mode between its due steps. An engine may use it to
        skip making the input require grad; it must still call :meth:`penalty` every step.
        """
        if self.mode != "lazy":
            return True
        return self.mode_options["schedule"].due(self.mode_options.get("every", 4))

    @property
    def active(self) -> bool:
        """Whether the penalty is computed at all (``alpha > 0``)."""
        return self.alpha > 0

    def off_masks(self, provenance: Provenance, generator: torch.Generator | None = None) -> Tensor:
        """``(B, L, *grid)`` weight of each element in each label's penalty (``1 - M``)."""
        m = provenance.masks
        if self.mask == "provenance":
            return 1.0 - m
        if self.mask == "none":
            return torch.ones_like(m)
        b = m.shape[0]
        if b < 2:
            raise ValueError("the random-mask control needs a batch of at least 2 inputs")
        # A derangement-like shift of a random permutation: no input keeps its own masks.
        perm = torch.randperm(b, generator=generator, device="cpu").to(m.device)
        shifted = perm.roll(1)
        src = torch.empty_like(perm)
        src[perm] = shifted
        return 1.0 - m[src]

    def penalty(
        self,
        inputs: Tensor,
        label_logits: Tensor,
        provenance: Provenance,
        forward_fn: Callable[[Tensor], Tensor] | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Unweighted penalty (without ``alpha``), a float32 scalar.

        Args:
            inputs: ``(B, C, *grid)`` the model's input, with ``requires_grad``.
            label_logits: ``(B, L)`` each label's logit, computed from ``inputs``.
            provenance: masks, labels and validity for the batch.
            forward_fn: ``x -> (B, L)`` label logits, needed by approximate modes.
            generator: randomness for the random-mask control.
        """
        if not inputs.requires_grad and self.due:
            raise ValueError("guidance needs inputs with requires_grad=True (see PGGModel)")
        provenance.check_input(inputs)
        if tuple(label_logits.shape) != (inputs.shape[0], provenance.num_labels):
            raise ValueError(
                f"label logits of shape {tuple(label_logits.shape)} do not match provenance "
                f"with {provenance.num_labels} labels for a batch of {inputs.shape[0]}"
            )
        off = self.off_masks(provenance, generator)
        fn = GUIDANCE_MODES.get(self.mode)
        with torch.autocast(device_type=inputs.device.type, enabled=False):
            per_input = fn(inputs, label_logits, off, provenance.valid, forward_fn,
                           **self.mode_options)
            per_input = per_input.to(accumulation_dtype(per_input))
            return per_input.sum() if self.reduction == "sum" else per_input.mean()

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        """``alpha * penalty(...)``."""
        return self.alpha * self.penalty(*args, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain data (runtime state such as a lazy schedule left out)."""
        opts = {k: v for k, v in self.mode_options.items() if k != "schedule"}
        return {**asdict(_with_options(self, {})), "mode_options": copy.deepcopy(opts)}


def _with_options(g: ProvenanceGuidance, options: dict[str, Any]) -> ProvenanceGuidance:
    """A shallow copy of ``g`` whose ``mode_options`` is ``options`` (no validation rerun)."""
    out = copy.copy(g)
    out.mode_options = options
    return out
