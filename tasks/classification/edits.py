"""Edit provenance: which pixels a generative editor left unchanged.

An editing pipeline (ALIA, InstructPix2Pix, a procedural editor) writes edited copies of
training images. The mapping file ``edits.csv`` says which original each edited image comes
from::

    edited_path,original_path[,label]
    edits/landbird_0003_water.png,000.landbird/landbird_0003.png,0

* ``edited_path`` is relative to the folder holding ``edits.csv`` (or absolute);
* ``original_path`` is relative to the dataset folder (``data_root``; or absolute) and must be
  an image of the **train** split, so edits of test images can never leak into training;
* ``label`` (optional) is checked against the original's label; the edited copy always takes
  the original's label (an editor that changes the class is not an edit in this sense).

The mask of a pair (:func:`edit_mask`): the per-pixel difference magnitude
``||edited - original||_2`` over RGB in 0..255 units, clipped to 255 and rounded to integers,
thresholded with Otsu's method (:func:`otsu_threshold`, our own implementation over the
256-bin histogram); pixels at or below the threshold are **unedited** and form the label's
target mask (1 = the label owns the pixel). A pair whose largest difference is at most
``min_difference`` is taken as unedited (mask all ones): Otsu would otherwise split pure
re-encoding noise in two. The mask is computed at the input resolution, on both images
resized the same way.

:func:`adjust_mask_area` grows or shrinks a mask by a percentage of its area (the robustness
study of the paper used +-10 % and +-30 %); see its docstring for the exact definition.
"""
from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from pgg_zoo.data.errors import DatasetFormatError, MissingFileError
from pgg_zoo.vision.files import image_size, parse_int

from .data import ImageListDataset, _read_csv

__all__ = ["otsu_threshold", "difference_magnitude", "edit_mask", "adjust_mask_area",
           "read_edits_csv", "EditPair", "WithEdits", "share_subset", "EDITS_COLUMNS"]

EDITS_COLUMNS = ("edited_path", "original_path")


# -- masks ---------------------------------------------------------------------------------------
def otsu_threshold(values: np.ndarray) -> int:
    """Otsu's threshold of integer values in 0..255 (Otsu 1979).

    Over the 256-bin histogram, picks the ``t`` maximizing the between-class variance
    ``w0 w1 (mu0 - mu1)^2`` of the classes ``v <= t`` and ``v > t`` (the first ``t`` on ties,
    as OpenCV's ``THRESH_OTSU`` does), so the foreground is ``values > t``.

    Args:
        values: any shape, integers in 0..255 (uint8 or integral floats).

    Returns:
        ``t`` in 0..255; 0 when every value is the same (no split exists).
    """
    v = np.asarray(values)
    if v.size == 0:
        raise ValueError("otsu_threshold needs at least one value")
    vi = v.astype(np.int64).ravel()
    if vi.min() < 0 or vi.max() > 255 or not np.array_equal(vi, v.ravel()):
        raise ValueError("otsu_threshold expects integers in 0..255")
    hist = np.bincount(vi, minlength=256).astype(np.float64)
    p = hist / hist.sum()
    levels = np.arange(256, dtype=np.float64)
    w0 = np.cumsum(p)                # weight of class v <= t
    m0 = np.cumsum(p * levels)       # first moment of class v <= t
    mu_t = m0[-1]
    w1 = 1.0 - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        # (mu_t w0 - m0)^2 / (w0 w1) is w0 w1 (mu0 - mu1)^2 with one division less.
        sigma_b = (mu_t * w0 - m0) ** 2 / (w0 * w1)
    # Empty classes carry no split (OpenCV skips them the same way).
    sigma_b[(w0 < 1e-12) | (w1 < 1e-12)] = -1.0
    if sigma_b.max() <= 0:
        return 0
    return int(np.argmax(sigma_b))


def difference_magnitude(original: torch.Tensor | np.ndarray, edited: torch.Tensor | np.ndarray
                         ) -> np.ndarray:
    """uint8 (H, W): ``round(min(||edited - original||_2, 255))`` over channels.

    Args:
        original, edited: (3, H, W) in 0..255 units (tensors or arrays).
    """
    a = np.asarray(original, dtype=np.float64)
    b = np.asarray(edited, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"original {a.shape} and edited {b.shape} differ in shape")
    mag = np.sqrt(((b - a) ** 2).sum(axis=0))
    return np.rint(np.minimum(mag, 255.0)).astype(np.uint8)


