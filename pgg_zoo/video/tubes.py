"""Action tubes: the UCF101-24 / JHMDB-21 ground-truth tube pickle and tube geometry.

The pickle (``UCF101v2-GT.pkl``, ``JHMDB-GT.pkl`` of ACT/MOC/YOWO; checked against
MCG-NJU/MOC-Detector ``src/datasets/dataset/base_dataset.py`` and ``src/ACT_utils/ACT_utils.py``)
is a dict with six keys:

* ``labels``: list of class names (24 / 21);
* ``gttubes``: ``{video: {label_index: [tube, ...]}}``, a tube being an ``(n, 5)`` array of rows
  ``<frame> <x1> <y1> <x2> <y2>`` -- frame numbers are **1-indexed**, coordinates are 0-indexed
  pixels of the original video;
* ``nframes``: ``{video: int}``;
* ``train_videos`` / ``test_videos``: lists of splits, each a list of video names
  (``"Basketball/v_Basketball_g01_c01"``);
* ``resolution``: ``{video: (height, width)}``.

The original files are Python 2 pickles: they load with ``encoding="latin1"`` (MOC uses
``iso-8859-1``, the same codec). They are read with the restricted unpickler of
:mod:`pgg_zoo.data.safe_pickle` (nothing in a file is run).

Tube geometry follows ACT: :func:`tube_iou` (``iou3dt``) and :func:`tube_nms` (``nms3dt``), with
the pixel and frame conventions as arguments (see :mod:`pgg_zoo.vision.boxes`).

Errors name the file and the key. The readers raise :class:`pgg_zoo.data.DatasetFormatError`
unless the caller passes its own exception class as ``error`` (called ``error(message, path)``),
so that a task plugin keeps raising the error type its users catch.
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from pgg_zoo.data.errors import DatasetFormatError
from pgg_zoo.data.safe_pickle import UnsafePickleError, load_pickle
from pgg_zoo.vision.boxes import paired_box_iou

__all__ = ["REQUIRED_KEYS", "TubeAnnotations", "validate_tube_annotations",
           "load_tube_annotations", "save_tube_annotations", "tube_box_at", "tube_iou",
           "tube_nms"]

REQUIRED_KEYS = ("labels", "gttubes", "nframes", "train_videos", "test_videos", "resolution")

#: ``error(message, path)``: the exception a reader raises for a malformed file.
ErrorFactory = Callable[[str, Optional[str]], Exception]


@dataclass
class TubeAnnotations:
    """Validated content of a UCF101-24/JHMDB-style pickle.

    Attributes:
        labels: class names; a label index ``c`` names ``labels[c]``.
        gttubes: ``{video: {c: [float64 array (n, 5): frame (1-based), x1, y1, x2, y2]}}``.
        nframes: ``{video: int}``.
        train_videos, test_videos: list of splits, each a list of video names.
        resolution: ``{video: (h, w)}``.
        extra: keys of the pickle beyond the six standard ones (e.g. benchmark metadata).
        path: the file it was read from, if any.
    """

    labels: list[str]
    gttubes: dict[str, dict[int, list[np.ndarray]]]
    nframes: dict[str, int]
    train_videos: list[list[str]]
    test_videos: list[list[str]]
    resolution: dict[str, tuple[int, int]]
    extra: dict[str, Any] = field(default_factory=dict)
    path: Optional[str] = None

    def videos(self, split: str = "test", split_index: int = 1) -> list[str]:
        """Video names of ``split`` ("train" | "test" | "all") for the 1-based ``split_index``."""
        if split == "all":
            return sorted(self.nframes)
        lists = {"train": self.train_videos, "test": self.test_videos}.get(split)
        if lists is None:
            raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
        if not 1 <= split_index <= len(lists):
            raise ValueError(f"{self.path or 'annotations'}: split_index {split_index} not in "
                             f"1..{len(lists)}")
        return list(lists[split_index - 1])

    def to_dict(self) -> dict[str, Any]:
        """The pickle's dict (standard keys, plus ``extra``)."""
        d = {"labels": list(self.labels), "gttubes": self.gttubes, "nframes": dict(self.nframes),
             "train_videos": self.train_videos, "test_videos": self.test_videos,
             "resolution": dict(self.resolution)}
        d.update(self.extra)
        return d


