"""Pixel extents of the connected components of every upper level set of an integer map, at once.

For an integer map ``r`` (values ``0..n_levels``) and every query level ``j`` in
``0..n_levels-1`` this returns the pixel bounding boxes of the connected components of
``{r > j}`` -- without labelling each level set separately. That is what makes "all contours"
box metrics over a fine threshold grid cheap: the per-threshold ``cv2.findContours`` loop costs
O(levels * H * W), this costs O(H * W * log) plus the size of the output.

How (a component tree built from "basins", all vectorized but a small Kruskal loop):

1. Every pixel points to its neighbour with the largest key ``(r, index)`` if that beats its
   own; pointer jumping follows the chains to a seed (a pixel that beats all its neighbours).
   A chain never goes down in ``r``, so at any level ``j < r_p`` pixel ``p`` is connected to its
   seed inside ``{r > j}``. Pixels sharing a seed form a basin.
2. Two basins touch at ``s = max over adjacent pixel pairs (p, q) across them of min(r_p, r_q)``;
   they are in the same component of ``{r > j}`` exactly when a path of basin contacts with
   ``s > j`` joins them (a path inside ``{r > j}`` crosses basins only at such contacts, and by
   1. every pixel reaches its seed). Kruskal over contacts in descending ``s`` gives the merge
   tree; node ``n`` (a basin or a merge) is a component for ``j`` in ``[level(parent), level(n))``.
3. Each pixel is owned by the node that is its component at the level where it enters
   (``j = r_p - 1``), found by binary lifting. The box of node ``n`` at level ``j`` is the union of
   its children's full boxes (all their pixels are above ``j``) and its own pixels with
   ``r > j`` -- a prefix of its own pixels sorted by ``r`` descending, so cumulative min/max.

Connectivity follows OpenCV's border following: 8 for the foreground; the holes of the
foreground are the 4-connected components of the background that do not reach the image frame
(:func:`hole_extents` runs the same machinery on the complement with a padded frame).
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

__all__ = ["component_extents", "hole_extents"]

# keys (value * n_pixels + index) below this are exact in float32 and go through cv2.dilate;
# larger ones take the int64 numpy path (tests force it)
FLOAT32_EXACT = 2 ** 24
# basin pairs are reduced in a dense (nb x nb) table up to this many entries, else by sorting
# (both exact, same order of output: by contact level descending, then by pair id)
CONTACT_TABLE_MAX = 2 ** 18
# the owner table is decoded from ancestor chains while (chain depth x basins) stays below this
# many entries per pixel, else every (basin, value) pair is lifted (both exact; tests force each)
OWNER_CHAINS_MAX_PER_PIXEL = 1.0

# "no pixel" extent: above / below every coordinate, safe to min/max with
_INF = np.iinfo(np.int64).max // 4

_OFFSETS = {
    8: ((0, 1), (1, -1), (1, 0), (1, 1)),  # half of the neighbourhood; the rest is symmetric
    4: ((0, 1), (1, 0)),
}


def _gather(a: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``a[index]`` for indices known to be in range: ``np.take`` with ``mode="wrap"`` skips the
    bounds check and, unlike ``a[index]``, does not first copy int32 indices to intp (about 2x
    faster on the pixel-sized gathers here)."""
    return np.take(a, index, mode="wrap")


def _basins(r: np.ndarray, connectivity: int):
    """Basin id of every pixel (flat) and the flat index of every basin's seed."""
    h, w = r.shape
    n = h * w
    kmax = (int(r.max()) + 1) * n
    if kmax < FLOAT32_EXACT:
        # keys are exact in float32: one SIMD 3x3 dilation gives every neighbourhood's best key;
        # its index is recovered with a float floor (an int64 modulo costs 10x more here). The
        # floor is exact: the quotient v + i/n is at least 1/n below v + 1 and, as
        # (v + 1) * n < 2**24, float32 rounds it by less than v / 2**24 < 1/n.
        nf = np.float32(n)
        key = r.astype(np.float32) * nf + _grid(h, w)[2].reshape(h, w)
        shape = cv2.MORPH_RECT if connectivity == 8 else cv2.MORPH_CROSS
        best = cv2.dilate(key, cv2.getStructuringElement(shape, (3, 3)))
        best -= np.floor(best / nf) * nf
        ptr = best.astype(np.int32).ravel()
    else:
        key = r.astype(np.int64) * n + np.arange(n, dtype=np.int64).reshape(h, w)
        pad = np.full((h + 2, w + 2), -1, dtype=np.int64)
        pad[1:-1, 1:-1] = key
        best = key.copy()
        for dy, dx in _OFFSETS[connectivity]:
            for sy, sx in ((dy, dx), (-dy, -dx)):
                np.maximum(best, pad[1 + sy:1 + sy + h, 1 + sx:1 + sx + w], out=best)
        ptr = (best % n).ravel().astype(np.int32)
    while True:
        nxt = _gather(ptr, ptr)
        if np.array_equal(nxt, ptr):
            break
        ptr = _gather(nxt, nxt)
    seeds = np.flatnonzero(ptr == _grid(h, w)[3])
    # basin ids are only read at seeds (every pointer ends at one): no cumsum over all pixels
    ids = np.empty(n, dtype=np.int32)
    ids[seeds] = np.arange(len(seeds), dtype=np.int32)
    return _gather(ids, ptr), seeds


