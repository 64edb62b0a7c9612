"""The order ACT's evaluation puts equal scores in: NumPy's classic quicksort, emulated.

ACT (``ACT.py`` ``frameAP``/``videoAP``, ``ACT_utils.py`` ``nms3dt``) sorts with
``np.argsort`` and its default ``kind="quicksort"``, which is not stable: the order of equal
scores is whatever that algorithm leaves, and it decides which of two tied detections is
matched first (frame-/video-AP) and which of two tied tubes survives 3-D NMS.

That order is not portable. NumPy >= 1.25 dispatches ``argsort`` to AVX2 / AVX-512 sorting
networks when the CPU has them, and each orders ties differently; the scalar code path is the
one ACT's scripts ran on in 2017 (and the one NumPy still takes without those CPU features).
This module re-implements that path so the ``act`` protocol orders ties the same way on every
machine:

* introsort (NumPy >= 1.12): median-of-3 quicksort with Hoare-style partitioning, segments of
  at most 16 elements finished by insertion sort, and a heap sort for a segment whose depth
  budget (``2 * floor(log2(n))``) ran out; the larger side of each partition is pushed on a
  stack and the smaller one is continued (before 1.12 the same without the heap sort, which
  only adversarial inputs reach);
* ``less(a, b)`` is ``a < b`` with NaN after every number and equal to NaN.

Partitions are computed with vectorized scans (the k-th left stop of Hoare's scan is the k-th
element ``>= pivot`` until the scans cross), so an array of a million scores takes about a
second. Without ties any correct sort gives the same permutation, so a stable sort is used.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

SMALL_QUICKSORT = 15  # segments with pr - pl <= 15 (16 elements) go to insertion sort


def _dense_ranks(keys: np.ndarray) -> np.ndarray:
    """Integer ranks with the order and the ties of NumPy's float ``less`` (NaNs last, equal)."""
    _, inv = np.unique(keys, return_inverse=True, equal_nan=True)
    return inv.reshape(-1).astype(np.int64)


def _heapsort(v: np.ndarray, idx: np.ndarray, lo: int, n: int) -> None:
    """NumPy's ``aheapsort`` on ``idx[lo:lo + n]`` (in place), 1-based heap as in its source."""
    a = [0] + idx[lo:lo + n].tolist()  # a[1..n]

    def sift(i: int, m: int, tmp: int) -> None:
        j = 2 * i
        while j <= m:
            if j < m and v[a[j]] < v[a[j + 1]]:
                j += 1
            if v[tmp] < v[a[j]]:
                a[i] = a[j]
                i, j = j, 2 * j
            else:
                break
        a[i] = tmp

    for l in range(n >> 1, 0, -1):
        sift(l, n, a[l])
    m = n
    while m > 1:
        tmp = a[m]
        a[m] = a[1]
        m -= 1
        sift(1, m, tmp)
    idx[lo:lo + n] = a[1:]


def _partition(v: np.ndarray, idx: np.ndarray, pl: int, pr: int) -> int:
    """One median-of-3 Hoare partition of ``idx[pl..pr]`` (in place); returns the pivot slot."""

    def swap(i: int, j: int) -> None:
        idx[i], idx[j] = idx[j], idx[i]

    pm = pl + ((pr - pl) >> 1)
    if v[idx[pm]] < v[idx[pl]]:
        swap(pm, pl)
    if v[idx[pr]] < v[idx[pm]]:
        swap(pr, pm)
    if v[idx[pm]] < v[idx[pl]]:
        swap(pm, pl)
    vp = v[idx[pm]]
    swap(pm, pr - 1)
    seg = v[idx[pl:pr]]  # slots pl .. pr-1; the pivot now sits in pr-1
    # left scan stops on slots pl+1.. holding >= pivot (pr-1 always); right scan stops on
    # slots ..pr-2 holding <= pivot, walking down (pl always: median-of-3 put <= pivot there)
    left = np.flatnonzero(seg[1:] >= vp) + pl + 1
    right = (np.flatnonzero(seg[:-1] <= vp) + pl)[::-1]
    m = min(len(left), len(right))
    crossed = np.flatnonzero(left[:m] >= right[:m])
    k = int(crossed[0]) if len(crossed) else m  # the scans cross at the k-th stop
    if k:
        li, ri = left[:k], right[:k]
        idx[li], idx[ri] = idx[ri].copy(), idx[li].copy()
    # after k swaps slot right[k-1] holds a value >= pivot, so the last left scan stops at
    # whichever comes first
    pi = int(left[k]) if k < len(left) else pr - 1
    if k:
        pi = min(pi, int(right[k - 1]))
    swap(pi, pr - 1)
    return pi


