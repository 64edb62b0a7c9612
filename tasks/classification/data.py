"""Classification datasets: torchvision ImageFolder, the Waterbirds metadata-CSV layout and
CUB-200-2011 (through the shared :class:`~pgg_zoo.vision.cub.CUBDataset`).

Every reader produces the same :class:`ImageListDataset` (a list of image files with labels and,
where the layout has them, groups), so edited copies (:mod:`.edits`), the task and the metrics
see one item format. Bad input raises the shared readers' errors (``DatasetFormatError`` /
``MissingFileError``), which name the file and the 1-based line.
"""
from __future__ import annotations

import csv
from os import PathLike
from pathlib import Path
from typing import Any, Sequence

import torch
from torch.utils.data import Dataset

from pgg_zoo.data.errors import DatasetFormatError, MissingFileError, utf8_text
from pgg_zoo.vision.files import (IMAGENET_MEAN, IMAGENET_STD, check_image_file, load_rgb,
                                  normalize_, open_image, parse_int, want_flip)

__all__ = [
    "ImageListDataset", "image_folder", "metadata_csv", "cub_classification", "detect_layout",
    "open_split", "IMAGE_EXTENSIONS", "WATERBIRDS_SPLITS", "WATERBIRDS_COLUMNS", "LAYOUTS",
]

#: File suffixes ImageFolder accepts (torchvision's IMG_EXTENSIONS, lower case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
#: The ``split`` column of Waterbirds' metadata.csv.
WATERBIRDS_SPLITS = {"train": 0, "val": 1, "test": 2}
#: Columns the metadata-CSV reader needs (the real file also has ``place_filename``).
WATERBIRDS_COLUMNS = ("img_id", "img_filename", "y", "split", "place")
LAYOUTS = ("imagefolder", "metadata_csv", "cub")


class ImageListDataset(Dataset):
    """Images listed with their labels (and groups); every reader returns one.

    Args:
        paths: image files.
        labels: 0-based class per image.
        classes: class names (label k is ``classes[k]``).
        groups: group per image (``-1`` when the layout has none).
        refs: per image ``(listing_file, line)`` to name in errors (line may be None).
        image_size: S; images are resized (no crop) to S x S.
        normalize: ImageNet mean/std normalization.
        hflip: probability of a horizontal flip.
        num_groups: number of groups of the layout (0 when none).

    Items: ``inputs`` float32 (3, S, S); ``label`` int; ``group`` int; ``image_id`` str;
    ``path`` str.
    """

    def __init__(self, paths: Sequence[Path], labels: Sequence[int], classes: Sequence[str], *,
                 groups: Sequence[int] | None = None,
                 refs: Sequence[tuple[Path, int | None]] | None = None,
                 image_ids: Sequence[str] | None = None, image_size: int = 224,
                 normalize: bool = True, hflip: float = 0.0, num_groups: int = 0) -> None:
        if int(image_size) <= 0:
            raise ValueError(f"image_size must be positive, got {image_size!r}")
        self.paths = [Path(p) for p in paths]
        self.labels = [int(y) for y in labels]
        self.classes = list(classes)
        self.groups = [int(g) for g in groups] if groups is not None else [-1] * len(self.paths)
        self.refs = list(refs) if refs is not None else [(p, None) for p in self.paths]
        self.image_ids = list(image_ids) if image_ids is not None else [p.stem for p in self.paths]
        self.image_size = int(image_size)
        self.normalize = bool(normalize)
        self.hflip = float(hflip)
        self.num_groups = int(num_groups)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.paths)

    def load_uint8_scale(self, index: int) -> torch.Tensor:
        """Item ``index``'s image as float32 (3, S, S) in 0..255 units, before normalization."""
        ref, line = self.refs[index]
        path = self.paths[index]
        with open_image(path, referenced_from=ref, line=line) as im:
            try:
                return load_rgb(im, self.image_size).mul_(255.0)
            except OSError as e:  # the header was fine, the pixels are not (truncated file)
                raise DatasetFormatError(path, f"cannot decode image: {e}") from None

    def finish(self, x: torch.Tensor, item: dict[str, Any], masks: Sequence[str] = ()) -> dict:
        """Flip (with the listed mask keys) and normalize ``x`` (0..255 units) into ``item``."""
        x = x.div(255.0)
        if want_flip(self.hflip):
            x = x.flip(-1)
            for k in masks:
                item[k] = item[k].flip(-1)
        if self.normalize:
            normalize_(x, IMAGENET_MEAN, IMAGENET_STD)
        item["inputs"] = x
        return item

    def validate(self) -> None:
        """Check that every image exists and is a whole image (header and file end, no pixel
        decoded: :func:`~pgg_zoo.vision.files.check_image_file`); raise the first problem,
        naming the file and the metadata line that lists it."""
        for path, (ref, line) in zip(self.paths, self.refs):
            check_image_file(path, referenced_from=ref if line is not None else None, line=line)
        self.validated = True

    def annotation_counts(self, indices: Sequence[int] | None = None) -> dict[str, int]:
        """``{"groups": n}``: the groups present among the items at ``indices`` (default all);
        empty when the layout has no groups."""
        if not self.num_groups:
            return {}
        groups = self.groups if indices is None else [self.groups[i] for i in indices]
        return {"groups": len({g for g in groups if g >= 0})}

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = {"label": self.labels[index], "group": self.groups[index],
                "image_id": self.image_ids[index], "path": str(self.paths[index])}
        return self.finish(self.load_uint8_scale(index), item)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n={len(self)}, classes={self.num_classes}, "
                f"groups={self.num_groups}, image_size={self.image_size})")


