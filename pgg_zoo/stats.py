"""Summaries of repeated runs for tables: mean ± sample standard deviation over seeds."""
from __future__ import annotations

from typing import Iterable

import numpy as np

__all__ = ["mean_std"]


def mean_std(values: Iterable[float], *, signed: bool = False) -> str:
    """``"mean ± std"`` with two decimals (sample std, ``ddof=1``); one value alone as
    ``"value"``, none as ``""``. ``signed`` writes the mean with its sign (``+1.25``), for
    differences."""
    v = np.asarray(list(values), dtype=np.float64)
    sign = "+" if signed else ""
    if v.size == 0:
        return ""
    if v.size == 1:
        return f"{v[0]:{sign}.2f}"
    return f"{v.mean():{sign}.2f} ± {v.std(ddof=1):.2f}"
