"""AVA v2.x annotations (CSV + pbtxt label map) and a key-frame dataset.

Formats (mmaction2 ``tools/data/ava/AVA_annotation_explained.md``, the ActivityNet AVA kit):

* ground-truth CSV rows ``video_id, timestamp, x1, y1, x2, y2, action_id, person_id`` with the
  timestamp in whole seconds (902..1798 for the 15-minute segments) and the box normalized to
  [0, 1]; one row per (person, action), so a person with three actions has three rows
  (multi-label). ``person_id`` is absent in some files (7 columns); then persons are grouped by
  identical boxes;
* excluded-timestamp CSV rows ``video_id, timestamp``;
* label map ``ava_action_list_v2.2.pbtxt``: ``item { name: "bend/bow (at the waist)" id: 1
  [label_type: PERSON_MOVEMENT] }`` blocks.

Frames: mmaction2 raw frames ``<frame_dir>/<video_id>/img_00001.jpg`` extracted at ``fps`` (30)
from the segment starting at ``timestamp_start`` (900 s), so a timestamp ``t`` is the 0-based
frame ``round((t - timestamp_start) * fps)``; for video files (trimmed 15-minute clips, or full
videos with ``timestamp_start=0``) the fps is read from the file.
"""
from __future__ import annotations

import csv
import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import torch

from pgg_zoo.data.errors import utf8_text

from .errors import DatasetFormatError
from .ucf24 import IMAGENET_MEAN, IMAGENET_STD, resize_clip
from .errors import VideoDecodeError
from .video import (SkipPolicy, count_frames_in_folder, probe_video, read_clip,
                    require_video_source)


@dataclass(frozen=True)
class AVALabel:
    """One entry of the label map: ``id`` (1-based AVA action id), ``name``, ``label_type``."""

    id: int
    name: str
    label_type: Optional[str] = None


_ITEM_RE = re.compile(r"item\s*\{(.*?)\}", re.S)
_FIELD_RE = re.compile(r'(\w+)\s*:\s*("(?:[^"\\]|\\.)*"|[^\s}]+)')


def _format_error(path: Path, what: str, line: int) -> DatasetFormatError:
    """STAD's ``path:line: what`` form of a :func:`~pgg_zoo.data.errors.utf8_text` error."""
    return DatasetFormatError(f"{path}:{line}: {what}", path)


def parse_label_map(path: str | os.PathLike) -> "OrderedDict[int, AVALabel]":
    """Parse an AVA pbtxt label map into ``{action_id: AVALabel}`` ordered by id.

    Raises:
        DatasetFormatError: no ``item`` blocks, an item without ``id``/``name``, a non-integer
            or duplicate id (message names file and line).
    """
    path = Path(path)
    with utf8_text(path, _format_error):
        text = path.read_text(encoding="utf-8")
    items: dict[int, AVALabel] = {}
    for m in _ITEM_RE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        fields: dict[str, str] = {}
        for f in _FIELD_RE.finditer(m.group(1)):
            val = f.group(2)
            if val.startswith('"'):
                val = val[1:-1].replace('\\"', '"')
            fields[f.group(1)] = val
        if "id" not in fields or "name" not in fields:
            raise DatasetFormatError(f"{path}:{line}: label-map item lacks 'id' or 'name' "
                                     f"(fields {sorted(fields)})", path)
        try:
            i = int(fields["id"])
        except ValueError:
            raise DatasetFormatError(f"{path}:{line}: id {fields['id']!r} is not an integer",
                                     path) from None
        if i in items:
            raise DatasetFormatError(f"{path}:{line}: duplicate id {i}", path)
        items[i] = AVALabel(i, fields["name"], fields.get("label_type"))
    if not items:
        raise DatasetFormatError(f"{path}: no 'item {{ name: ... id: ... }}' blocks found; not an "
                                 "AVA pbtxt label map", path)
    return OrderedDict(sorted(items.items()))