def _error(error: Optional[ErrorFactory], path: Optional[str], what: str) -> Exception:
    if error is None:
        return DatasetFormatError(path or "<annotations>", what)
    return error(f"{path or '<annotations>'}: {what}", path)


def validate_tube_annotations(
    raw: Mapping[str, Any],
    path: Optional[str | os.PathLike] = None,
    *,
    box_tolerance: Optional[float] = 4.0,
    error: Optional[ErrorFactory] = None,
) -> TubeAnnotations:
    """Check a loaded pickle dict and return it as :class:`TubeAnnotations`.

    Checks: the six keys exist; ``labels`` are strings; splits are lists of lists of names known
    to ``nframes``/``resolution``/``gttubes``; label keys are indices into ``labels``; every tube
    is an ``(n, 5)`` numeric array with integral, strictly increasing frames in
    ``1..nframes[video]`` and ``x1 <= x2``, ``y1 <= y2``, inside the ``resolution`` up to
    ``box_tolerance`` pixels (``None`` skips the box-range check: public annotation files have
    boxes a few pixels outside the frame, e.g. ``x2 == w``).

    Args:
        error: the exception to raise, called ``error(message, path)``; default
            :class:`pgg_zoo.data.DatasetFormatError`.

    Raises:
        ``error``: naming the file and the key (video, label, tube index, row).
    """
    p = None if path is None else str(path)

    def fail(what: str) -> Exception:
        return _error(error, p, what)

    if not isinstance(raw, Mapping):
        raise fail(f"expected a dict at the top level, got {type(raw).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise fail(f"missing key(s) {missing}; a UCF101-24/JHMDB pickle has {list(REQUIRED_KEYS)}"
                   f" (found {sorted(map(str, raw))})")
    labels = raw["labels"]
    if not isinstance(labels, (list, tuple)) or not all(isinstance(x, str) for x in labels):
        raise fail("key 'labels' must be a list of class-name strings")
    nframes_raw, res_raw, tubes_raw = raw["nframes"], raw["resolution"], raw["gttubes"]
    for key, val in (("nframes", nframes_raw), ("resolution", res_raw), ("gttubes", tubes_raw)):
        if not isinstance(val, Mapping):
            raise fail(f"key {key!r} must be a dict keyed by video name, got "
                       f"{type(val).__name__}")
    nframes: dict[str, int] = {}
    for v, n in nframes_raw.items():
        try:
            n_int = int(n)
        except (TypeError, ValueError):
            raise fail(f"nframes[{v!r}] = {n!r} is not an integer") from None
        if n_int <= 0 or n_int != n:
            raise fail(f"nframes[{v!r}] = {n!r} is not a positive integer")
        nframes[str(v)] = n_int
    resolution: dict[str, tuple[int, int]] = {}
    for v, hw in res_raw.items():
        try:
            h, w = (int(x) for x in hw)
        except (TypeError, ValueError):
            raise fail(f"resolution[{v!r}] = {hw!r} is not a (height, width) pair") from None
        if h <= 0 or w <= 0:
            raise fail(f"resolution[{v!r}] = {hw!r} must be positive")
        resolution[str(v)] = (h, w)

    splits: dict[str, list[list[str]]] = {}
    for key in ("train_videos", "test_videos"):
        val = raw[key]
        if (not isinstance(val, (list, tuple)) or not val
                or not all(isinstance(s, (list, tuple)) for s in val)):
            hint = (" (a flat list of names: wrap it as [names], one list per split)"
                    if isinstance(val, (list, tuple)) and val and isinstance(val[0], str) else "")
            raise fail(f"key {key!r} must be a non-empty list of splits, each a list of "
                       f"video names{hint}")
        out = []
        for si, s in enumerate(val):
            for v in s:
                for need, table in (("nframes", nframes), ("resolution", resolution),
                                    ("gttubes", tubes_raw)):
                    if v not in table:
                        raise fail(f"{key}[{si}] lists video {v!r} which has no entry in "
                                   f"{need!r}")
            out.append([str(v) for v in s])
        splits[key] = out

    gttubes: dict[str, dict[int, list[np.ndarray]]] = {}
    for v, per_label in tubes_raw.items():
        v = str(v)
        if v not in nframes or v not in resolution:
            raise fail(f"gttubes has video {v!r} without an entry in 'nframes'/'resolution'")
        if not isinstance(per_label, Mapping):
            raise fail(f"gttubes[{v!r}] must be a dict label_index -> list of tubes")
        h, w = resolution[v]
        gttubes[v] = {}
        for lab, tubes in per_label.items():
            try:
                c = int(lab)
            except (TypeError, ValueError):
                raise fail(f"gttubes[{v!r}] has label key {lab!r}; keys are label indices "
                           "into 'labels'") from None
            if c != lab or not 0 <= c < len(labels):
                raise fail(f"gttubes[{v!r}] label key {lab!r} is not an index in "
                           f"0..{len(labels) - 1}")
            if not isinstance(tubes, (list, tuple)):
                raise fail(f"gttubes[{v!r}][{c}] must be a list of tubes, got "
                           f"{type(tubes).__name__}")
            checked = []
            for ti, tube in enumerate(tubes):
                where = f"gttubes[{v!r}][{c}][{ti}]"
                try:
                    t = np.asarray(tube, dtype=np.float64)
                except (TypeError, ValueError):
                    raise fail(f"{where} is not a numeric array") from None
                if t.ndim != 2 or t.shape[1] != 5 or t.shape[0] == 0:
                    raise fail(f"{where} has shape {t.shape}; a tube is (n>0, 5): frame, "
                               "x1, y1, x2, y2")
                if not np.isfinite(t).all():
                    raise fail(f"{where} holds NaN/inf")
                fr = t[:, 0]
                if (fr != np.round(fr)).any():
                    raise fail(f"{where}: frame numbers must be integers")
                bad = np.nonzero((fr < 1) | (fr > nframes[v]))[0]
                if bad.size:
                    raise fail(f"{where} row {int(bad[0])}: frame {int(fr[bad[0]])} outside "
                               f"1..nframes={nframes[v]} (frames are 1-based)")
                if (np.diff(fr) <= 0).any():
                    raise fail(f"{where}: frames must be strictly increasing")
                bx = t[:, 1:]
                inv = np.nonzero((bx[:, 2] < bx[:, 0]) | (bx[:, 3] < bx[:, 1]))[0]
                if inv.size:
                    raise fail(f"{where} row {int(inv[0])}: box {bx[inv[0]].tolist()} has "
                               "x2 < x1 or y2 < y1")
                if box_tolerance is not None:
                    tol = float(box_tolerance)
                    out_rows = np.nonzero((bx[:, 0] < -tol) | (bx[:, 1] < -tol)
                                          | (bx[:, 2] > w + tol) | (bx[:, 3] > h + tol))[0]
                    if out_rows.size:
                        r = int(out_rows[0])
                        raise fail(f"{where} row {r} (frame {int(fr[r])}): box "
                                   f"{bx[r].tolist()} lies outside the resolution (h={h}, "
                                   f"w={w}) by more than box_tolerance={tol} px")
                checked.append(t)
            gttubes[v][c] = checked
    extra = {k: raw[k] for k in raw if k not in REQUIRED_KEYS}
    return TubeAnnotations(list(labels), gttubes, nframes, splits["train_videos"],
                           splits["test_videos"], resolution, extra, p)


