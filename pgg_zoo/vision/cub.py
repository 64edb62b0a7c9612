"""Reader for CUB-200-2011 in the dataset's own layout (as distributed by Caltech).

Layout under ``root`` (``CUB_200_2011/``)::

    images.txt              <image_id> <relative/path.jpg>          (path under images/)
    image_class_labels.txt  <image_id> <class_id>                   (class ids 1-based)
    classes.txt             <class_id> <name>
    bounding_boxes.txt      <image_id> <x> <y> <width> <height>     (floats, x/y top-left)
    train_test_split.txt    <image_id> <is_training_image>          (1 train, 0 test)
    images/<relative/path.jpg>
    segmentations/<relative/path.png>                               (optional)

Box convention of the items: ``(x0, y0, x1, y1) = (x, y, x + width, y + height)`` scaled to the
resized input, in continuous pixel coordinates where pixel i covers [i, i + 1). So x1 and y1 are
*exclusive* as pixel indices: the box covers columns x0 .. x1 - 1. wsolevaluation's CUB
``localization.txt`` holds the same numbers (x1 = x + width) and its IoU adds +1 to widths;
that convention belongs to the metric, not to the reader.
"""
from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .files import (IMAGENET_MEAN, IMAGENET_STD, check_image_file, load_gray, open_image,
                    parse_float, parse_int, read_records, scale_boxes)
from .image_dataset import ResizedImageDataset
from ..data.errors import DatasetFormatError, MissingFileError

__all__ = ["CUBDataset"]

_SPLITS = ("train", "test", "all")