def adjust_mask_area(mask: np.ndarray, percent: float) -> np.ndarray:
    """Grow (``percent > 0``) or shrink (``< 0``) a binary mask by ``percent`` % of its area.

    Definition: the result has exactly ``round(A0 * (1 + percent / 100))`` pixels (clipped to
    ``0 .. H*W``), where ``A0`` is the mask's area. Growing adds the outside pixels nearest
    (Euclidean) to the mask; shrinking removes the inside pixels nearest to the outside. This
    is morphological dilation / erosion with a disk of growing radius, stopped at the radius
    that reaches the target area; pixels at that last radius are taken in raster order, so the
    area is exact rather than the nearest disk step. Distances are measured to the other
    region within the image: the image border is not a boundary (a mask touching the border
    is not eroded from it). Masks that are empty or full are returned unchanged.

    Args:
        mask: bool (H, W).
        percent: relative change of the area, in percent (> -100).

    Returns:
        bool (H, W).
    """
    from scipy.ndimage import distance_transform_edt

    m = np.asarray(mask, dtype=bool)
    if percent <= -100:
        raise ValueError(f"percent must be > -100, got {percent}")
    a0, n = int(m.sum()), m.size
    if percent == 0 or a0 == 0 or a0 == n:
        return m.copy()
    target = int(min(max(round(a0 * (1.0 + percent / 100.0)), 0), n))
    flat = m.ravel().copy()
    if target > a0:
        dist = distance_transform_edt(~m).ravel()  # outside pixels: distance to the mask
        cand = np.flatnonzero(~flat)
        order = cand[np.argsort(dist[cand], kind="stable")]  # stable: raster order on ties
        flat[order[:target - a0]] = True
    elif target < a0:
        dist = distance_transform_edt(m).ravel()  # inside pixels: distance to the outside
        cand = np.flatnonzero(flat)
        order = cand[np.argsort(dist[cand], kind="stable")]
        flat[order[:a0 - target]] = False
    return flat.reshape(m.shape)


def edit_mask(original: torch.Tensor | np.ndarray, edited: torch.Tensor | np.ndarray, *,
              min_difference: int = 24, adjust_percent: float = 0.0) -> np.ndarray:
    """The unedited region of a pair: bool (H, W), True where the editor left the pixel.

    Args:
        original, edited: (3, H, W) in 0..255 units.
        min_difference: a pair whose largest difference magnitude is at most this is unedited
            (mask all ones).
        adjust_percent: grow/shrink the mask by this percentage of its area
            (:func:`adjust_mask_area`).
    """
    mag = difference_magnitude(original, edited)
    if int(mag.max()) <= min_difference:
        return np.ones(mag.shape, dtype=bool)
    mask = mag <= otsu_threshold(mag)
    return adjust_mask_area(mask, adjust_percent) if adjust_percent else mask


# -- the mapping file ----------------------------------------------------------------------------
class EditPair(tuple):
    """``(edited, original, label_or_None, line)`` of one edits.csv row."""

    __slots__ = ()

    def __new__(cls, edited: Path, original: Path, label: int | None, line: int) -> "EditPair":
        return super().__new__(cls, (edited, original, label, line))

    edited = property(lambda s: s[0])
    original = property(lambda s: s[1])
    label = property(lambda s: s[2])
    line = property(lambda s: s[3])


def read_edits_csv(path: str | PathLike[str], data_root: str | PathLike[str], *,
                   check_files: bool = True) -> list[EditPair]:
    """Parse ``edits.csv`` (module docstring) into pairs of absolute paths.

    With ``check_files`` every edited and original image must exist and both must have the
    same size (read from the headers); errors name the files and the CSV line.
    """
    path = Path(path)
    root = Path(data_root)
    header, rows = _read_csv(path, EDITS_COLUMNS)
    pairs = []
    for line, r in rows:
        if not r["edited_path"] or not r["original_path"]:
            raise DatasetFormatError(path, "edited_path and original_path must not be empty", line)
        edited = Path(r["edited_path"])
        edited = edited if edited.is_absolute() else path.parent / edited
        original = Path(r["original_path"])
        original = original if original.is_absolute() else root / original
        label = None
        if "label" in header and r["label"] != "":
            label = parse_int(r["label"], path, line, "label")
        if check_files:
            for what, f in (("edited image", edited), ("original image", original)):
                if not f.is_file():
                    raise MissingFileError(f, f"{what} not found", line, path)
            ref = {"referenced_from": path, "line": line}
            se, so = image_size(edited, **ref), image_size(original, **ref)
            if se != so:
                raise DatasetFormatError(
                    path, f"edited image {edited} is {se[0]}x{se[1]} but its original "
                    f"{original} is {so[0]}x{so[1]}; an edit must keep the image size", line)
        pairs.append(EditPair(edited, original, label, line))
    if not pairs:
        raise DatasetFormatError(path, "no rows")
    return pairs


