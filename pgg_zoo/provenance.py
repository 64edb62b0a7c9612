"""The Provenance type: what a synthesizer hands to the guidance loss."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor


class ProvenanceError(ValueError):
    """A Provenance that does not fit its input or is malformed."""


#: How a synthesizer assigns its masks: ``"label"`` (default) merges the slots of an input that
#: carry the same class, ``"source"`` keeps one slot per source (the paper's literal formula).
PROVENANCE_LEVELS = ("label", "source")


def check_provenance_level(level: str) -> None:
    """Raise ``ValueError`` unless ``level`` is one of :data:`PROVENANCE_LEVELS`."""
    if level not in PROVENANCE_LEVELS:
        raise ValueError(f"provenance must be one of {PROVENANCE_LEVELS}, got {level!r}")


@dataclass(frozen=True, eq=False)
class Provenance:
    """Which input elements come from which supervisory label's target.

    For a batch of ``B`` inputs of shape ``(B, C, *grid)`` (``grid`` = ``(H, W)`` for images,
    ``(T, H, W)`` for video) and up to ``L`` labels per input:

    Attributes:
        masks: ``(B, L, *grid)`` floating tensor in ``[0, 1]``; ``masks[b, l]`` is 1 where the
            element originates from label ``l``'s target. Shared by all channels.
        labels: ``(B, L)`` int64 class ids of the labels.
        weights: ``(B, L)`` floating label weights (for CutMix the area-corrected mixing
            weights, which sum to 1 per input).
        valid: ``(B, L)`` bool; False marks padding slots when inputs carry different numbers
            of labels (for example person boxes in video). Padding never enters the penalty.

    Construction validates dtypes, shapes against ``input_shape`` and the value range, and
    raises :class:`ProvenanceError` naming the offending shapes.
    """

    masks: Tensor
    labels: Tensor
    weights: Tensor
    valid: Tensor

    def __init__(
        self,
        masks: Tensor,
        labels: Tensor,
        weights: Tensor | None = None,
        *,
        input_shape: Sequence[int] | torch.Size,
        valid: Tensor | None = None,
    ) -> None:
        input_shape = tuple(int(s) for s in input_shape)
        if not isinstance(masks, Tensor):
            raise ProvenanceError(f"masks must be a torch.Tensor, got {type(masks).__name__}")
        if not masks.is_floating_point():
            raise ProvenanceError(
                f"masks must be a floating tensor (float32/float16/bfloat16), got {masks.dtype}; "
                "convert boolean masks with .float()"
            )
        if len(input_shape) < 3:
            raise ProvenanceError(
                f"input shape {input_shape} must be (B, C, *grid) with at least one grid dim"
            )
        batch, grid = input_shape[0], input_shape[2:]
        if masks.dim() != 2 + len(grid):
            raise ProvenanceError(
                f"masks of shape {tuple(masks.shape)} do not fit input of shape {input_shape}: "
                f"expected (B, L, *grid) = ({batch}, L, {', '.join(map(str, grid))})"
            )
        if masks.shape[0] != batch or tuple(masks.shape[2:]) != grid:
            raise ProvenanceError(
                f"masks of shape {tuple(masks.shape)} do not fit input of shape {input_shape}: "
                f"expected ({batch}, L, {', '.join(map(str, grid))})"
            )
        n_labels = masks.shape[1]
        if n_labels < 1:
            raise ProvenanceError("masks must have at least one label (L >= 1)")
        if masks.numel() and (torch.isnan(masks).any() or masks.min() < 0 or masks.max() > 1):
            raise ProvenanceError(
                f"mask values must lie in [0, 1] (got min {masks.min().item():.4g}, "
                f"max {masks.max().item():.4g})"
            )
        if not isinstance(labels, Tensor) or labels.dtype not in (torch.int64, torch.int32):
            raise ProvenanceError(f"labels must be an int64 tensor, got {getattr(labels, 'dtype', type(labels))}")
        if tuple(labels.shape) != (batch, n_labels):
            raise ProvenanceError(
                f"labels of shape {tuple(labels.shape)} do not match masks {tuple(masks.shape)}: "
                f"expected ({batch}, {n_labels})"
            )
        if weights is None:
            weights = torch.full((batch, n_labels), 1.0 / n_labels, device=masks.device)
        if not isinstance(weights, Tensor) or not weights.is_floating_point():
            raise ProvenanceError("weights must be a floating tensor")
        if tuple(weights.shape) != (batch, n_labels):
            raise ProvenanceError(
                f"weights of shape {tuple(weights.shape)} do not match masks {tuple(masks.shape)}: "
                f"expected ({batch}, {n_labels})"
            )
        if valid is None:
            valid = torch.ones(batch, n_labels, dtype=torch.bool, device=masks.device)
        if valid.dtype != torch.bool or tuple(valid.shape) != (batch, n_labels):
            raise ProvenanceError(
                f"valid must be a bool tensor of shape ({batch}, {n_labels}), got "
                f"{valid.dtype} {tuple(valid.shape)}"
            )
        object.__setattr__(self, "masks", masks)
        object.__setattr__(self, "labels", labels.long())
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "valid", valid)

    @property
    def num_labels(self) -> int:
        """``L``, the number of label slots per input."""
        return int(self.masks.shape[1])

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """The input grid, ``(H, W)`` or ``(T, H, W)``."""
        return tuple(self.masks.shape[2:])

    def check_input(self, inputs: Tensor) -> None:
        """Raise :class:`ProvenanceError` unless ``inputs`` (B, C, *grid) fits these masks."""
        b, grid = inputs.shape[0], tuple(inputs.shape[2:])
        if b != self.masks.shape[0] or grid != self.grid_shape:
            raise ProvenanceError(
                f"provenance masks of shape {tuple(self.masks.shape)} do not fit input of shape "
                f"{tuple(inputs.shape)}"
            )

    def to(self, device: torch.device | str) -> "Provenance":
        """A copy on ``device``."""
        return Provenance(
            self.masks.to(device),
            self.labels.to(device),
            self.weights.to(device),
            input_shape=(self.masks.shape[0], 1, *self.grid_shape),
            valid=self.valid.to(device),
        )

    def label_level(self) -> "Provenance":
        """The same provenance with the slots of each input that carry the same class merged.

        Provenance belongs to labels, not to source slots: when both sources of a mix carry
        class ``y`` (or an input is mixed with itself), every element of that input comes from
        a ``y`` target. Penalizing the two slots separately would add up to the whole-gradient
        penalty of ``y`` (the no-mask control). Here the first valid slot of each class gets
        the union of the masks of all valid slots of that class (``min(1, sum)``: synthesizer
        masks of one input partition it) and their summed weight; the other slots of that
        class become invalid with weight 0. Slots of distinct classes are unchanged, so a
        provenance without repeated classes is returned equal.

        Returns:
            A new :class:`Provenance` of the same shapes.
        """
        lab, valid = self.labels, self.valid
        n = self.num_labels
        # same[b, l, k]: slots l and k of input b are both valid and carry the same class.
        same = (lab[:, :, None] == lab[:, None, :]) & valid[:, :, None] & valid[:, None, :]
        earlier = torch.tril(torch.ones(n, n, dtype=torch.bool, device=lab.device), -1)
        first = valid & ~(same & earlier).any(dim=2)
        if bool((first == valid).all()):
            return self
        sel = (same & first[:, :, None]).to(self.masks.dtype)  # (B, L, L)
        flat = self.masks.flatten(2)  # (B, L, N)
        merged = torch.bmm(sel, flat).clamp_(max=1.0)
        # Non-first slots keep their own masks (they are invalid and never penalized).
        masks = torch.where(first[:, :, None], merged, flat).view_as(self.masks)
        weights = torch.where(first, torch.bmm(sel.to(self.weights.dtype),
                                               self.weights[:, :, None])[:, :, 0],
                              torch.zeros_like(self.weights))
        return Provenance(masks, lab, weights, input_shape=(lab.shape[0], 1, *self.grid_shape),
                          valid=first)

    @classmethod
    def whole(cls, inputs: Tensor, labels: Tensor) -> "Provenance":
        """Provenance of unsynthesized inputs: one label per input owning every element.

        Args:
            inputs: ``(B, C, *grid)``.
            labels: ``(B,)`` class ids.
        """
        b, grid = inputs.shape[0], inputs.shape[2:]
        masks = torch.ones((b, 1, *grid), device=inputs.device)
        return cls(masks, labels.view(b, 1).long(), torch.ones(b, 1, device=inputs.device),
                   input_shape=inputs.shape)
