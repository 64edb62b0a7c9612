"""The class of each item of a dataset, through any chain of ``Subset`` views (for stratified
samples and per-class counts)."""
from __future__ import annotations

from numbers import Integral
from typing import Any

from torch.utils.data import Dataset, Subset


def unwrap_subset(ds: Dataset) -> tuple[Dataset, list[int] | None]:
    """The dataset holding the data and the indices ``ds`` selects from it (None: all)."""
    indices: list[int] | None = None
    while isinstance(ds, Subset):
        sel = [int(i) for i in ds.indices]
        indices = sel if indices is None else [sel[i] for i in indices]
        ds = ds.dataset
    return ds, indices


def item_labels(ds: Any, n: int) -> list[int] | None:
    """One class id per item of ``ds`` (all ``n`` of them) from its ``labels`` attribute, or
    None when it has no such list (detection data sets name their classes instead)."""
    labels = getattr(ds, "labels", None)
    if labels is None or isinstance(labels, str):
        return None
    try:
        labels = list(labels)
    except TypeError:
        return None
    if len(labels) != n or not all(isinstance(y, Integral) and not isinstance(y, bool)
                                   for y in labels):
        return None
    return [int(y) for y in labels]


def dataset_labels(ds: Dataset) -> list[int] | None:
    """The class id of every item of ``ds`` (a dataset or a ``Subset`` view of one), or None
    when the underlying dataset has no per-item ``labels``."""
    base, indices = unwrap_subset(ds)
    labels = item_labels(base, len(base))  # type: ignore[arg-type]
    if labels is None or indices is None:
        return labels
    return [labels[i] for i in indices]
