"""The ``edit_provenance`` synthesizer: edit masks from the data become a Provenance."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch

from pgg_zoo.synthesizers import RecordedProvenance, SynthesizedBatch

__all__ = ["EditProvenance"]


@dataclass
class EditProvenance(RecordedProvenance):
    """No pixel synthesis: the editor already synthesized the inputs; this reads its provenance.

    The core ``recorded`` synthesizer reading ``batch["edit_masks"]`` ``(B, 1, H, W)`` in
    [0, 1], the unedited region of each input (all ones for unedited originals): one label per
    input, ``labels[b]``, owns that region with weight 1, so the guidance keeps the label's
    logit gradient off the edited (repainted) pixels, i.e. off the background. ``extras``:
    ``edited`` (B,) bool.

    Args:
        key: the batch key of the masks.
    """

    key: str = "edit_masks"

    def __call__(self, batch: Mapping[str, Any], generator: torch.Generator | None = None
                 ) -> SynthesizedBatch:
        if batch.get(self.key) is None:
            raise KeyError(
                f"the 'edit_provenance' synthesizer needs batch[{self.key!r}] (B, 1, H, W): "
                "train on a dataset with edits (classification task option edits=True or a "
                "path to edits.csv)")
        out = super().__call__(batch, generator)
        out.extras["edited"] = out.extras.pop("synthesized")
        return out