# -- layouts -------------------------------------------------------------------------------------
def image_folder(root: str | PathLike[str], split: str, **kw: Any) -> ImageListDataset:
    """torchvision ImageFolder layout: ``root/<split>/<class>/<image>``.

    Classes are the sorted sub-folders of ``root/train`` (torchvision's convention), so every
    split uses the same label ids; ``split="test"`` falls back to ``root/val`` when there is no
    ``root/test`` (ImageNet-style layouts). No groups.
    """
    root = Path(root)
    train_dir = root / "train"
    if not train_dir.is_dir():
        raise MissingFileError(train_dir, "ImageFolder layout needs a train/ folder of class folders")
    classes = sorted(d.name for d in train_dir.iterdir() if d.is_dir())
    if not classes:
        raise DatasetFormatError(train_dir, "no class folders found")
    split_dir = root / split
    if split == "test" and not split_dir.is_dir() and (root / "val").is_dir():
        split_dir = root / "val"
    if not split_dir.is_dir():
        raise MissingFileError(split_dir, f"no folder for split {split!r}")
    paths, labels = [], []
    for d in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        if d.name not in classes:
            raise DatasetFormatError(d, f"class folder {d.name!r} is not in {train_dir}")
        files = sorted(f for f in d.rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS)
        paths += files
        labels += [classes.index(d.name)] * len(files)
    if not paths:
        raise DatasetFormatError(split_dir, f"no images with suffixes {IMAGE_EXTENSIONS}")
    ids = [p.relative_to(split_dir).as_posix() for p in paths]
    return ImageListDataset(paths, labels, classes, image_ids=ids, **kw)


def _read_csv(path: Path, required: Sequence[str]) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """``(header, [(line, row), ...])`` of a CSV file with a header line.

    Raises :class:`DatasetFormatError` naming the file (and line) for a missing column or a row
    with the wrong number of fields.
    """
    if not path.is_file():
        raise MissingFileError(path, "required CSV file not found")
    rows = []
    with utf8_text(path), open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header is None:
                raise DatasetFormatError(path, "empty file (expected a header line)")
            header = [h.strip() for h in header]
            missing = [c for c in required if c not in header]
            if missing:
                raise DatasetFormatError(path, f"header lacks column(s) {missing}; found {header}", 1)
            for fields in reader:
                line = reader.line_num
                if not fields or all(not x.strip() for x in fields):
                    continue
                if len(fields) != len(header):
                    raise DatasetFormatError(
                        path, f"expected {len(header)} fields ({','.join(header)}), found "
                        f"{len(fields)}: {','.join(fields)!r}", line)
                rows.append((line, {h: v.strip() for h, v in zip(header, fields)}))
        except csv.Error as e:  # a NUL byte, an unterminated quote at the end of the file
            raise DatasetFormatError(path, f"not a readable CSV file ({e})",
                                     reader.line_num or None) from None
    return header, rows


