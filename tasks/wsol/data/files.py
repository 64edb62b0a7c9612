"""Batching of WSOL items (the image-file helpers the readers use are in
:mod:`pgg_zoo.vision.files`)."""
from __future__ import annotations

from typing import Any

import torch


def collate_wsol(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch WSOL items: stack what has a fixed shape, keep lists of the rest.

    Returns a dict with ``inputs`` (B, 3, S, S), ``label`` (B,) long, ``orig_size`` (B, 2) long
    (h, w), ``mask`` / ``ignore`` (B, 1, S, S) when every item has them, and ``boxes`` (a list
    of B tensors (n_i, 4), since images have different numbers of boxes), ``image_id`` and
    ``path`` as lists.
    """
    out: dict[str, Any] = {
        "inputs": torch.stack([b["inputs"] for b in batch]),
        "label": torch.as_tensor([b["label"] for b in batch], dtype=torch.long),
        "orig_size": torch.as_tensor([tuple(b["orig_size"]) for b in batch], dtype=torch.long),
    }
    for key in ("mask", "ignore"):
        if all(key in b for b in batch):
            out[key] = torch.stack([b[key] for b in batch])
    for key in ("boxes", "image_id", "path"):
        if all(key in b for b in batch):
            out[key] = [b[key] for b in batch]
    return out
