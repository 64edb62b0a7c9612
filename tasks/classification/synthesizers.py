"""The ``edit_provenance`` synthesizer: edit masks from the data become a Provenance."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import Tensor

from pgg_zoo.provenance import Provenance
from pgg_zoo.synthesizers import SynthesizedBatch

__all__ = ["EditProvenance"]


@dataclass
class EditProvenance:
    """No pixel synthesis: the editor already synthesized the inputs; this reads its provenance.

    ``batch["edit_masks"]`` ``(B, 1, H, W)`` in [0, 1] is the unedited region of each input
    (all ones for unedited originals). The output has one label per input, ``labels[b]``,
    owning that region, weight 1 and valid; the guidance then keeps the label's logit gradient
    off the edited (repainted) pixels, i.e. off the background.

    Args:
        key: the batch key of the masks.
    """

    key: str = "edit_masks"

    def __call__(self, batch: Mapping[str, Any], generator: torch.Generator | None = None
                 ) -> SynthesizedBatch:
        x: Tensor = batch["inputs"]
        labels: Tensor = batch["labels"].long()
        masks = batch.get(self.key)
        if masks is None:
            raise KeyError(
                f"the 'edit_provenance' synthesizer needs batch[{self.key!r}] (B, 1, H, W): "
                "train on a dataset with edits (classification task option edits=True or a "
                "path to edits.csv)")
        b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
        if x.dim() != 4 or tuple(masks.shape) != (b, 1, h, w):
            raise ValueError(f"edit masks of shape {tuple(masks.shape)} do not fit inputs "
                             f"{tuple(x.shape)}: expected ({b}, 1, {h}, {w})")
        m = masks.to(x.device, torch.float32)
        prov = Provenance(m, labels.view(b, 1).to(x.device), torch.ones(b, 1, device=x.device),
                          input_shape=x.shape)
        return SynthesizedBatch(x, prov, {"edited": (m < 1).flatten(1).any(1)})
