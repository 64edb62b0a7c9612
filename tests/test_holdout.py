from collections import Counter

import pytest

from pgg_zoo.data import holdout_indices


def test_stratified_partition_independent_of_run_seed():
    labels = [0] * 10 + [1] * 5 + [2] * 1
    train, val = holdout_indices(labels, fraction=0.2)
    assert sorted(train + val) == list(range(16))
    # round(0.2 * 10) = 2, round(0.2 * 5) = 1, a single-item class is never held out.
    assert Counter(labels[i] for i in val) == Counter({0: 2, 1: 1})
    assert holdout_indices(labels, fraction=0.2) == (train, val)
    assert holdout_indices(labels, fraction=0.2, carve_seed=1) != (train, val)


def test_bad_fraction():
    with pytest.raises(ValueError, match="holdout fraction"):
        holdout_indices(10, fraction=1.0)


def test_groups_are_held_out_whole():
    # Three videos of class 0 (2, 3 and 1 clips) and two of class 1.
    groups = ["a", "a", "b", "b", "b", "c", "d", "d", "e"]
    labels = [0, 0, 0, 0, 0, 0, 1, 1, 1]
    train, val = holdout_indices(labels, fraction=0.4, groups=groups)
    assert sorted(train + val) == list(range(9))
    held = {groups[i] for i in val}
    assert not held & {groups[i] for i in train}
    # round(0.4 * 3) = 1 video of class 0, round(0.4 * 2) = 1 of class 1.
    assert len(held) == 2 and {labels[groups.index(g)] for g in held} == {0, 1}