def metadata_csv(root: str | PathLike[str], split: str, *, metadata: str = "metadata.csv",
                 n_places: int | None = None, class_names: Sequence[str] | None = None,
                 **kw: Any) -> ImageListDataset:
    """The Waterbirds metadata-CSV layout (Sagawa et al. 2020; also WILDS).

    ``root/metadata.csv`` with at least the columns ``img_id, img_filename, y, split, place``
    (the real file also has ``place_filename``; extra columns are ignored). ``img_filename`` is
    relative to ``root``; ``split`` is 0 train, 1 val, 2 test; ``y`` the class, ``place`` the
    background. Groups are ``y * n_places + place`` (``n_places`` default: max place + 1 over
    the whole file, 2 for Waterbirds), as in the group-DRO code.

    Raises :class:`DatasetFormatError` naming file and line for malformed rows and
    :class:`MissingFileError` naming the image and the CSV line for missing images.
    """
    root = Path(root)
    if split not in WATERBIRDS_SPLITS:
        raise ValueError(f"split must be one of {sorted(WATERBIRDS_SPLITS)}, got {split!r}")
    path = root / metadata
    _, rows = _read_csv(path, WATERBIRDS_COLUMNS)
    if not rows:
        raise DatasetFormatError(path, "no rows")
    parsed = []
    seen: dict[str, int] = {}
    for line, r in rows:
        y = parse_int(r["y"], path, line, "y")
        s = parse_int(r["split"], path, line, "split")
        place = parse_int(r["place"], path, line, "place")
        if y < 0 or place < 0:
            raise DatasetFormatError(path, f"y and place must be >= 0, found y={y} place={place}", line)
        if s not in WATERBIRDS_SPLITS.values():
            raise DatasetFormatError(path, f"split must be 0 (train), 1 (val) or 2 (test), found {s}", line)
        if r["img_id"] in seen:
            raise DatasetFormatError(path, f"img_id {r['img_id']} already on line {seen[r['img_id']]}", line)
        seen[r["img_id"]] = line
        rel = Path(r["img_filename"])
        if not r["img_filename"] or rel.is_absolute() or ".." in rel.parts:
            raise DatasetFormatError(path, f"img_filename must be relative to {root}: {r['img_filename']!r}", line)
        parsed.append((line, r["img_id"], rel, y, s, place))
    n_classes = max(p[3] for p in parsed) + 1
    places = int(n_places) if n_places is not None else max(p[5] for p in parsed) + 1
    for line, *_rest, place in parsed:
        if place >= places:
            raise DatasetFormatError(path, f"place {place} >= n_places {places}", line)
    want = WATERBIRDS_SPLITS[split]
    keep = [p for p in parsed if p[4] == want]
    if not keep:
        raise DatasetFormatError(path, f"no rows with split={want} ({split})")
    for line, _iid, rel, *_ in keep:  # existence only (a stat per file); pixels load lazily
        if not (root / rel).is_file():
            raise MissingFileError(root / rel, "image file not found", line, path)
    classes = list(class_names) if class_names is not None else [f"y{k}" for k in range(n_classes)]
    return ImageListDataset(
        [root / p[2] for p in keep], [p[3] for p in keep], classes,
        groups=[p[3] * places + p[5] for p in keep], refs=[(path, p[0]) for p in keep],
        image_ids=[p[1] for p in keep], num_groups=n_classes * places, **kw)


def cub_classification(root: str | PathLike[str], split: str, **kw: Any) -> ImageListDataset:
    """CUB-200-2011 in its own layout (``images.txt`` ...), read by the WSOL CUB reader (which
    validates every metadata file); boxes are not used. Splits ``train`` / ``test``."""
    from pgg_zoo.vision.cub import CUBDataset

    cub = CUBDataset(root, split=split, image_size=int(kw.get("image_size", 224)))
    n = len(cub)
    refs = [(Path(root) / "images.txt", cub._image_line[i]) for i in cub.image_ids]
    for k in range(n):
        if not cub.image_path(k).is_file():
            raise MissingFileError(cub.image_path(k), "image file not found", refs[k][1], refs[k][0])
    return ImageListDataset([cub.image_path(k) for k in range(n)], cub.labels, cub.classes,
                            refs=refs, image_ids=list(cub.image_ids), **kw)


def detect_layout(root: str | PathLike[str]) -> str:
    """``"metadata_csv"`` if ``root/metadata.csv`` exists, ``"cub"`` if ``root/images.txt``
    does, ``"imagefolder"`` if ``root/train`` is a folder; otherwise an error."""
    root = Path(root)
    if (root / "metadata.csv").is_file():
        return "metadata_csv"
    if (root / "images.txt").is_file():
        return "cub"
    if (root / "train").is_dir():
        return "imagefolder"
    raise DatasetFormatError(root, "cannot tell the layout: no metadata.csv (Waterbirds), no "
                             "images.txt (CUB-200-2011) and no train/ folder (ImageFolder)")


def open_split(root: str | PathLike[str], split: str, layout: str = "auto", **kw: Any
               ) -> ImageListDataset:
    """The dataset of ``split`` in ``root`` for ``layout`` (``"auto"``: :func:`detect_layout`)."""
    layout = detect_layout(root) if layout in (None, "auto") else layout
    readers = {"imagefolder": image_folder, "metadata_csv": metadata_csv, "cub": cub_classification}
    if layout not in readers:
        raise ValueError(f"unknown layout {layout!r}; choose from {LAYOUTS} or 'auto'")
    return readers[layout](root, split, **kw)
