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
