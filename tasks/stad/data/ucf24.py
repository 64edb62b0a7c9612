"""UCF101-24 / JHMDB-21 tube annotations (the ACT/MOC/YOWO pickle) and a key-frame dataset.

The pickle (``UCF101v2-GT.pkl``, ``JHMDB-GT.pkl``; checked against MCG-NJU/MOC-Detector
``src/datasets/dataset/base_dataset.py`` and ``src/ACT_utils/ACT_utils.py``) is a dict with six keys:

* ``labels``: list of class names (24 / 21);
* ``gttubes``: ``{video: {label_index: [tube, ...]}}``, a tube being an ``(n, 5)`` array of rows
  ``<frame> <x1> <y1> <x2> <y2>`` -- frame numbers are **1-indexed**, coordinates are 0-indexed
  pixels of the original video;
* ``nframes``: ``{video: int}``;
* ``train_videos`` / ``test_videos``: lists of splits, each a list of video names
  (``"Basketball/v_Basketball_g01_c01"``);
* ``resolution``: ``{video: (height, width)}``.

The original files are Python 2 pickles: they load with ``encoding="latin1"`` (MOC uses
``iso-8859-1``, the same codec). Frames live in ``rgb-images/<video>/00001.jpg`` (MOC) or
``Frames/<video>/00001.jpg`` (ACT); a video file per video (``<video>.mp4``) works as well.
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from pgg_zoo.data.safe_pickle import UnsafePickleError, load_pickle

from .errors import DatasetFormatError
from .video import SkipPolicy, read_clip

REQUIRED_KEYS = ("labels", "gttubes", "nframes", "train_videos", "test_videos", "resolution")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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


def _fail(path: Optional[str], msg: str) -> DatasetFormatError:
    return DatasetFormatError(f"{path or '<annotations>'}: {msg}", path)


def validate_tube_annotations(
    raw: Mapping[str, Any],
    path: Optional[str | os.PathLike] = None,
    *,
    box_tolerance: Optional[float] = 4.0,
) -> TubeAnnotations:
    """Check a loaded pickle dict and return it as :class:`TubeAnnotations`.

    Checks: the six keys exist; ``labels`` are strings; splits are lists of lists of names known
    to ``nframes``/``resolution``/``gttubes``; label keys are indices into ``labels``; every tube
    is an ``(n, 5)`` numeric array with integral, strictly increasing frames in
    ``1..nframes[video]`` and ``x1 <= x2``, ``y1 <= y2``, inside the ``resolution`` up to
    ``box_tolerance`` pixels (``None`` skips the box-range check: public annotation files have
    boxes a few pixels outside the frame, e.g. ``x2 == w``).

    Raises:
        DatasetFormatError: naming the file and the key (video, label, tube index, row).
    """
    p = None if path is None else str(path)
    if not isinstance(raw, Mapping):
        raise _fail(p, f"expected a dict at the top level, got {type(raw).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise _fail(p, f"missing key(s) {missing}; a UCF101-24/JHMDB pickle has {list(REQUIRED_KEYS)}"
                       f" (found {sorted(map(str, raw))})")
    labels = raw["labels"]
    if not isinstance(labels, (list, tuple)) or not all(isinstance(x, str) for x in labels):
        raise _fail(p, "key 'labels' must be a list of class-name strings")
    nframes_raw, res_raw, tubes_raw = raw["nframes"], raw["resolution"], raw["gttubes"]
    for key, val in (("nframes", nframes_raw), ("resolution", res_raw), ("gttubes", tubes_raw)):
        if not isinstance(val, Mapping):
            raise _fail(p, f"key {key!r} must be a dict keyed by video name, got "
                           f"{type(val).__name__}")
    nframes: dict[str, int] = {}
    for v, n in nframes_raw.items():
        try:
            n_int = int(n)
        except (TypeError, ValueError):
            raise _fail(p, f"nframes[{v!r}] = {n!r} is not an integer") from None
        if n_int <= 0 or n_int != n:
            raise _fail(p, f"nframes[{v!r}] = {n!r} is not a positive integer")
        nframes[str(v)] = n_int
    resolution: dict[str, tuple[int, int]] = {}
    for v, hw in res_raw.items():
        try:
            h, w = (int(x) for x in hw)
        except (TypeError, ValueError):
            raise _fail(p, f"resolution[{v!r}] = {hw!r} is not a (height, width) pair") from None
        if h <= 0 or w <= 0:
            raise _fail(p, f"resolution[{v!r}] = {hw!r} must be positive")
        resolution[str(v)] = (h, w)

    splits: dict[str, list[list[str]]] = {}
    for key in ("train_videos", "test_videos"):
        val = raw[key]
        if (not isinstance(val, (list, tuple)) or not val
                or not all(isinstance(s, (list, tuple)) for s in val)):
            hint = (" (a flat list of names: wrap it as [names], one list per split)"
                    if isinstance(val, (list, tuple)) and val and isinstance(val[0], str) else "")
            raise _fail(p, f"key {key!r} must be a non-empty list of splits, each a list of "
                           f"video names{hint}")
        out = []
        for si, s in enumerate(val):
            for v in s:
                for need, table in (("nframes", nframes), ("resolution", resolution),
                                    ("gttubes", tubes_raw)):
                    if v not in table:
                        raise _fail(p, f"{key}[{si}] lists video {v!r} which has no entry in "
                                       f"{need!r}")
            out.append([str(v) for v in s])
        splits[key] = out

    gttubes: dict[str, dict[int, list[np.ndarray]]] = {}
    for v, per_label in tubes_raw.items():
        v = str(v)
        if v not in nframes or v not in resolution:
            raise _fail(p, f"gttubes has video {v!r} without an entry in 'nframes'/'resolution'")
        if not isinstance(per_label, Mapping):
            raise _fail(p, f"gttubes[{v!r}] must be a dict label_index -> list of tubes")
        h, w = resolution[v]
        gttubes[v] = {}
        for lab, tubes in per_label.items():
            try:
                c = int(lab)
            except (TypeError, ValueError):
                raise _fail(p, f"gttubes[{v!r}] has label key {lab!r}; keys are label indices "
                               "into 'labels'") from None
            if c != lab or not 0 <= c < len(labels):
                raise _fail(p, f"gttubes[{v!r}] label key {lab!r} is not an index in "
                               f"0..{len(labels) - 1}")
            if not isinstance(tubes, (list, tuple)):
                raise _fail(p, f"gttubes[{v!r}][{c}] must be a list of tubes, got "
                               f"{type(tubes).__name__}")
            checked = []
            for ti, tube in enumerate(tubes):
                where = f"gttubes[{v!r}][{c}][{ti}]"
                try:
                    t = np.asarray(tube, dtype=np.float64)
                except (TypeError, ValueError):
                    raise _fail(p, f"{where} is not a numeric array") from None
                if t.ndim != 2 or t.shape[1] != 5 or t.shape[0] == 0:
                    raise _fail(p, f"{where} has shape {t.shape}; a tube is (n>0, 5): frame, "
                                   "x1, y1, x2, y2")
                if not np.isfinite(t).all():
                    raise _fail(p, f"{where} holds NaN/inf")
                fr = t[:, 0]
                if (fr != np.round(fr)).any():
                    raise _fail(p, f"{where}: frame numbers must be integers")
                bad = np.nonzero((fr < 1) | (fr > nframes[v]))[0]
                if bad.size:
                    raise _fail(p, f"{where} row {int(bad[0])}: frame {int(fr[bad[0]])} outside "
                                   f"1..nframes={nframes[v]} (frames are 1-based)")
                if (np.diff(fr) <= 0).any():
                    raise _fail(p, f"{where}: frame numbers must be strictly increasing")
                bx = t[:, 1:]
                inv = np.nonzero((bx[:, 2] < bx[:, 0]) | (bx[:, 3] < bx[:, 1]))[0]
                if inv.size:
                    raise _fail(p, f"{where} row {int(inv[0])}: box {bx[inv[0]].tolist()} has "
                                   "x2 < x1 or y2 < y1")
                if box_tolerance is not None:
                    tol = float(box_tolerance)
                    out_rows = np.nonzero((bx[:, 0] < -tol) | (bx[:, 1] < -tol)
                                          | (bx[:, 2] > w + tol) | (bx[:, 3] > h + tol))[0]
                    if out_rows.size:
                        r = int(out_rows[0])
                        raise _fail(p, f"{where} row {r} (frame {int(fr[r])}): box "
                                       f"{bx[r].tolist()} lies outside the resolution (h={h}, "
                                       f"w={w}) by more than box_tolerance={tol} px")
                checked.append(t)
            gttubes[v][c] = checked
    extra = {k: raw[k] for k in raw if k not in REQUIRED_KEYS}
    return TubeAnnotations(list(labels), gttubes, nframes, splits["train_videos"],
                           splits["test_videos"], resolution, extra, p)


def load_tube_annotations(path: str | os.PathLike, *,
                          box_tolerance: Optional[float] = 4.0) -> TubeAnnotations:
    """Read and validate a UCF101-24/JHMDB pickle (``UCF101v2-GT.pkl``, ``JHMDB-GT.pkl``).

    Raises:
        DatasetFormatError: unreadable pickle or malformed content (names file and key).
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
        raise DatasetFormatError(f"{path}: not a readable pickle ({type(exc).__name__}: "
                                 f"{exc})", path) from exc
    return validate_tube_annotations(raw, path, box_tolerance=box_tolerance)


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
# dataset
# ---------------------------------------------------------------------------------------
def tube_box_at(tube: np.ndarray, frame: int) -> Optional[np.ndarray]:
    """Box ``(4,)`` of ``tube`` at 1-based ``frame``, or ``None`` when the tube lacks it."""
    i = np.searchsorted(tube[:, 0], frame)
    if i < len(tube) and tube[i, 0] == frame:
        return tube[i, 1:5]
    return None


