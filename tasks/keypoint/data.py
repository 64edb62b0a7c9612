"""Skeleton data as users have it: pyskl / mmaction2 PoseC3D pickles, UCF101-24-style tubes.

**PoseC3D pickle** (pyskl ``tools/data``, mmaction2 ``skeleton`` datasets): a dict with

* ``split``: ``{split name: [frame_dir, ...]}`` (``"train"``/``"test"``, or ``"train1"``,
  ``"test1"``, ... for UCF101/HMDB51, ``"xsub_train"`` for NTU);
* ``annotations``: a list of dicts, one per video: ``frame_dir`` (str, the video id),
  ``label`` (int), ``img_shape`` ``(h, w)``, ``original_shape``, ``total_frames`` (int),
  ``keypoint`` float ``(M, T, V, 2)`` (M persons, T = total_frames, V keypoints, x/y pixels)
  and ``keypoint_score`` float ``(M, T, V)``. Missing joints are written as (0, 0) with score 0.

**Ground-truth tubes** for person-wise and frame-wise evaluation come in the UCF101-24/JHMDB
pickle of ACT/MOC (``labels``, ``gttubes`` ``{video: {label: [(n, 5) frame, x1, y1, x2, y2]}}``
with 1-based frames, ``nframes``, ``train_videos``, ``test_videos``, ``resolution``), read by
the core's :mod:`pgg_zoo.video.tubes` (:func:`load_gt_tubes`).

Both files are read with :func:`pgg_zoo.data.safe_pickle.load_pickle` (no code in a pickle is
ever run). Malformed files raise :class:`SkeletonFormatError` naming the file and the key.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from pgg_zoo.data.safe_pickle import UnsafePickleError, load_pickle
from pgg_zoo.video.tubes import TubeAnnotations, load_tube_annotations, validate_tube_annotations

__all__ = ["SkeletonFormatError", "SkeletonAnnotations", "GTTubes", "load_skeleton_pickle",
           "validate_skeleton_annotations", "load_gt_tubes", "validate_gt_tubes",
           "KeypointDataset", "sample_frames"]

ANNOTATION_KEYS = ("frame_dir", "label", "img_shape", "total_frames", "keypoint",
                   "keypoint_score")


class SkeletonFormatError(ValueError):
    """A skeleton or tube pickle that does not have the expected content.

    Attributes:
        path: the file (``None`` when validating an in-memory object).
    """

    def __init__(self, message: str, path: Optional[str | os.PathLike] = None) -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)


def _fail(path: Optional[str], msg: str) -> SkeletonFormatError:
    return SkeletonFormatError(f"{path or '<skeletons>'}: {msg}", path)


def _read(path: str | os.PathLike) -> Any:
    try:
        return load_pickle(path)
    except (UnsafePickleError, OSError):
        raise
    except Exception as exc:  # UnpicklingError, EOFError, ...
        raise SkeletonFormatError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc})",
                                  path) from exc


@dataclass
class SkeletonAnnotations:
    """Validated content of a PoseC3D pickle.

    Attributes:
        split: ``{split name: [frame_dir, ...]}``.
        annotations: ``{frame_dir: annotation dict}`` (keypoints as float32 arrays).
        path: the file it came from.
    """

    split: dict[str, list[str]]
    annotations: dict[str, dict[str, Any]]
    path: Optional[str] = None
    extra: dict[str, Any] = field(default_factory=dict)

    def videos(self, split: str) -> list[str]:
        if split not in self.split:
            raise _fail(self.path, f"no split {split!r}; its splits are {sorted(self.split)} "
                                   "(choose with train_split / test_split)")
        return list(self.split[split])

    @property
    def num_classes(self) -> int:
        return 1 + max(int(a["label"]) for a in self.annotations.values())


def validate_skeleton_annotations(raw: Any, path: Optional[str | os.PathLike] = None
                                  ) -> SkeletonAnnotations:
    """Check a loaded PoseC3D pickle and return it as :class:`SkeletonAnnotations`.

    Checks: top-level ``split`` (dict of lists of names) and ``annotations`` (list of dicts);
    every annotation has :data:`ANNOTATION_KEYS`; ``keypoint`` is a finite ``(M, T, V, 2)``
    array with ``T == total_frames`` and ``keypoint_score`` is ``(M, T, V)``; ``label`` is a
    non-negative integer; ``img_shape`` is a positive ``(h, w)``; ``frame_dir`` values are
    unique and every name in ``split`` has an annotation.

    Raises:
        SkeletonFormatError: naming the file, the video and the key.
    """
    p = None if path is None else str(path)
    if not isinstance(raw, Mapping):
        raise _fail(p, f"expected a dict with 'split' and 'annotations', got {type(raw).__name__}")
    for key in ("split", "annotations"):
        if key not in raw:
            raise _fail(p, f"missing key {key!r}; a PoseC3D/pyskl pickle has 'split' and "
                           f"'annotations' (found {sorted(map(str, raw))})")
    split_raw, anns_raw = raw["split"], raw["annotations"]
    if not isinstance(split_raw, Mapping):
        raise _fail(p, "key 'split' must be a dict {split name: [frame_dir, ...]}")
    if not isinstance(anns_raw, (list, tuple)):
        raise _fail(p, "key 'annotations' must be a list of per-video dicts")
    anns: dict[str, dict[str, Any]] = {}
    for i, a in enumerate(anns_raw):
        where = f"annotations[{i}]"
        if not isinstance(a, Mapping):
            raise _fail(p, f"{where} must be a dict, got {type(a).__name__}")
        missing = [k for k in ANNOTATION_KEYS if k not in a]
        if missing:
            hint = ""
            if "keypoint_score" in missing and "keypoint" in a and np.shape(a["keypoint"])[-1:] == (3,):
                hint = " (3-D skeletons such as NTU's are not supported: 2-D x/y + scores expected)"
            raise _fail(p, f"{where} (frame_dir {a.get('frame_dir', '?')!r}) misses key(s) "
                           f"{missing}{hint}")
        name = a["frame_dir"]
        if not isinstance(name, str):
            raise _fail(p, f"{where}: 'frame_dir' must be a string, got {type(name).__name__}")
        where = f"annotations[{i}] (frame_dir {name!r})"
        if name in anns:
            raise _fail(p, f"{where}: duplicate frame_dir")
        try:
            label = int(a["label"])
        except (TypeError, ValueError):
            raise _fail(p, f"{where}: 'label' must be an integer, got {a['label']!r}") from None
        if label < 0 or label != a["label"]:
            raise _fail(p, f"{where}: 'label' must be a non-negative integer, got {a['label']!r}")
        try:
            h, w = (int(x) for x in a["img_shape"])
        except (TypeError, ValueError):
            raise _fail(p, f"{where}: 'img_shape' must be (height, width), got "
                           f"{a['img_shape']!r}") from None
        if h <= 0 or w <= 0:
            raise _fail(p, f"{where}: 'img_shape' {a['img_shape']!r} must be positive")
        try:
            total = int(a["total_frames"])
        except (TypeError, ValueError):
            raise _fail(p, f"{where}: 'total_frames' must be an integer") from None
        try:
            kp = np.asarray(a["keypoint"], dtype=np.float32)
            sc = np.asarray(a["keypoint_score"], dtype=np.float32)
        except (TypeError, ValueError):
            raise _fail(p, f"{where}: 'keypoint'/'keypoint_score' must be numeric arrays") from None
        if kp.ndim != 4 or kp.shape[-1] != 2:
            raise _fail(p, f"{where}: 'keypoint' has shape {kp.shape}; expected (M, T, V, 2)")
        if kp.shape[1] != total:
            raise _fail(p, f"{where}: 'keypoint' has {kp.shape[1]} frames but 'total_frames' "
                           f"is {total}")
        if sc.shape != kp.shape[:3]:
            raise _fail(p, f"{where}: 'keypoint_score' has shape {sc.shape}; expected "
                           f"{kp.shape[:3]} (M, T, V) like 'keypoint'")
        if not (np.isfinite(kp).all() and np.isfinite(sc).all()):
            raise _fail(p, f"{where}: 'keypoint'/'keypoint_score' hold NaN or inf")
        anns[name] = {**dict(a), "label": label, "img_shape": (h, w), "total_frames": total,
                      "keypoint": kp, "keypoint_score": sc}
    if not anns:
        raise _fail(p, "key 'annotations' is an empty list (no videos)")
    split: dict[str, list[str]] = {}
    for s, names in split_raw.items():
        if not isinstance(names, (list, tuple)):
            raise _fail(p, f"split[{s!r}] must be a list of frame_dir names")
        for n in names:
            if n not in anns:
                raise _fail(p, f"split[{s!r}] lists {n!r}, which has no entry in 'annotations'")
        split[str(s)] = [str(n) for n in names]
    extra = {k: raw[k] for k in raw if k not in ("split", "annotations")}
    return SkeletonAnnotations(split, anns, p, extra)


def load_skeleton_pickle(path: str | os.PathLike) -> SkeletonAnnotations:
    """Read and validate a PoseC3D/pyskl skeleton pickle (restricted unpickler).

    Raises:
        SkeletonFormatError: unreadable or malformed (names the file and the key).
        UnsafePickleError: the pickle names a global outside the data allow-list.
        FileNotFoundError: no such file.
    """
    return validate_skeleton_annotations(_read(path), path)


#: Ground-truth action tubes (UCF101-24/JHMDB layout): :class:`pgg_zoo.video.TubeAnnotations`
#: (``labels``, ``gttubes`` ``{video: {label: [float64 (n, 5) frame (1-based), x1, y1, x2, y2]}}``,
#: ``nframes``, ``resolution``, the splits).
GTTubes = TubeAnnotations


def validate_gt_tubes(raw: Any, path: Optional[str | os.PathLike] = None) -> GTTubes:
    """Check a loaded UCF101-24-style tube pickle (:func:`pgg_zoo.video.validate_tube_annotations`,
    without the box-range check: boxes drawn around keypoints may leave the frame).

    Raises:
        SkeletonFormatError: naming the file, the video, the label and the tube.
    """
    return validate_tube_annotations(raw, path, box_tolerance=None, error=SkeletonFormatError)


def load_gt_tubes(path: str | os.PathLike) -> GTTubes:
    """Read and check a UCF101-24/JHMDB ground-truth tube pickle (restricted unpickler)."""
    return load_tube_annotations(path, box_tolerance=None, error=SkeletonFormatError)


def sample_frames(total: int, clip_len: Optional[int], generator: Optional[np.random.Generator]
                  ) -> np.ndarray:
    """Frame indices (0-based) of a clip, pyskl ``UniformSampleFrames`` style.

    ``clip_len`` None (or >= ``total``): every frame. Otherwise the video is cut into
    ``clip_len`` equal segments and one frame is taken per segment: a random one when
    ``generator`` is given (training), the middle one otherwise (evaluation).
    """
    if clip_len is None or clip_len >= total:
        return np.arange(total)
    edges = np.linspace(0, total, clip_len + 1)
    lo, hi = edges[:-1], edges[1:]
    if generator is None:
        idx = (lo + hi) / 2
    else:
        idx = lo + generator.random(clip_len) * (hi - lo)
    return np.clip(idx.astype(np.int64), 0, total - 1)


class KeypointDataset(Dataset):
    """Videos of a skeleton pickle as model inputs.

    Each item: ``inputs`` float32 ``(3, M, T, V)`` (channels x, y scaled to [-1, 1] by
    ``img_shape``, and the keypoint score; missing joints are 0 in all three), ``label``,
    ``video`` (frame_dir), ``img_shape`` and ``frame_inds`` (0-based original frames of the T
    input frames). The ``max_persons`` persons of highest mean score are kept, zero-padded.

    Args:
        skeletons: the validated pickle.
        videos: the frame_dirs of this split, in order.
        max_persons: M.
        clip_len: frames per training clip (None: all frames).
        train: random frame sampling (seeded by ``seed`` and the item index).
    """

    def __init__(self, skeletons: SkeletonAnnotations, videos: Sequence[str], *,
                 max_persons: int = 3, clip_len: Optional[int] = None, train: bool = False,
                 seed: int = 0) -> None:
        self.skeletons = skeletons
        self.videos = list(videos)
        self.max_persons = int(max_persons)
        self.clip_len = clip_len
        self.train = train
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.videos)

    @property
    def labels(self) -> list[int]:
        return [int(self.skeletons.annotations[v]["label"]) for v in self.videos]

    @property
    def num_classes(self) -> int:
        """Classes of the pickle (the largest label + 1, over every split)."""
        return self.skeletons.num_classes

    def __getitem__(self, index: int) -> dict[str, Any]:
        name = self.videos[index]
        a = self.skeletons.annotations[name]
        kp, sc = a["keypoint"], a["keypoint_score"]
        h, w = a["img_shape"]
        rng = np.random.default_rng([self.seed, index]) if self.train else None
        inds = sample_frames(int(a["total_frames"]), self.clip_len, rng)
        kp, sc = kp[:, inds], sc[:, inds]
        order = np.argsort(-sc.mean(axis=(1, 2)), kind="stable")[: self.max_persons]
        kp, sc = kp[order], sc[order]
        m, t, v = sc.shape
        x = np.zeros((3, self.max_persons, t, v), dtype=np.float32)
        present = sc > 0
        x[0, :m] = np.where(present, kp[..., 0] / w * 2 - 1, 0)
        x[1, :m] = np.where(present, kp[..., 1] / h * 2 - 1, 0)
        x[2, :m] = sc
        return {"inputs": torch.from_numpy(x), "label": int(a["label"]), "video": name,
                "img_shape": (int(h), int(w)), "frame_inds": torch.from_numpy(inds.astype(np.int64))}


def save_pickle(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as a pickle through a temporary name and rename (protocol 4)."""
    import pickle

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(obj, f, protocol=4)
    os.replace(tmp, path)
    return path