@functools.lru_cache(maxsize=8)
def _grid(h: int, w: int):
    """``(xs, ys, flat index as float32, flat index as int32)`` of every pixel in raster order,
    read-only (cached per image size)."""
    flat = np.arange(h * w, dtype=np.int32)
    ys, xs = np.divmod(flat, np.int32(w))
    index = np.arange(h * w, dtype=np.float32)
    for a in (xs, ys, index, flat):
        a.setflags(write=False)
    return xs, ys, index, flat


def _contacts(basin: np.ndarray, rf: np.ndarray, h: int, w: int, nb: int,
              connectivity: int):
    """Unique basin pairs that touch, with the highest level at which they touch."""
    b2 = basin.astype(np.int32).reshape(h, w)
    ps = []
    for dy, dx in _OFFSETS[connectivity]:
        x_lo, x_hi = max(0, -dx), w - max(0, dx)
        k = np.flatnonzero(b2[0:h - dy, x_lo:x_hi] != b2[dy:h, x_lo + dx:x_hi + dx])
        if len(k):
            wv = x_hi - x_lo
            p = (k // wv) * w + (k % wv) + x_lo
            ps.append((p, p + (dy * w + dx)))
    if not ps:
        return (np.empty(0, np.int64),) * 3
    p = np.concatenate([x for x, _ in ps])
    q = np.concatenate([y for _, y in ps])
    a, b = _gather(basin, p).astype(np.int64), _gather(basin, q).astype(np.int64)
    s = np.minimum(_gather(rf, p), _gather(rf, q)).astype(np.int64)
    pair = np.minimum(a, b) * nb + np.maximum(a, b)
    if nb * nb <= CONTACT_TABLE_MAX:
        # few basins: the highest contact per pair by a scatter-max into a dense (nb x nb) table
        # instead of sorting all contact pixels (a sort of O(boundary) elements dominated here)
        best = np.full(nb * nb, -1, dtype=np.int64)
        np.maximum.at(best, pair, s)
        pair = np.flatnonzero(best >= 0)
        s = best[pair]
        order = np.argsort(-s, kind="stable")
        return pair[order] // nb, pair[order] % nb, s[order]
    top = int(rf.max()) + 1
    order = np.argsort(pair * top + (top - 1 - s))  # by pair, highest contact first
    pair, s = pair[order], s[order]
    first = np.ones(len(pair), dtype=bool)
    first[1:] = pair[1:] != pair[:-1]
    pair, s = pair[first], s[first]
    order = np.argsort(-s, kind="stable")
    return pair[order] // nb, pair[order] % nb, s[order]


def _merge_tree(seed_level: np.ndarray, a: np.ndarray, b: np.ndarray, s: np.ndarray):
    """Kruskal merge tree: parent and level of every node (basins first, then merges)."""
    nb = len(seed_level)
    uf = list(range(nb))
    top = list(range(nb))
    parent = [-1] * nb
    level = seed_level.tolist()

    def find(x: int) -> int:
        root = x
        while uf[root] != root:
            root = uf[root]
        while uf[x] != root:
            uf[x], x = root, uf[x]
        return root

    for x, y, lv in zip(a.tolist(), b.tolist(), s.tolist()):
        rx, ry = find(x), find(y)
        if rx == ry:
            continue
        node = len(level)
        level.append(lv)
        parent.append(-1)
        parent[top[rx]] = node
        parent[top[ry]] = node
        uf[ry] = rx
        top[rx] = node
    return np.asarray(parent, dtype=np.int64), np.asarray(level, dtype=np.int64)


def component_extents(r: np.ndarray, n_levels: int, connectivity: int = 8):
    """Pixel extents of the components of ``{r > j}`` for every ``j`` in ``0..n_levels-1``.

    Args:
        r: 2-D integer map with values in ``0..n_levels`` (larger values are allowed and are
            above every query level).
        n_levels: number of query levels.
        connectivity: 8 (OpenCV foreground) or 4.

    Returns:
        ``(level, x0, y0, x1, y1, node, contains)``: one row per (component, level) pair with
        inclusive pixel extents; ``node`` identifies the component in the merge tree and
        ``contains(flat_index) -> bool array`` tells which rows' components hold that pixel.
    """
    h, w = r.shape
    n = h * w
    r = np.ascontiguousarray(r, dtype=np.intp)
    rf = r.ravel()
    basin, seeds = _basins(r, connectivity)
    nb = len(seeds)
    a, b, s = _contacts(basin, rf, h, w, nb, connectivity)
    parent, level = _merge_tree(rf[seeds], a, b, s)
    nn = len(level)
    up = np.where(parent < 0, np.arange(nn), parent)
    jumps = [up]
    while True:
        nxt = jumps[-1][jumps[-1]]
        if np.array_equal(nxt, jumps[-1]):
            break
        jumps.append(nxt)
    nv = int(rf.max()) + 1
    # alive ranges: node n is a component for j in [level(parent), level(n) - 1]
    lo = np.where(parent < 0, 0, level[np.maximum(parent, 0)])
    hi = np.minimum(level, n_levels) - 1
    lens = np.maximum(hi - lo + 1, 0)
    rows_node = np.repeat(np.arange(nn), lens)
    offs = np.cumsum(lens) - lens
    j = lo[rows_node] + (np.arange(len(rows_node)) - offs[rows_node])
    # owner of pixel p: the component of {r > r_p - 1} holding p, i.e. the topmost ancestor of
    # its basin whose level is still >= r_p. So node n owns pixels of values in (lo_n, level_n]
    # only (the root also those of value 0): it gets one table slot per value lo_n .. level_n
    # + 1 (the last stays empty), a table about the size of the output rather than
    # nodes x values.
    width = level - lo + 2
    start = np.cumsum(width) - width
    tb = (_owner_table(parent, level, nb, nv, int(OWNER_CHAINS_MAX_PER_PIXEL * n))
          if nb * nv <= n else None)
    values = np.tile(np.arange(nv), nb) if nb * nv <= n else None  # value of each table entry
    if tb is None and values is not None:
        # fewer (basin, value) pairs than pixels: lift the dense table, then look it up
        tb = _lift(np.repeat(np.arange(nb), nv), values, level, jumps)
    if tb is not None:
        slot_tb = start[tb] + values - lo[tb]
        # int32 throughout: half the memory traffic of intp on these pixel-sized passes
        slot = _gather(slot_tb, basin * np.int32(nv) + rf.astype(np.int32))
    else:
        owner = _lift(basin.astype(np.int64), rf, level, jumps)
        slot = start[owner] + rf - lo[owner]
    own = _own_extents(slot, width, h, w)
    ox0, oy0, ox1, oy1 = (t[start[rows_node] + j + 1 - lo[rows_node]] for t in own)
    fx0, fy0, fx1, fy1 = (t[start + 1] for t in own)
    kx0 = np.full(nn, _INF, np.int64)
    ky0 = np.full(nn, _INF, np.int64)
    kx1 = np.full(nn, -_INF, np.int64)
    ky1 = np.full(nn, -_INF, np.int64)
    _propagate(parent, fx0, fy0, fx1, fy1, kx0, ky0, kx1, ky1)
    x0 = np.minimum(ox0, kx0[rows_node])
    y0 = np.minimum(oy0, ky0[rows_node])
    x1 = np.maximum(ox1, kx1[rows_node])
    y1 = np.maximum(oy1, ky1[rows_node])

    def contains(flat_index: int) -> np.ndarray:
        """Rows whose component holds pixel ``flat_index`` (its basin's ancestors)."""
        anc = np.zeros(nn, dtype=bool)
        node = int(basin[flat_index])
        while node >= 0:
            anc[node] = True
            node = int(parent[node])
        return anc[rows_node]

    return j, x0, y0, x1, y1, rows_node, contains



def _own_extents(slot: np.ndarray, width: np.ndarray, h: int, w: int):
    """Extents ``(x0, y0, x1, y1)`` (int64, +-``_INF`` when empty) per slot of the pixels in that
    slot or in a later slot of the same segment (node); ``slot`` is every pixel's slot,
    ``width`` every node's number of consecutive slots."""
    xs, ys, _, _ = _grid(h, w)
    total = int(width.sum())
    # segmented suffix min/max in one pass: offsetting segment k (counted from the end) by
    # k * big makes every later segment dominate all earlier ones, so the running min/max
    # restarts at each segment
    big = max(h, w) + 2
    rank = np.repeat(np.arange(len(width), dtype=np.int32), width[::-1]) * big
    out = []
    for coord, ufunc, empty, sign in ((xs, np.minimum, w, -1), (ys, np.minimum, h, -1),
                                      (xs, np.maximum, -1, 1), (ys, np.maximum, -1, 1)):
        t = np.full(total, empty, dtype=np.int32)
        ufunc.at(t, slot, coord)
        t = (ufunc.accumulate(t[::-1] + sign * rank) - sign * rank)[::-1].astype(np.int64)
        t[t == empty] = -sign * _INF
        out.append(t)
    return out


def _owner_table(parent: np.ndarray, level: np.ndarray, nb: int, nv: int, budget: int):
    """Dense ``(nb * nv,)`` table: entry ``b * nv + v`` is the topmost ancestor of basin ``b``
    whose level is ``>= v`` (``b`` itself when none is), like :func:`_lift` on every pair.

    Along a basin's ancestor chain ``a_0 = b, a_1, ..., a_D`` (root) levels do not increase, so
    ``a_k`` answers exactly the values in ``(level(a_{k+1}), level(a_k)]`` (the root: ``[0,
    level(root)]``; values above ``level(b)``: ``b``). Each table row is therefore a run-length
    code of the chain, decoded with one ``np.repeat`` -- cheaper than lifting every entry.
    Returns None when the chains are too deep for the matrix of ancestors to stay below
    ``budget`` entries (then :func:`_lift` is used).
    """
    cur = np.arange(nb)
    chain = [cur]
    while True:
        nxt = parent[cur]
        up = nxt >= 0
        if not up.any():
            break
        cur = np.where(up, nxt, cur)
        chain.append(cur)
        if len(chain) * nb > budget:
            return None
    anc = np.stack(chain[::-1], axis=1)  # (nb, D + 1): root first, the basin itself last
    lv = level[anc]
    lens = np.empty((nb, anc.shape[1] + 1), dtype=np.int64)
    lens[:, 0] = lv[:, 0] + 1  # the root answers 0 .. level(root)
    lens[:, 1:-1] = lv[:, 1:] - lv[:, :-1]  # 0 where the chain is clamped at the root
    lens[:, -1] = nv - 1 - lv[:, -1]  # values above the basin's own level
    nodes = np.concatenate([anc, np.arange(nb)[:, None]], axis=1)
    return np.repeat(nodes.ravel(), lens.ravel())


def _lift(cur: np.ndarray, need: np.ndarray, level: np.ndarray, jumps: list) -> np.ndarray:
    """Topmost ancestor of ``cur`` whose level is >= ``need`` (levels shrink going up)."""
    for tbl in reversed(jumps):
        cand = tbl[cur]
        cur = np.where(level[cand] >= need, cand, cur)
    return cur


def _propagate(parent, fx0, fy0, fx1, fy1, kx0, ky0, kx1, ky1) -> None:
    """Children-union extents (k*) and full subtree extents (f*), bottom-up over the tree."""
    par = parent.tolist()
    fx0l, fy0l, fx1l, fy1l = fx0.tolist(), fy0.tolist(), fx1.tolist(), fy1.tolist()
    kx0l, ky0l, kx1l, ky1l = kx0.tolist(), ky0.tolist(), kx1.tolist(), ky1.tolist()
    for n, pn in enumerate(par):
        # f[n] is final here: all children of n have smaller ids
        a0 = min(fx0l[n], kx0l[n]); b0 = min(fy0l[n], ky0l[n])
        a1 = max(fx1l[n], kx1l[n]); b1 = max(fy1l[n], ky1l[n])
        fx0l[n], fy0l[n], fx1l[n], fy1l[n] = a0, b0, a1, b1
        if pn >= 0:
            if a0 < kx0l[pn]: kx0l[pn] = a0
            if b0 < ky0l[pn]: ky0l[pn] = b0
            if a1 > kx1l[pn]: kx1l[pn] = a1
            if b1 > ky1l[pn]: ky1l[pn] = b1
    kx0[:] = kx0l; ky0[:] = ky0l; kx1[:] = kx1l; ky1[:] = ky1l


def hole_extents(r: np.ndarray, n_levels: int):
    """Pixel extents of the holes of ``{r > j}`` for every ``j`` in ``0..n_levels-1``.

    A hole is a 4-connected component of the background ``{r <= j}`` that does not touch the
    image frame (OpenCV's border following pairs 8-connected foreground with 4-connected
    background and treats the outside of the image as background).

    Returns:
        ``(level, x0, y0, x1, y1)`` inclusive pixel extents of the hole regions themselves.
    """
    h, w = r.shape
    d = np.full((h + 2, w + 2), n_levels + 1, dtype=np.int64)
    d[1:-1, 1:-1] = n_levels - np.asarray(r, dtype=np.int64)
    i, x0, y0, x1, y1, _, contains = component_extents(d, n_levels, connectivity=4)
    keep = ~contains(0)
    return (n_levels - 1 - i[keep], x0[keep] - 1, y0[keep] - 1, x1[keep] - 1, y1[keep] - 1)