def share_subset(labels: list[int], share: float, seed: int = 0) -> list[int]:
    """Indices of a fixed ``share`` of items, stratified by label, nested across shares.

    Within each label, the items are ordered by one permutation drawn from
    ``numpy.random.default_rng(seed)`` (the same for every run seed) and the first
    ``round(share * n_label)`` are kept, so the 10 % subset is inside the 30 % subset, which is
    inside 100 %. Returned in the original order.
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be in [0, 1], got {share}")
    y = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        keep += idx[rng.permutation(len(idx))][:int(round(share * len(idx)))].tolist()
    return sorted(keep)


class WithEdits(Dataset):
    """A training set followed by edited copies of some of its images, each with its edit mask.

    Items of the base set get ``edit_mask`` all ones (valid: the label owns the whole image);
    edited items (indices ``len(base)`` onwards) get the unedited region of their pair
    (:func:`edit_mask`), the original's label and group, and ``edited = True``.

    Args:
        base: the train split (or, with ``include_base=False``, any split whose edited copies
            are wanted on their own, such as held-out val edits for measuring leakage).
        edits_csv: the mapping file.
        data_root: the folder ``original_path`` is relative to.
        min_difference, adjust_percent: see :func:`edit_mask`.
        share: use this fraction of the mapping file's rows (:func:`share_subset`: stratified
            by label, nested across shares, the same rows for every run seed); 0 keeps none.
        include_base: False: only the edited copies (indices from 0).
        split: the name of ``base``'s split in error messages.

    Items: those of ``base`` plus ``edit_mask`` float32 (1, S, S) and ``edited`` bool.
    """

    def __init__(self, base: ImageListDataset, edits_csv: str | PathLike[str],
                 data_root: str | PathLike[str], *, min_difference: int = 24,
                 adjust_percent: float = 0.0, share: float = 1.0, include_base: bool = True,
                 split: str = "training") -> None:
        self.base = base
        self.edits_csv = Path(edits_csv)
        self.min_difference = int(min_difference)
        self.adjust_percent = float(adjust_percent)
        self.include_base = bool(include_base)
        self.share = float(share)
        self.pairs = read_edits_csv(self.edits_csv, data_root)
        index = {p.resolve(): k for k, p in enumerate(base.paths)}
        self.original_index = []
        for pair in self.pairs:
            k = index.get(pair.original.resolve())
            if k is None:
                why = (" (edits of other splits would leak them into training)"
                       if split == "training" else "")
                raise DatasetFormatError(
                    self.edits_csv, f"original {pair.original} is not an image of the {split} "
                    f"split{why}", pair.line)
            if pair.label is not None and pair.label != base.labels[k]:
                raise DatasetFormatError(
                    self.edits_csv, f"label {pair.label} differs from the original's label "
                    f"{base.labels[k]} ({pair.original})", pair.line)
            self.original_index.append(k)
        if self.share < 1.0:
            keep = share_subset([base.labels[k] for k in self.original_index], self.share)
            self.pairs = [self.pairs[i] for i in keep]
            self.original_index = [self.original_index[i] for i in keep]
        # Edited copies load through a view of the base list (same size, normalization, flips).
        self.edited = ImageListDataset(
            [p.edited for p in self.pairs], [base.labels[k] for k in self.original_index],
            base.classes, groups=[base.groups[k] for k in self.original_index],
            refs=[(self.edits_csv, p.line) for p in self.pairs],
            image_ids=[f"edit:{p.edited.name}" for p in self.pairs], image_size=base.image_size,
            normalize=base.normalize, hflip=base.hflip, num_groups=base.num_groups)

    @property
    def labels(self) -> list[int]:
        return (self.base.labels if self.include_base else []) + self.edited.labels

    @property
    def groups(self) -> list[int]:
        return (self.base.groups if self.include_base else []) + self.edited.groups

    def __len__(self) -> int:
        return (len(self.base) if self.include_base else 0) + len(self.pairs)

    def validate(self) -> None:
        """:meth:`ImageListDataset.validate` of the base split and of the edited copies."""
        if self.include_base:
            self.base.validate()
        self.edited.validate()
        self.validated = True

    def annotation_counts(self, indices: Sequence[int] | None = None) -> dict[str, int]:
        """The base split's counts (groups) and ``"edited copies"``, of the items at
        ``indices`` (default all)."""
        first = len(self.base) if self.include_base else 0
        idx = range(len(self)) if indices is None else indices
        base = [i for i in idx if i < first]
        out = self.base.annotation_counts(base) if self.include_base else {}
        return {**out, "edited copies": sum(1 for i in idx if i >= first)}

    def mask_of(self, j: int, edited: torch.Tensor | None = None) -> np.ndarray:
        """bool (S, S): the unedited region of edit pair ``j`` at the input resolution.

        ``edited``: the pair's edited image (3, S, S) in 0..255 units, if already loaded.
        """
        original = self.base.load_uint8_scale(self.original_index[j]).numpy()
        if edited is None:
            edited = self.edited.load_uint8_scale(j)
        return edit_mask(original, edited.numpy(), min_difference=self.min_difference,
                         adjust_percent=self.adjust_percent)

    def __getitem__(self, index: int) -> dict[str, Any]:
        n = len(self.base) if self.include_base else 0
        if not 0 <= index < len(self):
            raise IndexError(index)
        ds, j = (self.base, index) if index < n else (self.edited, index - n)
        item: dict[str, Any] = {"label": ds.labels[j], "group": ds.groups[j],
                                "image_id": ds.image_ids[j], "path": str(ds.paths[j]),
                                "edited": index >= n}
        x = ds.load_uint8_scale(j)
        if index < n:
            item["edit_mask"] = torch.ones(1, *x.shape[1:])
        else:
            item["edit_mask"] = torch.from_numpy(self.mask_of(j, x)).float()[None]
        return ds.finish(x, item, masks=("edit_mask",))
