"""The ``recorded`` synthesizer: provenance that the data set recorded when it was synthesized."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import Tensor

from ..provenance import Provenance
from ..registry import SYNTHESIZERS
from .base import SynthesizedBatch

__all__ = ["RecordedProvenance"]


@SYNTHESIZERS.register("recorded", modality="any")
@dataclass
class RecordedProvenance:
    """No synthesis at training time: the inputs were synthesized offline (an editor repainted
    them, a decoy was drawn in) and the data set recorded which elements the label owns.

    ``batch[key]`` ``(B, 1, *grid)`` in [0, 1] is that owned region (all ones for untouched
    inputs). The output has one label per input, ``labels[b]``, owning it, with weight 1.

    Args:
        key: the batch key of the masks.
    """

    key: str = "provenance_masks"

    def __call__(self, batch: Mapping[str, Any], generator: torch.Generator | None = None
                 ) -> SynthesizedBatch:
        x: Tensor = batch["inputs"]
        masks = batch.get(self.key)
        if masks is None:
            raise KeyError(f"the {type(self).__name__} synthesizer needs batch[{self.key!r}] "
                           f"(B, 1, *grid): the data set's recorded provenance masks")
        b, grid = x.shape[0], tuple(x.shape[2:])
        if tuple(masks.shape) != (b, 1, *grid):
            raise ValueError(f"provenance masks of shape {tuple(masks.shape)} do not fit inputs "
                             f"{tuple(x.shape)}: expected {(b, 1, *grid)}")
        m = masks.to(x.device, torch.float32)
        labels = batch["labels"].long().view(b, 1).to(x.device)
        prov = Provenance(m, labels, torch.ones(b, 1, device=x.device), input_shape=x.shape)
        return SynthesizedBatch(x, prov, {"synthesized": (m < 1).flatten(1).any(1)})