def numpy_quicksort_argsort(keys: "np.ndarray | Sequence[float]") -> np.ndarray:
    """``np.argsort(keys)`` (default kind) as NumPy's scalar introsort computes it.

    Args:
        keys: ``(N,)`` numbers; compared as given (cast them first to reproduce a dtype).

    Returns:
        ``(N,)`` int64 permutation, ascending; equal keys in the order that algorithm leaves
        them (not input order).
    """
    keys = np.asarray(keys).reshape(-1)
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    v = _dense_ranks(keys)
    if v.max() == n - 1:  # all distinct: the sorted order is unique
        return np.argsort(v, kind="stable").astype(np.int64)
    idx = np.arange(n, dtype=np.int64)
    stack: list[tuple[int, int, int]] = []
    pl, pr = 0, n - 1
    depth = 2 * (n.bit_length() - 1)  # 2 * npy_get_msb(n)
    while True:
        if depth < 0:
            _heapsort(v, idx, pl, pr - pl + 1)
        else:
            while pr - pl > SMALL_QUICKSORT:
                pi = _partition(v, idx, pl, pr)
                depth -= 1
                if pi - pl < pr - pi:
                    stack.append((pi + 1, pr, depth))
                    pr = pi - 1
                else:
                    stack.append((pl, pi - 1, depth))
                    pl = pi + 1
            if pr > pl:  # insertion sort with a strict less is stable
                seg = idx[pl:pr + 1]
                idx[pl:pr + 1] = seg[np.argsort(v[seg], kind="stable")]
        if not stack:
            return idx
        pl, pr, depth = stack.pop()


def act_descending_order(scores: "np.ndarray | Sequence[float]") -> np.ndarray:
    """ACT's ``np.argsort(-scores)`` on its float32 arrays: indices by decreasing score.

    ACT's detection arrays and tube scores are float32, so scores equal in float32 are ties
    there too; this casts before ordering.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1).astype(np.float32)
    return numpy_quicksort_argsort(-s)


def act_nms3dt(tubes: Sequence[np.ndarray], scores: Sequence[float], overlap: float,
               iou: Callable[[np.ndarray, np.ndarray], float]) -> np.ndarray:
    """ACT's ``nms3dt``: indices of the kept tubes, in the order ACT keeps them.

    ACT sorts the scores *ascending* (``np.argsort(scores)``, float32) and repeatedly keeps the
    last index, dropping the rest whose ``iou(tube, kept) > overlap``. Of tubes with equal
    scores it therefore keeps the one its quicksort leaves last (for up to 16 tubes the last
    in input order), where a "highest score first" NMS with a stable sort keeps the first.

    Args:
        tubes: the tubes (any format ``iou`` takes); scores: ``(N,)``.
        iou: spatio-temporal IoU of two tubes (the protocol's ``tube_iou``).
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1).astype(np.float32)
    order = numpy_quicksort_argsort(s).tolist()
    keep = []
    while order:
        i = order.pop()
        keep.append(i)
        order = [j for j in order if iou(tubes[j], tubes[i]) <= overlap]
    return np.asarray(keep, dtype=np.int64)
