"""UCF101-24 / JHMDB-21 tube annotations (the ACT/MOC/YOWO pickle) and a key-frame dataset.

The pickle (``UCF101v2-GT.pkl``, ``JHMDB-GT.pkl``; format and reader in
:mod:`pgg_zoo.video.tubes`, shared with the other video plugins) is a dict with six keys:
``labels``, ``gttubes`` ``{video: {label_index: [(n, 5) frame (1-based), x1, y1, x2, y2]}}``,
``nframes``, ``train_videos`` / ``test_videos`` (lists of splits) and ``resolution``.

The original files are Python 2 pickles: they load with ``encoding="latin1"`` (MOC uses
``iso-8859-1``, the same codec). Frames live in ``rgb-images/<video>/00001.jpg`` (MOC) or
``Frames/<video>/00001.jpg`` (ACT); a video file per video (``<video>.mp4``) works as well.
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from pgg_zoo.video import tubes as core_tubes
from pgg_zoo.video.tubes import TubeAnnotations, tube_box_at

from .errors import DatasetFormatError
from .video import SkipPolicy, read_clip, require_video_source

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def validate_tube_annotations(
    raw: Mapping[str, Any],
    path: Optional[str | os.PathLike] = None,
    *,
    box_tolerance: Optional[float] = 4.0,
) -> TubeAnnotations:
    """:func:`pgg_zoo.video.tubes.validate_tube_annotations`, raising this plugin's
    :class:`~.errors.DatasetFormatError` (naming the file and the key)."""
    return core_tubes.validate_tube_annotations(raw, path, box_tolerance=box_tolerance,
                                                error=DatasetFormatError)


def load_tube_annotations(path: str | os.PathLike, *,
                          box_tolerance: Optional[float] = 4.0) -> TubeAnnotations:
    """Read and validate a UCF101-24/JHMDB pickle (``UCF101v2-GT.pkl``, ``JHMDB-GT.pkl``) with
    :func:`pgg_zoo.video.tubes.load_tube_annotations`.

    Raises:
        DatasetFormatError: unreadable pickle or malformed content (names file and key).
        UnsafePickleError: the pickle names a global other than builtin containers/scalars and
            numpy (names file and global); nothing in it was run.
        FileNotFoundError: no such file.
    """
    return core_tubes.load_tube_annotations(path, box_tolerance=box_tolerance,
                                            error=DatasetFormatError)


# ---------------------------------------------------------------------------------------
# dataset
# ---------------------------------------------------------------------------------------
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

    # -- checks and counts (pgg_zoo.data.check) -------------------------------------------
    def validate(self) -> None:
        """Check that every video of the split has its frame folder or video file (nothing is
        decoded); raise :class:`~.errors.VideoDecodeError` naming the path otherwise."""
        listed_in = self.ann.path or "the annotations"
        for v in self.videos:
            folder = self.root / self.frame_dir / v
            file = self.root / self.video_dir / (v + self.video_ext)
            require_video_source(None if self.source == "videos" else folder,
                                 None if self.source == "frames" else file, v, listed_in)
        self.validated = True

    def _videos_of(self, indices: Optional[Sequence[int]]) -> list[str]:
        if indices is None:
            return list(self.videos)
        return list(dict.fromkeys(self.samples[i][0] for i in indices))

    def class_instances(self, indices: Optional[Sequence[int]] = None) -> tuple[str, list[int]]:
        """``("tubes", [class of each tube])`` over the videos of the items at ``indices``."""
        return "tubes", [c for v in self._videos_of(indices)
                         for c, tubes in self.ann.gttubes[v].items() for _ in tubes]

    def annotation_counts(self, indices: Optional[Sequence[int]] = None) -> dict[str, int]:
        """Videos, tubes and key-frame boxes (one per tube with a box at an item's key
        frame) of the items at ``indices`` (default all)."""
        videos = self._videos_of(indices)
        covered: dict[str, Counter] = {
            v: Counter(int(f) for tubes in self.ann.gttubes[v].values() for t in tubes
                       for f in t[:, 0]) for v in videos}
        samples = self.samples if indices is None else [self.samples[i] for i in indices]
        return {"videos": len(videos),
                "tubes": sum(len(t) for v in videos for t in self.ann.gttubes[v].values()),
                "key-frame boxes": sum(covered[v][f] for v, f in samples)}

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
