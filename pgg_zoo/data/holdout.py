"""Validation splits carved from training data, and fixed stratified samples of a split: the
same items for every run seed.

Alpha, recipes and every other choice are made on a validation split; a benchmark or data set
without one gets it carved from its training split here. The carve depends only on the labels
and ``carve_seed`` (not on the run's seed), so paired seeds train on the same images and the
validation images never enter training.
"""
from __future__ import annotations

from typing import Hashable, Sequence

import numpy as np

__all__ = ["holdout_indices", "stratified_sample"]


def holdout_indices(labels: Sequence[Hashable] | int, fraction: float = 0.2,
                    carve_seed: int = 0, groups: Sequence[Hashable] | None = None
                    ) -> tuple[list[int], list[int]]:
    """Split ``range(n)`` into ``(train, val)`` index lists, stratified by label.

    Args:
        labels: one class per training item, or the number of items (no stratification).
        fraction: share of each class held out (rounded, at least one unit of every class
            with two or more units, never all of a class).
        carve_seed: the seed of the carve; keep the default so that every run of a study sees
            the same validation items.
        groups: optional group per item (the video of a clip): whole groups are held out, so
            no group has items on both sides; a group's class is that of its first item.

    Returns:
        Sorted ``train`` and ``val`` index lists that partition ``range(n)``.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"holdout fraction must lie in (0, 1), got {fraction}")
    n = labels if isinstance(labels, int) else len(labels)
    labs = [0] * n if isinstance(labels, int) else list(labels)
    if groups is not None and len(groups) != n:
        raise ValueError(f"{len(groups)} groups for {n} items")
    # Units are the groups (in first-appearance order) or the items themselves.
    unit_of = list(groups) if groups is not None else list(range(n))
    first: dict[Hashable, int] = {}
    for i, u in enumerate(unit_of):
        first.setdefault(u, i)
    units = list(first)
    unit_labels = np.array([str(labs[first[u]]) for u in units])
    rng = np.random.default_rng(carve_seed)
    held_units: set[Hashable] = set()
    for c in np.unique(unit_labels):
        idx = np.flatnonzero(unit_labels == c)
        rng.shuffle(idx)
        if len(idx) < 2:
            continue
        k = min(max(1, int(round(fraction * len(idx)))), len(idx) - 1)
        held_units.update(units[i] for i in idx[:k])
    val = [i for i in range(n) if unit_of[i] in held_units]
    held = set(val)
    return [i for i in range(n) if i not in held], val


def stratified_sample(labels: Sequence[Hashable] | int, size: int, seed: int = 0) -> list[int]:
    """A fixed sample of ``size`` item indices out of ``labels`` (one class per item, or the
    number of items), every class in proportion to its share (largest remainder), the items
    of a class drawn with ``seed``; sorted.

    Without labels the sample is ``size`` evenly spaced items (data sets are often stored sorted
    by class, so a prefix would cover the first classes only). The sample depends on the
    labels, ``size`` and ``seed`` alone: every run measured on it sees the same items.
    """
    n = labels if isinstance(labels, int) else len(labels)
    size = max(0, min(int(size), n))
    if size == n:
        return list(range(n))
    if isinstance(labels, int):
        return sorted({int(i * n // size) for i in range(size)})
    by_class: dict[str, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(str(y), []).append(i)
    classes = sorted(by_class)
    exact = np.array([size * len(by_class[c]) / n for c in classes])
    quota = np.floor(exact).astype(int)
    # the remaining places go to the largest remainders (ties: the class listed first)
    for k in np.argsort(-(exact - quota), kind="stable")[: size - int(quota.sum())]:
        quota[k] += 1
    rng = np.random.default_rng(seed)
    out: list[int] = []
    for c, q in zip(classes, quota):
        members = by_class[c]
        out.extend(members[j] for j in rng.permutation(len(members))[:q])
    return sorted(out)