@dataclass
class AVAPerson:
    """One annotated person at one key frame: normalized ``box`` (4,), ``actions`` (AVA ids)."""

    box: np.ndarray
    actions: list[int]
    person_id: Optional[int]


def read_ava_csv(
    path: str | os.PathLike,
    *,
    label_map: Optional[Mapping[int, Any]] = None,
    exclusions: Optional[set[tuple[str, int]]] = None,
) -> "OrderedDict[tuple[str, int], list[AVAPerson]]":
    """Read an AVA ground-truth CSV into ``{(video_id, timestamp): [AVAPerson, ...]}``.

    Rows of one person (same ``person_id``, or the same box when there is no person id) are
    merged into one multi-label :class:`AVAPerson`. With ``label_map``, rows whose action is not
    in it are dropped (the 60-class evaluation subset of the 80 AVA actions).

    Raises:
        DatasetFormatError: wrong column count, non-numeric field, box outside [0, 1] or with
            x2 < x1 / y2 < y1, action id < 1 (message names file and line).
    """
    path = Path(path)
    out: "OrderedDict[tuple[str, int], OrderedDict[Any, AVAPerson]]" = OrderedDict()
    with utf8_text(path, _format_error), open(path, newline="", encoding="utf-8") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) not in (7, 8):
                raise DatasetFormatError(
                    f"{path}:{lineno}: expected 7 or 8 columns (video_id, timestamp, x1, y1, x2,"
                    f" y2, action_id[, person_id]), got {len(row)}: {row}", path)
            vid = row[0].strip()
            try:
                ts = int(float(row[1]))
                box = np.array([float(c) for c in row[2:6]], dtype=np.float64)
                action = int(row[6])
                pid = int(float(row[7])) if len(row) == 8 and row[7].strip() != "" else None
            except ValueError as exc:
                raise DatasetFormatError(f"{path}:{lineno}: non-numeric field ({exc}): {row}",
                                         path) from None
            if not vid:
                raise DatasetFormatError(f"{path}:{lineno}: empty video_id", path)
            if not np.isfinite(box).all() or (box < -1e-6).any() or (box > 1 + 1e-6).any():
                raise DatasetFormatError(f"{path}:{lineno}: box {box.tolist()} is not normalized"
                                         " to [0, 1]", path)
            if box[2] < box[0] or box[3] < box[1]:
                raise DatasetFormatError(f"{path}:{lineno}: box {box.tolist()} has x2 < x1 or "
                                         "y2 < y1", path)
            if action < 1:
                raise DatasetFormatError(f"{path}:{lineno}: action_id {action} < 1", path)
            if exclusions and (vid, ts) in exclusions:
                continue
            if label_map is not None and action not in label_map:
                continue
            persons = out.setdefault((vid, ts), OrderedDict())
            key = pid if pid is not None else tuple(np.round(box, 3).tolist())
            if key in persons:
                if action not in persons[key].actions:
                    persons[key].actions.append(action)
            else:
                persons[key] = AVAPerson(np.clip(box, 0.0, 1.0), [action], pid)
    return OrderedDict((k, list(v.values())) for k, v in out.items())


def read_exclusions(path: str | os.PathLike) -> set[tuple[str, int]]:
    """Read an excluded-timestamps CSV (``video_id, timestamp``) into a set of keys."""
    path = Path(path)
    out: set[tuple[str, int]] = set()
    with utf8_text(path, _format_error), open(path, newline="", encoding="utf-8") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if not row:
                continue
            if len(row) != 2:
                raise DatasetFormatError(f"{path}:{lineno}: expected 2 columns (video_id, "
                                         f"timestamp), got {len(row)}", path)
            try:
                out.add((row[0].strip(), int(float(row[1]))))
            except ValueError:
                raise DatasetFormatError(f"{path}:{lineno}: timestamp {row[1]!r} is not a "
                                         "number", path) from None
    return out