class CUBDataset(ResizedImageDataset):
    """CUB-200-2011 (or anything written in its layout, e.g. the wsol-shapes-v1 benchmark).

    Args:
        root: the folder holding ``images.txt`` etc. (``CUB_200_2011/``).
        split: ``"train"`` (is_training_image = 1), ``"test"`` (0) or ``"all"``.
        image_size: S; every input is resized (no crop) to S x S.
        normalize: subtract ``mean`` and divide by ``std`` (ImageNet statistics by default);
            otherwise inputs stay in [0, 1].
        hflip: probability of a random horizontal flip (boxes and mask flipped with the
            image); 0 (off) by default, meant for training. ``True`` means 0.5. Draws come from
            torch's global generator, which the DataLoader seeds per worker.
        segmentations: ``None`` uses ``segmentations/`` when the folder exists; ``True``
            requires it; ``False`` ignores it.
        box_tolerance: boxes may stick out of the image by at most this many pixels (annotation
            rounding) and are then clipped; beyond it a :class:`DatasetFormatError` is raised.
        mean, std: normalization statistics (3 floats each).
        check_files: run :meth:`validate` in the constructor, so that a missing, truncated or
            non-image file is reported before training starts rather than when it is loaded.

    All metadata files are parsed and cross-checked in the constructor; image sizes are read
    lazily (PIL header only) when an item is loaded or :meth:`validate` is called, and boxes are
    checked against them then.

    Each item is a dict:

    * ``inputs``: float32 (3, S, S), normalized as configured;
    * ``label``: int, 0-based class index (class_id - 1);
    * ``boxes``: float32 (n, 4), x0, y0, x1, y1 in the S x S input frame, x1/y1 exclusive;
    * ``orig_boxes``: float64 (n, 4), the annotation's boxes in the original image frame (not
      clipped), from which the ``wsoleval`` evaluation path scales and truncates its boxes;
    * ``orig_size``: (h, w) of the original image;
    * ``image_id``: str, CUB's image id;
    * ``path``: str, the image file;
    * ``mask``: float32 (1, S, S) in [0, 1], only when segmentations are used (CUB's are soft:
      averaged over annotators; threshold at 0.5 for a binary mask).
    """

    def __init__(
        self,
        root: str | PathLike[str],
        split: str = "train",
        image_size: int = 224,
        normalize: bool = True,
        *,
        hflip: float | bool = 0.0,
        segmentations: bool | None = None,
        box_tolerance: float = 1.0,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        check_files: bool = False,
    ) -> None:
        if split not in _SPLITS:
            raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
        if int(image_size) <= 0:
            raise ValueError(f"image_size must be positive, got {image_size!r}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise MissingFileError(self.root, "CUB root folder not found")
        self.split = split
        self._set_item_options(image_size, normalize, hflip, box_tolerance, mean, std)

        seg_dir = self.root / "segmentations"
        if segmentations is True and not seg_dir.is_dir():
            raise MissingFileError(seg_dir, "segmentations were requested but the folder is missing")
        self.has_segmentations = seg_dir.is_dir() if segmentations is None else bool(segmentations)

        self._parse()
        self._sizes: dict[str, tuple[int, int]] = {}  # image_id -> (w, h), filled lazily
        if check_files:
            self.validate()

    # -- parsing ------------------------------------------------------------------------------
    def _parse(self) -> None:
        root = self.root
        f_images = root / "images.txt"
        f_labels = root / "image_class_labels.txt"
        f_classes = root / "classes.txt"
        f_boxes = root / "bounding_boxes.txt"
        f_split = root / "train_test_split.txt"

        # images.txt: maxsplit=1 so a relative path may contain spaces.
        paths: dict[str, str] = {}
        image_line: dict[str, int] = {}
        for ln, (iid, rel) in read_records(f_images, 2, maxsplit=1):
            if iid in paths:
                raise DatasetFormatError(
                    f_images, f"image id {iid} already defined on line {image_line[iid]}", ln)
            rel = rel.strip()
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise DatasetFormatError(f_images, f"image path must be relative to images/: {rel!r}", ln)
            paths[iid] = rel
            image_line[iid] = ln
        if not paths:
            raise DatasetFormatError(f_images, "no images listed")

        # classes.txt: ids must be exactly 1..K so that label = class_id - 1 is dense.
        class_names: dict[int, str] = {}
        for ln, (cid_s, name) in read_records(f_classes, 2, maxsplit=1):
            cid = parse_int(cid_s, f_classes, ln, "class id")
            if cid in class_names:
                raise DatasetFormatError(f_classes, f"class id {cid} defined twice", ln)
            if cid != len(class_names) + 1:
                raise DatasetFormatError(
                    f_classes, f"class ids must be 1, 2, ... in order; expected "
                    f"{len(class_names) + 1}, found {cid}", ln)
            class_names[cid] = name.strip()
        if not class_names:
            raise DatasetFormatError(f_classes, "no classes listed")

        def known(iid: str, f: Path, ln: int) -> None:
            if iid not in paths:
                raise DatasetFormatError(f, f"unknown image id {iid!r} (not in images.txt)", ln)

        def int_per_image(f: Path, what: str, twice: str, valid: Callable[[int], bool],
                          invalid: Callable[[int], str]) -> dict[str, int]:
            """``<image_id> <int>`` lines, one per image; each value checked as it is read so
            that the first bad line is the one reported."""
            out: dict[str, int] = {}
            for ln, (iid, v_s) in read_records(f, 2):
                known(iid, f, ln)
                if iid in out:
                    raise DatasetFormatError(f, f"image id {iid} {twice}", ln)
                v = parse_int(v_s, f, ln, what)
                if not valid(v):
                    raise DatasetFormatError(f, invalid(v), ln)
                out[iid] = v
            return out

        labels = {iid: cid - 1 for iid, cid in int_per_image(
            f_labels, "class id", "labelled twice", lambda c: c in class_names,
            lambda c: f"class id {c} not in classes.txt (1..{len(class_names)})").items()}
        is_train = {iid: flag == 1 for iid, flag in int_per_image(
            f_split, "is_training_image", "listed twice", lambda v: v in (0, 1),
            lambda v: f"is_training_image must be 0 or 1, found {v}").items()}

        # bounding_boxes.txt: CUB has one box per image; several lines per id are accepted
        # (n boxes). The line numbers are kept to name them when a box turns out to leave the
        # image, which is only known once the image header has been read.
        boxes: dict[str, list[tuple[float, float, float, float, int]]] = {}
        for ln, (iid, *vals) in read_records(f_boxes, 5):
            known(iid, f_boxes, ln)
            x, y, w, h = (parse_float(v, f_boxes, ln, n)
                          for v, n in zip(vals, ("x", "y", "width", "height")))
            if w <= 0 or h <= 0:
                raise DatasetFormatError(f_boxes, f"box of image {iid} has non-positive size "
                                         f"(width {w:g}, height {h:g})", ln)
            tol = self.box_tolerance
            if x < -tol or y < -tol:
                raise DatasetFormatError(
                    f_boxes, f"box of image {iid} starts outside the image (x {x:g}, y {y:g})", ln)
            boxes.setdefault(iid, []).append((x, y, x + w, y + h, ln))

        # Every listed image needs a label, a split flag and a box; say which file lacks it.
        for f, table in ((f_labels, labels), (f_split, is_train), (f_boxes, boxes)):
            missing = [i for i in paths if i not in table]
            if missing:
                i = missing[0]
                more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
                raise DatasetFormatError(
                    f, f"no line for image id {i} (images.txt line {image_line[i]}){more}")

        self._classes = [class_names[c] for c in range(1, len(class_names) + 1)]
        self._paths = paths
        self._labels = labels
        self._boxes = boxes
        self._image_line = image_line
        keep = {"train": lambda i: is_train[i], "test": lambda i: not is_train[i],
                "all": lambda i: True}[self.split]
        # Keep images.txt order (CUB sorts it by class folder), filtered by split.
        self.image_ids: list[str] = [i for i in paths if keep(i)]

    # -- public properties ----------------------------------------------------------------
    @property
    def classes(self) -> list[str]:
        """Class names in label order (label k is the (k+1)-th line of classes.txt)."""
        return list(self._classes)

    @property
    def num_classes(self) -> int:
        return len(self._classes)

    def image_path(self, index: int) -> Path:
        return self.root / "images" / self._paths[self.image_ids[index]]

    def mask_path(self, index: int) -> Path:
        """CUB's segmentation for item ``index``: same relative path with a .png suffix."""
        rel = Path(self._paths[self.image_ids[index]]).with_suffix(".png")
        return self.root / "segmentations" / rel

    def original_boxes(self, index: int) -> np.ndarray:
        """Boxes (n, 4) x0, y0, x1, y1 in the original image frame (before resize/clipping)."""
        return self._original_boxes(self.image_ids[index])

    # -- checks -------------------------------------------------------------------------------
    def _box_outside(self, iid: str, box: tuple[float, float, float, float],
                     wh: tuple[int, int], line: int) -> DatasetFormatError:
        x0, y0, x1, y1 = box
        return DatasetFormatError(
            self.root / "bounding_boxes.txt",
            f"box of image {iid} (x0 {x0:g}, y0 {y0:g}, x1 {x1:g}, y1 {y1:g}) lies "
            f"outside the {wh[0]}x{wh[1]} image {self._paths[iid]}", line)

    def _check_size(self, iid: str, wh: tuple[int, int]) -> None:
        self._sizes[iid] = wh
        # Boxes are checked here, before the pixels are decoded, so that a box outside the
        # image is the error named even when the file is truncated too.
        self._checked_boxes(iid, wh)

    def _ref(self, iid: str) -> dict[str, Any]:
        return {"referenced_from": self.root / "images.txt", "line": self._image_line[iid]}

    def image_size_of(self, index: int) -> tuple[int, int]:
        """(width, height) of item ``index`` from the image header (cached)."""
        iid = self.image_ids[index]
        if iid not in self._sizes:
            with open_image(self.image_path(index), **self._ref(iid)) as im:
                self._sizes[iid] = im.size
        return self._sizes[iid]

    def validate(self) -> None:
        """Check every image of the split exists, is a whole image (header and end marker, see
        :func:`~.files.check_image_file`) and contains its boxes, and that every segmentation
        exists; no pixel is decoded. Raises the first problem found, naming the file."""
        for k in range(len(self)):
            iid = self.image_ids[k]
            self._check_size(iid, check_image_file(self.image_path(k), **self._ref(iid)))
            if self.has_segmentations and not self.mask_path(k).is_file():
                raise MissingFileError(self.mask_path(k), "segmentation file not found",
                                       **self._ref(iid))
        self.validated = True

    # -- items --------------------------------------------------------------------------------
    def __getitem__(self, index: int) -> dict[str, Any]:
        iid = self.image_ids[index]
        x, (w, h) = self._load_input(index)
        item: dict[str, Any] = {
            "inputs": x,
            "label": self._labels[iid],
            "boxes": scale_boxes(self._checked_boxes(iid, (w, h)), (w, h), self.image_size),
            "orig_boxes": torch.from_numpy(self.original_boxes(index)),
            "orig_size": (h, w),
            "image_id": iid,
            "path": str(self.image_path(index)),
        }
        if self.has_segmentations:
            m = load_gray(self.mask_path(index), self.image_size, nearest=False,
                          what="segmentation", **self._ref(iid))
            item["mask"] = torch.from_numpy(m / 255.0).float().unsqueeze(0)
        return self._flip_and_normalize(item)

    def __repr__(self) -> str:
        return (f"CUBDataset(root={str(self.root)!r}, split={self.split!r}, n={len(self)}, "
                f"classes={self.num_classes}, image_size={self.image_size}, "
                f"segmentations={self.has_segmentations})")
