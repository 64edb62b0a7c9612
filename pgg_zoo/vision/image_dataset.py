"""What the image readers share whose items are one image resized to S x S with its boxes and
masks: CUB-200-2011 in its own layout (:class:`~pgg_zoo.vision.cub.CUBDataset`) and the WSOL
plugin's reader of wsolevaluation metadata. The readers differ in how they parse their metadata
and name its errors; the options, the box check against the image and the steps of an item are
held here once so that both formats produce the same items.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .files import flip_boxes, load_rgb, normalize_, open_image, want_flip
from ..data.errors import DatasetFormatError

__all__ = ["ResizedImageDataset"]

#: One annotated box: x0, y0, x1, y1 in the original image frame and its metadata line.
BoxRecord = tuple[float, float, float, float, int]


class ResizedImageDataset(Dataset):
    """Base of readers whose items are an image resized (no crop) to S x S, its boxes and masks.

    A subclass calls :meth:`_set_item_options` from its constructor, fills ``image_ids``,
    ``_labels`` (image id -> label) and ``_boxes`` (image id -> :data:`BoxRecord` list) while
    parsing, and defines :meth:`image_path`, :meth:`_ref` and :meth:`_box_outside`. Its
    ``__getitem__`` builds the item from :meth:`_load_input`, :meth:`_checked_boxes` and
    :meth:`_original_boxes`, then hands it to :meth:`_flip_and_normalize`.
    """

    image_ids: list[str]
    _labels: dict[str, int]
    _boxes: dict[str, list[BoxRecord]]

    def _set_item_options(self, image_size: int, normalize: bool, hflip: float | bool,
                          box_tolerance: float, mean: Sequence[float],
                          std: Sequence[float]) -> None:
        self.image_size = int(image_size)
        self.normalize = bool(normalize)
        self.hflip = 0.5 if hflip is True else float(hflip)
        self.box_tolerance = float(box_tolerance)
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)

    # -- what a subclass defines ----------------------------------------------------------------
    def image_path(self, index: int) -> Path:
        raise NotImplementedError

    def _ref(self, iid: str) -> dict[str, Any]:
        """``referenced_from`` and ``line`` naming where the metadata lists image ``iid``."""
        raise NotImplementedError

    def _box_outside(self, iid: str, box: tuple[float, float, float, float],
                     wh: tuple[int, int], line: int) -> DatasetFormatError:
        """The error for ``box`` of ``iid`` (metadata ``line``) leaving the w x h image ``wh``."""
        raise NotImplementedError

    def _check_size(self, iid: str, wh: tuple[int, int]) -> None:
        """Checks of the image's real (w, h) against the metadata, run before decoding."""

    # -- shared -------------------------------------------------------------------------------
    @property
    def labels(self) -> list[int]:
        """0-based labels of this split's images, in item order."""
        return [self._labels[i] for i in self.image_ids]

    def __len__(self) -> int:
        return len(self.image_ids)

    def annotation_counts(self, indices: Sequence[int] | None = None) -> dict[str, int]:
        """``{"boxes": n}``: the annotated boxes of the items at ``indices`` (default all);
        empty when the split has no boxes (:func:`pgg_zoo.data.check.summarize_dataset`)."""
        ids = self.image_ids if indices is None else [self.image_ids[i] for i in indices]
        n = sum(len(self._boxes.get(i, ())) for i in ids)
        return {"boxes": n} if n else {}

    def _original_boxes(self, iid: str) -> np.ndarray:
        """Boxes of ``iid``, float64 (n, 4) x0, y0, x1, y1 in the original frame, unclipped."""
        return np.array([b[:4] for b in self._boxes[iid]], dtype=np.float64)

    def _checked_boxes(self, iid: str, wh: tuple[int, int]) -> np.ndarray:
        """Boxes of ``iid``, float64 (n, 4), clipped to the w x h image ``wh`` after checking that
        each lies inside it up to ``box_tolerance`` (annotation rounding)."""
        w, h = wh
        tol = self.box_tolerance
        out = []
        for x0, y0, x1, y1, ln in self._boxes[iid]:
            if x1 > w + tol or y1 > h + tol or x0 >= w or y0 >= h:
                raise self._box_outside(iid, (x0, y0, x1, y1), wh, ln)
            out.append((max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h))))
        return np.asarray(out, dtype=np.float64).reshape(-1, 4)

    def _load_input(self, index: int) -> tuple[torch.Tensor, tuple[int, int]]:
        """Item ``index``'s image as float32 (3, S, S) in [0, 1] and its original (w, h).

        :meth:`_check_size` runs between the header and the pixels, so a metadata mismatch is
        reported as such even when the pixels are broken too."""
        iid = self.image_ids[index]
        path = self.image_path(index)
        with open_image(path, **self._ref(iid)) as im:
            wh = im.size
            self._check_size(iid, wh)
            try:
                x = load_rgb(im, self.image_size)
            except OSError as e:  # truncated file: the header was fine, the pixels are not
                raise DatasetFormatError(path, f"cannot decode image: {e}") from None
        return x, wh

    def _flip_and_normalize(self, item: dict[str, Any]) -> dict[str, Any]:
        """Random horizontal flip of ``item`` (``inputs`` (3, S, S), ``boxes`` (n, 4) in the S x S
        frame, ``orig_boxes`` (n, 4) in the (h, w) = ``orig_size`` frame, ``mask`` and ``ignore``
        (1, S, S), those present), then normalization of ``inputs``; in place, returned."""
        if want_flip(self.hflip):
            item["inputs"] = item["inputs"].flip(-1)
            if "boxes" in item:
                item["boxes"] = flip_boxes(item["boxes"], self.image_size)
                item["orig_boxes"] = flip_boxes(item["orig_boxes"], item["orig_size"][1])
            for key in ("mask", "ignore"):
                if key in item:
                    item[key] = item[key].flip(-1)
        if self.normalize:
            normalize_(item["inputs"], self.mean, self.std)
        return item