class AVADataset(torch.utils.data.Dataset):
    """Key-frame samples of AVA v2.x (one item per annotated ``(video_id, timestamp)``).

    Args:
        root: dataset folder.
        csv_path: ground-truth CSV (relative to ``root`` or absolute).
        label_map: pbtxt path or a parsed ``{id: AVALabel}``; defines the classes and their
            order (``class_ids``). ``None``: the action ids present in the CSV.
        exclusions: excluded-timestamps CSV path or a set of ``(video, ts)``.
        clip_len, stride: clip frames ``T`` and step, centred on the key frame.
        size, mean, std: as :class:`~.ucf24.TubeDataset`.
        source: "frames" (``<root>/<frame_dir>/<video>/img_00001.jpg``), "videos"
            (``<root>/<video_dir>/<video><ext>`` with ext among ``video_exts``) or "auto".
        fps: frame rate of extracted frames (30 in mmaction2); for videos it is probed.
        timestamp_start: second at which frame 0 / the video starts (900 for the 15-minute
            segments, 0 for full videos).
        on_error: "raise" | "skip".

    Items (dict): ``inputs`` float ``(3, T, S, S)``; ``boxes`` float ``(n, 4)`` in input
    pixels; ``labels`` float ``(n, C)`` multi-hot over ``class_ids``; ``person_ids`` long
    ``(n,)`` (-1 if absent); ``video`` str; ``timestamp`` int; ``frame`` int (1-based key
    frame); ``frame_numbers`` long ``(T,)`` 1-based frames read (clamped to the file); ``orig_size`` ``(h, w)``.
    """

    multilabel = True

    def __init__(
        self,
        root: str | os.PathLike,
        csv_path: str | os.PathLike,
        *,
        label_map: str | os.PathLike | Mapping[int, Any] | None = None,
        exclusions: str | os.PathLike | set[tuple[str, int]] | None = None,
        clip_len: int = 8,
        stride: int = 8,
        size: int | tuple[int, int] = 224,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        source: str = "auto",
        frame_dir: str = "rawframes",
        video_dir: str = "videos",
        video_exts: Sequence[str] = (".mp4", ".mkv", ".webm"),
        frame_template: Optional[str] = "img_{:05d}.jpg",
        fps: float = 30.0,
        timestamp_start: int = 900,
        on_error: str = "raise",
        backend: str = "auto",
        transform: Optional[Callable[[dict], dict]] = None,
    ) -> None:
        self.root = Path(root)
        rel = lambda p: Path(p) if Path(p).is_absolute() else self.root / p  # noqa: E731
        if isinstance(label_map, (str, os.PathLike)):
            label_map = parse_label_map(rel(label_map))
        if isinstance(exclusions, (str, os.PathLike)):
            exclusions = read_exclusions(rel(exclusions))
        self.csv_path = rel(csv_path)
        self.annotations = read_ava_csv(self.csv_path, label_map=label_map,
                                        exclusions=exclusions)
        if label_map is None:
            ids = sorted({a for ps in self.annotations.values() for p in ps for a in p.actions})
            self.class_ids = ids
            self.class_names = [str(i) for i in ids]
        else:
            self.class_ids = list(label_map)
            self.class_names = [getattr(label_map[i], "name", str(label_map[i]))
                                for i in self.class_ids]
        self._col = {a: i for i, a in enumerate(self.class_ids)}
        self.num_classes = len(self.class_ids)
        self.keys = list(self.annotations)
        self.clip_len, self.stride = clip_len, stride
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1, 1)
        if source not in ("auto", "frames", "videos"):
            raise ValueError(f"source must be 'auto', 'frames' or 'videos', got {source!r}")
        self.source, self.frame_dir, self.video_dir = source, frame_dir, video_dir
        self.video_exts, self.frame_template = tuple(video_exts), frame_template
        self.fps, self.timestamp_start, self.backend = float(fps), timestamp_start, backend
        self.transform = transform
        self._policy = SkipPolicy(on_error)
        self._len_cache: dict[str, tuple[int, float]] = {}

    @property
    def bad_samples(self) -> list[dict[str, Any]]:
        """Samples skipped under ``on_error="skip"``."""
        return self._policy.bad_samples

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self.keys):
            raise IndexError(index)
        return self._policy.load(index, len(self.keys), lambda i: self.keys[i][0], self._load)

    # -- checks and counts (pgg_zoo.data.check) -------------------------------------------
    def validate(self) -> None:
        """Check that every video of the CSV has its frame folder or video file (nothing is
        decoded); raise :class:`~.errors.VideoDecodeError` naming the path otherwise."""
        for v in dict.fromkeys(video for video, _ in self.keys):
            folder = None if self.source == "videos" else self.root / self.frame_dir / v
            file = None if self.source == "frames" else self.video_path(v)
            require_video_source(folder, file, v, self.csv_path)
        self.validated = True

    def _persons(self, indices: Optional[Sequence[int]]) -> list[AVAPerson]:
        keys = self.keys if indices is None else [self.keys[i] for i in indices]
        return [p for k in keys for p in self.annotations[k]]

    def class_instances(self, indices: Optional[Sequence[int]] = None) -> tuple[str, list[int]]:
        """``("persons", [class column of each (person, action)])`` of the items at
        ``indices``: a person doing two actions counts in both classes."""
        return "persons", [self._col[a] for p in self._persons(indices) for a in p.actions]

    def annotation_counts(self, indices: Optional[Sequence[int]] = None) -> dict[str, int]:
        """Videos and person boxes of the items at ``indices`` (default all)."""
        keys = self.keys if indices is None else [self.keys[i] for i in indices]
        return {"videos": len({v for v, _ in keys}), "person boxes": len(self._persons(indices))}

    def video_path(self, video: str) -> Path:
        """Frame folder or video file of ``video``."""
        folder = self.root / self.frame_dir / video
        if self.source == "frames" or (self.source == "auto" and folder.is_dir()):
            return folder
        for ext in self.video_exts:
            p = self.root / self.video_dir / (video + ext)
            if p.exists():
                return p
        return self.root / self.video_dir / (video + self.video_exts[0])

    def _load(self, index: int) -> dict[str, Any]:
        video, ts = self.keys[index]
        path = self.video_path(video)
        if video not in self._len_cache:  # (num_frames, fps), probed once per video
            if path.is_dir():
                n = count_frames_in_folder(path, self.frame_template if path.is_dir() else None)
                self._len_cache[video] = (n, self.fps)
            else:
                n, fps, _ = probe_video(path)
                self._len_cache[video] = (n, fps or self.fps)
        n, fps = self._len_cache[video]
        if n == 0:
            raise VideoDecodeError(f"{path} holds no frames", path)
        key0 = int(round((ts - self.timestamp_start) * fps))  # 0-based key frame
        idx = key0 + (np.arange(self.clip_len) - self.clip_len // 2) * self.stride
        # clips at the segment ends repeat the edge frame
        idx = np.clip(idx, 0, n - 1)
        clip = read_clip(path, idx, backend=self.backend,
                         frame_template=self.frame_template if path.is_dir() else None,
                         clamp=True)
        h, w = clip.shape[1:3]
        x = (resize_clip(clip, self.size) - self.mean) / self.std
        persons = self.annotations[(video, ts)]
        scale = np.array([self.size[1], self.size[0], self.size[1], self.size[0]])
        boxes = np.array([p.box * scale for p in persons]).reshape(-1, 4)
        labels = torch.zeros(len(persons), self.num_classes)
        for i, p in enumerate(persons):
            for a in p.actions:
                labels[i, self._col[a]] = 1.0
        item = {
            "inputs": x,
            "boxes": torch.as_tensor(boxes, dtype=torch.float32),
            "labels": labels,
            "person_ids": torch.as_tensor([-1 if p.person_id is None else p.person_id
                                           for p in persons], dtype=torch.long),
            "video": video,
            "timestamp": int(ts),
            "frame": int(key0) + 1,
            "frame_numbers": torch.as_tensor(idx + 1),
            "orig_size": (int(h), int(w)),
        }
        return self.transform(item) if self.transform is not None else item