def load_tube_annotations(path: str | os.PathLike, *, box_tolerance: Optional[float] = 4.0,
                          error: Optional[ErrorFactory] = None) -> TubeAnnotations:
    """Read and validate a UCF101-24/JHMDB pickle (``UCF101v2-GT.pkl``, ``JHMDB-GT.pkl``).

    Raises:
        ``error`` (default :class:`pgg_zoo.data.DatasetFormatError`): unreadable pickle or
            malformed content (names file and key).
        UnsafePickleError: the pickle names a global other than builtin containers/scalars and
            numpy (names file and global); nothing in it was run.
        FileNotFoundError: no such file.
    """
    path = Path(path)
    try:
        # restricted: these files come from third-party mirrors, and a plain pickle.load would
        # run any callable the file names before validation sees it. latin1: the public files
        # are Python 2 pickles holding numpy arrays.
        raw = load_pickle(path, encoding="latin1")
    except (UnsafePickleError, OSError):  # OSError: missing/unreadable file, not its content
        raise
    except Exception as exc:  # UnpicklingError, EOFError, ValueError, ...
        raise _error(error, str(path), f"not a readable pickle ({type(exc).__name__}: "
                                       f"{exc})") from exc
    return validate_tube_annotations(raw, path, box_tolerance=box_tolerance, error=error)


