"""Reader for the clovaai/wsolevaluation metadata layout (CUB, ILSVRC, OpenImages).

Layout (wsolevaluation @96f4b886, ``metadata/`` and ``data_loaders.py``)::

    <metadata_root>/<CUB|ILSVRC|OpenImages>/<train|val|test>/
        image_ids.txt         <path>                        one image per line
        image_ids_proxy.txt   <path>                        ILSVRC train only (proxy subset)
        class_labels.txt      <path>,<label>                0-based integer label
        image_sizes.txt       <path>,<width>,<height>       (absent for OpenImages)
        localization.txt      <path>,<x0>,<y0>,<x1>,<y1>    boxes; an image may repeat
                        or    <path>,<mask.png>,<ignore.png>  OpenImages: one line per instance
                                                             mask; the ignore mask is given on
                                                             the image's first line only

``<path>`` is relative to the image root of that dataset (``data_root``, e.g. ``dataset/CUB``),
and is also the image id. Mask paths are relative to ``mask_root`` (default ``data_root``), as
in wsolevaluation's ``--mask_root``.

Splits (wsolevaluation README): ``train`` (= ``train-weaksup``, folder ``train``),
``train-fullsup`` (= folder ``val``: CUBV2, ImageNetV2, OpenImages val; meant for choosing
hyperparameters with full supervision) and ``test``.

Boxes: the file's integers are passed through, scaled to the resized input by
(S / W, S / H) as floats. wsolevaluation truncates the scaled values with ``int()`` and uses the
"+1" IoU convention (x1 inclusive); both belong to the metric. For CUB the file's x1 is CUB's
x + width, i.e. the same numbers :class:`~pgg_zoo_tasks.wsol.data.cub.CUBDataset` returns.

Masks (OpenImages): as wsolevaluation's ``get_mask``, instance masks are resized with nearest
neighbour, a pixel is foreground if any instance mask is > 0 there, and the ignore region is
(ignore mask > 0) minus the foreground.
"""
from __future__ import annotations

from os import PathLike
from pathlib import Path, PurePosixPath
from typing import Any, Sequence

import numpy as np
import torch

from pgg_zoo.data.errors import DatasetFormatError, MissingFileError
from pgg_zoo.vision.files import (IMAGENET_MEAN, IMAGENET_STD, check_image_file, load_gray,
                                  parse_float, parse_int, read_records, scale_boxes)
from pgg_zoo.vision.image_dataset import ResizedImageDataset

__all__ = ["WSOLEvalDataset", "SPLIT_FOLDERS", "DATASETS"]

#: Split names accepted -> metadata folder.
SPLIT_FOLDERS = {
    "train": "train", "train-weaksup": "train",
    "train-fullsup": "val", "val": "val",
    "test": "test",
}
#: Dataset name -> (number of classes, localization kind).
DATASETS = {"CUB": (200, "boxes"), "ILSVRC": (1000, "boxes"), "OpenImages": (100, "masks")}