def clip_frame_numbers(key_frame: int, clip_len: int, stride: int, nframes: int) -> np.ndarray:
    """1-based frame numbers of a clip centred on ``key_frame``: ``(clip_len,)`` int64.

    Position ``clip_len // 2`` is the key frame; the others are ``stride`` apart; frames before
    1 or after ``nframes`` are clamped (edge frames repeated), as ACT/MOC do at video ends.
    """
    offs = (np.arange(clip_len) - clip_len // 2) * stride
    return np.clip(key_frame + offs, 1, nframes).astype(np.int64)


def resize_clip(clip: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """``uint8 (T, H, W, 3)`` -> float ``(3, T, h, w)`` in [0, 1], bilinear (antialiased)."""
    x = torch.from_numpy(clip).permute(0, 3, 1, 2).float().div_(255.0)  # (T, 3, H, W)
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return x.permute(1, 0, 2, 3).contiguous()  # (3, T, h, w)


class TubeDataset(torch.utils.data.Dataset):
    """Key-frame samples of a UCF101-24 / JHMDB-21 style dataset (one item per key frame).

    Args:
        root: dataset folder (frames under ``root/frame_dir``, videos under ``root/video_dir``).
        annotations: the pickle path (relative to ``root`` or absolute) or loaded
            :class:`TubeAnnotations`.
        split: "train" | "test" | "all"; ``split_index`` is 1-based (UCF101-24 uses split 1).
        clip_len: frames per clip ``T``; ``stride``: frame step inside the clip.
        size: output height/width ``S`` (int) or ``(h, w)``; frames are resized without keeping
            the aspect ratio (as MOC/ACT do) and boxes scaled the same way.
        mean, std: per-channel normalization of [0, 1] pixels.
        source: "frames" (``<root>/<frame_dir>/<video>/00001.jpg``), "videos"
            (``<root>/<video_dir>/<video><video_ext>``) or "auto" (frames if the folder exists).
        key_frames: "annotated" (frames where at least one tube has a box; training/frame-mAP
            on GT frames) or "all" (every frame, for inference over whole videos).
        key_frame_step: keep every ``key_frame_step``-th candidate key frame per video.
        on_error: "raise" or "skip" (see :class:`~.video.SkipPolicy`); skipped samples are
            listed in :attr:`bad_samples`.
        backend: "auto" (decord, PyAV fallback), "decord" or "pyav".
        transform: optional callable ``item -> item`` applied last.

    Items (dict):
        ``inputs`` float ``(3, T, S, S)`` normalized; ``boxes`` float ``(n, 4)`` x1y1x2y2 in
        input pixels of the key frame; ``labels`` long ``(n,)``; ``tube_boxes`` float
        ``(n, T, 4)`` the same actors' boxes on every clip frame (zeros where invalid) and
        ``tube_valid`` bool ``(n, T)`` (for actor-tube paste); ``video`` str; ``frame`` int
        (1-based key frame); ``frame_numbers`` long ``(T,)`` 1-based frames of the clip;
        ``orig_size`` ``(h, w)`` tuple of the original video.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        annotations: str | os.PathLike | TubeAnnotations,
        split: str = "train",
        *,
        split_index: int = 1,
        clip_len: int = 8,
        stride: int = 1,
        size: int | tuple[int, int] = 112,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        source: str = "auto",
        frame_dir: str = "rgb-images",
        video_dir: str = "videos",
        video_ext: str = ".mp4",
        frame_template: Optional[str] = None,
        key_frames: str = "annotated",
        key_frame_step: int = 1,
        on_error: str = "raise",
        backend: str = "auto",
        box_tolerance: Optional[float] = 4.0,
        transform: Optional[Callable[[dict], dict]] = None,
    ) -> None:
        self.root = Path(root)
        if isinstance(annotations, TubeAnnotations):
            self.ann = annotations
        else:
            ap = Path(annotations)
            self.ann = load_tube_annotations(ap if ap.is_absolute() else self.root / ap,
                                             box_tolerance=box_tolerance)
        if clip_len < 1 or stride < 1 or key_frame_step < 1:
            raise ValueError("clip_len, stride and key_frame_step must be >= 1")
        if source not in ("auto", "frames", "videos"):
            raise ValueError(f"source must be 'auto', 'frames' or 'videos', got {source!r}")
        if key_frames not in ("annotated", "all"):
            raise ValueError(f"key_frames must be 'annotated' or 'all', got {key_frames!r}")
        self.split, self.clip_len, self.stride = split, clip_len, stride
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1, 1)
        self.source, self.frame_dir, self.video_dir = source, frame_dir, video_dir
        self.video_ext, self.frame_template, self.backend = video_ext, frame_template, backend
        self.transform = transform
        self.labels = self.ann.labels
        self.num_classes = len(self.labels)
        self.videos = self.ann.videos(split, split_index)
        self._policy = SkipPolicy(on_error)
        self.samples: list[tuple[str, int]] = []
        for v in self.videos:
            if key_frames == "all":
                cand = list(range(1, self.ann.nframes[v] + 1))
            else:
                fr: set[int] = set()
                for tubes in self.ann.gttubes[v].values():
                    for t in tubes:
                        fr.update(int(f) for f in t[:, 0])
                cand = sorted(fr)
            self.samples += [(v, f) for f in cand[::key_frame_step]]

    # -- policy -----------------------------------------------------------------------------
    @property
    def bad_samples(self) -> list[dict[str, Any]]:
        """Samples skipped under ``on_error="skip"`` (index, video, path, error)."""
        return self._policy.bad_samples

    @property
    def on_error(self) -> str:
        return self._policy.on_error

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self.samples):
            raise IndexError(index)
        return self._policy.load(index, len(self.samples), lambda i: self.samples[i][0],
                                 self._load)

    # -- loading ----------------------------------------------------------------------------
    def video_path(self, video: str) -> Path:
        """Frame folder or video file of ``video`` according to ``source``."""
        folder = self.root / self.frame_dir / video
        if self.source == "frames" or (self.source == "auto" and folder.is_dir()):
            return folder
        return self.root / self.video_dir / (video + self.video_ext)

    def _load(self, index: int) -> dict[str, Any]:
        video, key = self.samples[index]
        n = self.ann.nframes[video]
        h, w = self.ann.resolution[video]
        fnums = clip_frame_numbers(key, self.clip_len, self.stride, n)
        clip = read_clip(self.video_path(video), fnums - 1, backend=self.backend,
                         frame_template=self.frame_template, clamp=True)
        x = resize_clip(clip, self.size)
        x = (x - self.mean) / self.std
        sy, sx = self.size[0] / h, self.size[1] / w
        scale = np.array([sx, sy, sx, sy])
        boxes, labels, tboxes, tvalid = [], [], [], []
        for c in sorted(self.ann.gttubes[video]):
            for tube in self.ann.gttubes[video][c]:
                b = tube_box_at(tube, key)
                if b is None:
                    continue
                boxes.append(b * scale)
                labels.append(c)
                tb = np.zeros((self.clip_len, 4))
                tv = np.zeros(self.clip_len, dtype=bool)
                for j, f in enumerate(fnums.tolist()):
                    bj = tube_box_at(tube, f)
                    if bj is not None:
                        tb[j], tv[j] = bj * scale, True
                tboxes.append(tb)
                tvalid.append(tv)
        item = {
            "inputs": x,
            "boxes": torch.as_tensor(np.array(boxes).reshape(-1, 4), dtype=torch.float32),
            "labels": torch.as_tensor(labels, dtype=torch.long),
            "tube_boxes": torch.as_tensor(np.array(tboxes).reshape(-1, self.clip_len, 4),
                                          dtype=torch.float32),
            "tube_valid": torch.as_tensor(np.array(tvalid).reshape(-1, self.clip_len)),
            "video": video,
            "frame": int(key),
            "frame_numbers": torch.from_numpy(fnums),
            "orig_size": (int(h), int(w)),
        }
        return self.transform(item) if self.transform is not None else item


#: UCF101-24 (``UCF101v2-GT.pkl``) and JHMDB-21 (``JHMDB-GT.pkl``) share the format.
UCF24Dataset = TubeDataset
JHMDBDataset = TubeDataset


def stad_collate(batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Collate STAD items: stack ``inputs`` to ``(B, 3, T, S, S)``, keep per-item lists for the
    variable-length keys (``boxes``, ``labels``, ``tube_boxes``, ``tube_valid``, ...)."""
    out: dict[str, Any] = {"inputs": torch.stack([b["inputs"] for b in batch], 0)}
    for k in batch[0]:
        if k != "inputs":
            out[k] = [b[k] for b in batch]
    return out