def save_tube_annotations(ann: TubeAnnotations | Mapping[str, Any],
                          path: str | os.PathLike) -> None:
    """Write annotations as a pickle (temporary name, then rename; nothing half-written)."""
    d = ann.to_dict() if isinstance(ann, TubeAnnotations) else dict(ann)
    path = Path(path)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        pickle.dump(d, f, protocol=4)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------
# geometry
# ---------------------------------------------------------------------------------------
def tube_box_at(tube: np.ndarray, frame: int) -> Optional[np.ndarray]:
    """Box ``(4,)`` of ``tube`` at 1-based ``frame``, or ``None`` when the tube lacks it."""
    i = np.searchsorted(tube[:, 0], frame)
    if i < len(tube) and tube[i, 0] == frame:
        return tube[i, 1:5]
    return None


def tube_iou(a: np.ndarray, b: np.ndarray, *, plus_one: bool = False,
             temporal_plus_one: bool = True) -> float:
    """Spatio-temporal IoU of two tubes ``(n, 5+)`` rows ``frame, x1, y1, x2, y2[, score]``.

    ``tIoU * mean spatial IoU over the temporal overlap`` (ACT's ``iou3dt``):

    * temporal: ``[max(start), min(end)]`` over ``[min(start), max(end)]``, counted in frames
      (``temporal_plus_one=True``: ``end - start + 1``, ACT) or as a length
      (``False``: ``end - start``, mmaction2's port; two equal single-frame tubes then have
      temporal IoU defined as 1);
    * spatial: mean per-frame IoU over the frames of the overlap (``plus_one``: the box pixel
      convention of :mod:`pgg_zoo.vision.boxes`; ACT uses ``True``). Tubes from the annotation
      files and from linking are contiguous, then this is exactly ACT's; if a tube has gaps, a
      frame of the overlap present in only one tube counts IoU 0 (ACT would misalign rows).

    Returns 0.0 when the tubes do not overlap in time.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        return 0.0
    a = a[np.argsort(a[:, 0], kind="stable")]
    b = b[np.argsort(b[:, 0], kind="stable")]
    tmin, tmax = max(a[0, 0], b[0, 0]), min(a[-1, 0], b[-1, 0])
    if tmax < tmin:
        return 0.0
    e = 1.0 if temporal_plus_one else 0.0
    t_inter = tmax - tmin + e
    t_union = max(a[-1, 0], b[-1, 0]) - min(a[0, 0], b[0, 0]) + e
    t_iou = 1.0 if t_union == 0 else t_inter / t_union
    aa = a[(a[:, 0] >= tmin) & (a[:, 0] <= tmax)]
    bb = b[(b[:, 0] >= tmin) & (b[:, 0] <= tmax)]
    frames = np.union1d(aa[:, 0], bb[:, 0])
    ia = np.searchsorted(aa[:, 0], frames)
    ib = np.searchsorted(bb[:, 0], frames)
    both = (ia < len(aa)) & (ib < len(bb))
    both &= aa[np.minimum(ia, len(aa) - 1), 0] == frames
    both &= bb[np.minimum(ib, len(bb) - 1), 0] == frames
    ious = np.zeros(len(frames))
    if both.any():
        ious[both] = paired_box_iou(aa[ia[both], 1:5], bb[ib[both], 1:5], plus_one=plus_one)
    return float(t_iou * ious.mean())


def tube_nms(tubes: Sequence[np.ndarray], scores: Sequence[float], overlap: float, *,
             plus_one: bool = True, temporal_plus_one: bool = True) -> np.ndarray:
    """Greedy 3D NMS (ACT ``nms3dt``): indices of kept tubes, highest score first.

    A tube is suppressed when its :func:`tube_iou` with a kept tube is ``> overlap``.
    """
    order = list(np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"))
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        order = [j for j in order
                 if tube_iou(tubes[j], tubes[i], plus_one=plus_one,
                             temporal_plus_one=temporal_plus_one) <= overlap]
    return np.asarray(keep, dtype=np.int64)
