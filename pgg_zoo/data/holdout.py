"""Validation splits carved from training data, the same for every run seed.

Alpha, recipes and every other choice are made on a validation split; a benchmark or data set
without one gets it carved from its training split here. The carve depends only on the labels
and ``carve_seed`` (not on the run's seed), so paired seeds train on the same images and the
validation images never enter training.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["holdout_indices"]


def holdout_indices(labels: Sequence[int] | int, fraction: float = 0.2,
                    carve_seed: int = 0) -> tuple[list[int], list[int]]:
    """Split ``range(n)`` into ``(train, val)`` index lists, stratified by label.

    Args:
        labels: one class id per training item, or the number of items (no stratification).
        fraction: share of each class held out (rounded, at least one item of every class
            with two or more items, never all of a class).
        carve_seed: the seed of the carve; keep the default so that every run of a study sees
            the same validation items.

    Returns:
        Sorted ``train`` and ``val`` index lists that partition ``range(n)``.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"holdout fraction must lie in (0, 1), got {fraction}")
    labs = np.zeros(labels, dtype=np.int64) if isinstance(labels, int) else np.asarray(labels)
    rng = np.random.default_rng(carve_seed)
    val: list[int] = []
    for c in np.unique(labs):
        idx = np.flatnonzero(labs == c)
        rng.shuffle(idx)
        if len(idx) < 2:
            continue
        k = min(max(1, int(round(fraction * len(idx)))), len(idx) - 1)
        val.extend(int(i) for i in idx[:k])
    held = set(val)
    return [i for i in range(len(labs)) if i not in held], sorted(val)