class WSOLEvalDataset(ResizedImageDataset):
    """One split of CUB / ILSVRC / OpenImages described by wsolevaluation metadata.

    Args:
        data_root: image root of the dataset; the paths in the metadata are relative to it.
        metadata_root: wsolevaluation's ``metadata/`` folder (holding ``CUB/``, ``ILSVRC/``,
            ``OpenImages/``).
        dataset: ``"CUB"``, ``"ILSVRC"`` or ``"OpenImages"``.
        split: ``"train"`` / ``"train-weaksup"``, ``"train-fullsup"`` / ``"val"``, ``"test"``.
        image_size: S; inputs are resized (no crop) to S x S, as wsolevaluation's eval loader.
        normalize: ImageNet mean/std normalization (``mean``, ``std`` override).
        mask_root: root of the OpenImages mask paths; default ``data_root``.
        proxy: read ``image_ids_proxy.txt`` instead of ``image_ids.txt`` (ILSVRC train).
        num_classes: override the known class count (CUB 200, ILSVRC 1000, OpenImages 100),
            e.g. for a subset written in this layout.
        hflip: probability of a random horizontal flip (0 = off); torch's global generator.
        box_tolerance: pixels a box may exceed the image size by before it is an error.
        check_files: run :meth:`validate` in the constructor (missing, truncated or non-image
            files are reported before training starts).

    Metadata files are parsed and cross-checked in the constructor. ``image_sizes.txt`` and
    ``localization.txt`` are optional (OpenImages has no sizes; training splits may have no
    localization); when ``image_sizes.txt`` exists, boxes are checked against it at once and
    the image's real size is checked against it when the image is loaded.

    Each item is a dict: ``inputs`` float32 (3, S, S); ``label`` int; ``orig_size`` (h, w);
    ``image_id`` str (the metadata path); ``path`` str; and, when the split has localization,
    ``boxes`` float32 (n, 4) x0, y0, x1, y1 in the S x S frame and ``orig_boxes`` float64 (n, 4),
    the file's boxes in the original frame (box datasets), or ``mask`` and
    ``ignore`` float32 (1, S, S) with values in {0, 1} (OpenImages).
    """

    def __init__(
        self,
        data_root: str | PathLike[str],
        metadata_root: str | PathLike[str],
        dataset: str = "CUB",
        split: str = "test",
        image_size: int = 224,
        normalize: bool = True,
        *,
        mask_root: str | PathLike[str] | None = None,
        proxy: bool = False,
        num_classes: int | None = None,
        hflip: float | bool = 0.0,
        box_tolerance: float = 1.0,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        check_files: bool = False,
    ) -> None:
        for name, value, allowed in (("dataset", dataset, DATASETS),
                                     ("split", split, SPLIT_FOLDERS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {sorted(allowed)}, got {value!r}")
        self.data_root = Path(data_root)
        self.mask_root = Path(mask_root) if mask_root is not None else self.data_root
        self.dataset = dataset
        self.split = split
        self.metadata_dir = Path(metadata_root) / dataset / SPLIT_FOLDERS[split]
        if not self.metadata_dir.is_dir():
            raise MissingFileError(self.metadata_dir, "metadata folder not found")
        self._set_item_options(image_size, normalize, hflip, box_tolerance, mean, std)
        self.proxy = bool(proxy)
        known_k, self.localization_kind = DATASETS[dataset]
        self._num_classes = int(num_classes) if num_classes is not None else known_k
        self._parse()
        if check_files:
            self.validate()

    # -- parsing ------------------------------------------------------------------------------
    def _parse(self) -> None:
        md = self.metadata_dir
        f_ids = md / ("image_ids_proxy.txt" if self.proxy else "image_ids.txt")
        f_labels = md / "class_labels.txt"
        f_sizes = md / "image_sizes.txt"
        f_loc = md / "localization.txt"

        ids: list[str] = []
        id_line: dict[str, int] = {}
        for ln, (iid,) in read_records(f_ids, 1, ","):
            if iid in id_line:
                raise DatasetFormatError(f_ids, f"image {iid!r} already listed on line {id_line[iid]}", ln)
            p = PurePosixPath(iid)
            if p.is_absolute() or ".." in p.parts:
                raise DatasetFormatError(f_ids, f"image path must be relative: {iid!r}", ln)
            ids.append(iid)
            id_line[iid] = ln
        if not ids:
            raise DatasetFormatError(f_ids, "no images listed")
        self._ids_file = f_ids
        self._id_line = id_line

        def known(iid: str, f: Path, ln: int) -> bool:
            """Whether the line is about a listed image. The proxy list is a subset of the
            split, so the other files legitimately describe more images; skip those."""
            if iid in id_line:
                return True
            if self.proxy:
                return False
            raise DatasetFormatError(f, f"unknown image {iid!r} (not in {f_ids.name})", ln)

        labels: dict[str, int] = {}
        for ln, (iid, lab_s) in read_records(f_labels, 2, ","):
            if not known(iid, f_labels, ln):
                continue
            if iid in labels:
                raise DatasetFormatError(f_labels, f"image {iid!r} labelled twice", ln)
            lab = parse_int(lab_s, f_labels, ln, "class label")
            if not 0 <= lab < self._num_classes:
                raise DatasetFormatError(
                    f_labels, f"class label {lab} outside 0..{self._num_classes - 1}", ln)
            labels[iid] = lab
        self._require_all(f_labels, labels)
        self._labels = labels

        sizes: dict[str, tuple[int, int, int]] = {}  # iid -> (w, h, line)
        self._sizes_file = f_sizes if f_sizes.is_file() else None
        if self._sizes_file is not None:
            for ln, (iid, ws, hs) in read_records(f_sizes, 3, ","):
                if not known(iid, f_sizes, ln):
                    continue
                if iid in sizes:
                    raise DatasetFormatError(f_sizes, f"image {iid!r} listed twice", ln)
                w = parse_int(ws, f_sizes, ln, "width")
                h = parse_int(hs, f_sizes, ln, "height")
                if w <= 0 or h <= 0:
                    raise DatasetFormatError(f_sizes, f"image size must be positive, found {w}x{h}", ln)
                sizes[iid] = (w, h, ln)
            self._require_all(f_sizes, sizes)
        self._sizes = sizes

        self._boxes: dict[str, list[tuple[float, float, float, float, int]]] = {}
        self._masks: dict[str, list[tuple[str, int]]] = {}
        self._ignore: dict[str, tuple[str, int]] = {}
        self.has_localization = f_loc.is_file()
        if self.has_localization:
            if self.localization_kind == "boxes":
                self._parse_boxes(f_loc, known)
            else:
                self._parse_masks(f_loc, known)
        self._loc_file = f_loc
        self.image_ids = ids

    def _require_all(self, f: Path, table: dict[str, Any]) -> None:
        missing = [i for i in self._id_line if i not in table]
        if missing:
            i = missing[0]
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise DatasetFormatError(
                f, f"no line for image {i!r} ({self._ids_file.name} line {self._id_line[i]}){more}")

    def _parse_boxes(self, f: Path, known) -> None:
        tol = self.box_tolerance
        for ln, (iid, *vals) in read_records(f, 5, ","):
            if not known(iid, f, ln):
                continue
            x0, y0, x1, y1 = (parse_float(v, f, ln, n) for v, n in zip(vals, ("x0", "y0", "x1", "y1")))
            if x1 < x0 or y1 < y0:
                raise DatasetFormatError(f, f"box of {iid!r} has x1 < x0 or y1 < y0: {vals}", ln)
            if x0 < -tol or y0 < -tol:
                raise DatasetFormatError(f, f"box of {iid!r} starts outside the image: {vals}", ln)
            if iid in self._sizes:
                w, h, _ = self._sizes[iid]
                if x1 > w + tol or y1 > h + tol:
                    raise DatasetFormatError(
                        f, f"box of {iid!r} ({', '.join(vals)}) lies outside the {w}x{h} image "
                        f"(image_sizes.txt line {self._sizes[iid][2]})", ln)
            self._boxes.setdefault(iid, []).append((x0, y0, x1, y1, ln))
        self._require_all(f, self._boxes)

    def _parse_masks(self, f: Path, known) -> None:
        for ln, (iid, mask, ignore) in read_records(f, 3, ","):
            if not known(iid, f, ln):
                continue
            if not mask:
                raise DatasetFormatError(f, f"empty mask path for {iid!r}", ln)
            if iid not in self._masks:
                self._masks[iid] = []
                self._ignore[iid] = (ignore, ln)
            elif ignore:
                # wsolevaluation asserts this too: one ignore mask per image, on its first line.
                raise DatasetFormatError(
                    f, f"second ignore mask for {iid!r} (first given on line "
                    f"{self._ignore[iid][1]}); later lines must leave it empty", ln)
            self._masks[iid].append((mask, ln))
        self._require_all(f, self._masks)

    # -- public properties ----------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def classes(self) -> list[str]:
        """Class names where the paths show them (``<class_folder>/<image>``), else the label
        as a string. The metadata has no class-name file; CUB's and OpenImages' folders are
        named by class, ILSVRC val images are not."""
        names = {lab: str(lab) for lab in range(self._num_classes)}
        seen: set[int] = set()
        for iid in self.image_ids:
            lab = self._labels[iid]
            if lab not in seen:
                seen.add(lab)
                parent = PurePosixPath(iid).parent.name
                if parent and parent not in ("train", "val", "test", "val2"):
                    names[lab] = parent
        return [names[k] for k in range(self._num_classes)]

    def image_path(self, index: int) -> Path:
        return self.data_root / self.image_ids[index]

    def _ref(self, iid: str) -> dict[str, Any]:
        return {"referenced_from": self._ids_file, "line": self._id_line[iid]}

    def _check_size(self, iid: str, wh: tuple[int, int]) -> None:
        if iid in self._sizes:
            w, h, ln = self._sizes[iid]
            if (w, h) != tuple(wh):
                raise DatasetFormatError(
                    self._sizes_file, f"size {w}x{h} of {iid!r} differs from the image file's "
                    f"{wh[0]}x{wh[1]}", ln)

    def _box_outside(self, iid: str, box: tuple[float, float, float, float],
                     wh: tuple[int, int], line: int) -> DatasetFormatError:
        return DatasetFormatError(
            self._loc_file, f"box of {iid!r} ({box[0]:g}, {box[1]:g}, {box[2]:g}, {box[3]:g}) "
            f"lies outside the {wh[0]}x{wh[1]} image", line)

    def validate(self) -> None:
        """Check every image is whole (header and end marker, no pixel decoded:
        :func:`~.files.check_image_file`), its size and boxes, and that mask files exist;
        raise the first problem, naming the file."""
        for k, iid in enumerate(self.image_ids):
            wh = check_image_file(self.image_path(k), **self._ref(iid))
            self._check_size(iid, wh)
            if iid in self._boxes:
                self._checked_boxes(iid, wh)
            for rel, ln in self._masks.get(iid, []):
                if not (self.mask_root / rel).is_file():
                    raise MissingFileError(self.mask_root / rel, "mask file not found", ln, self._loc_file)
            ign, ln = self._ignore.get(iid, ("", 0))
            if ign and not (self.mask_root / ign).is_file():
                raise MissingFileError(self.mask_root / ign, "ignore mask file not found", ln, self._loc_file)
        self.validated = True

    def annotation_counts(self, indices: Sequence[int] | None = None) -> dict[str, int]:
        """``{"boxes": n}`` (CUB, ILSVRC) or ``{"masks": n}`` (OpenImages instance masks) of
        the items at ``indices`` (default all); empty when the split has no localization."""
        if self.localization_kind == "boxes":
            return super().annotation_counts(indices)
        ids = self.image_ids if indices is None else [self.image_ids[i] for i in indices]
        n = sum(len(self._masks.get(i, ())) for i in ids)
        return {"masks": n} if n else {}

    # -- items --------------------------------------------------------------------------------
    def __getitem__(self, index: int) -> dict[str, Any]:
        iid = self.image_ids[index]
        S = self.image_size
        x, wh = self._load_input(index)
        item: dict[str, Any] = {
            "inputs": x,
            "label": self._labels[iid],
            "orig_size": (wh[1], wh[0]),
            "image_id": iid,
            "path": str(self.image_path(index)),
        }
        if iid in self._boxes:
            item["boxes"] = scale_boxes(self._checked_boxes(iid, wh), wh, S)
            item["orig_boxes"] = torch.from_numpy(self._original_boxes(iid))
        if iid in self._masks:
            fg = np.zeros((S, S), dtype=bool)
            for rel, ln in self._masks[iid]:
                fg |= load_gray(self.mask_root / rel, S, nearest=True, what="mask",
                                referenced_from=self._loc_file, line=ln) > 0
            ign_rel, ln = self._ignore[iid]
            ignore = np.zeros((S, S), dtype=bool)
            if ign_rel:
                ignore = load_gray(self.mask_root / ign_rel, S, nearest=True, what="ignore mask",
                                   referenced_from=self._loc_file, line=ln) > 0
            ignore &= ~fg  # the ignore region never covers foreground (wsolevaluation)
            item["mask"] = torch.from_numpy(fg.astype(np.float32)).unsqueeze(0)
            item["ignore"] = torch.from_numpy(ignore.astype(np.float32)).unsqueeze(0)
        return self._flip_and_normalize(item)

    def __repr__(self) -> str:
        return (f"WSOLEvalDataset(dataset={self.dataset!r}, split={self.split!r}, n={len(self)}, "
                f"localization={self.localization_kind if self.has_localization else None})")
