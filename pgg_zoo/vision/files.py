"""Image-dataset file helpers: line parsing with located errors, image and mask loading,
resizing, normalization, flipping and batching.

Nothing here knows a particular dataset layout (CUB's is in :mod:`.cub`, the plugins' own in
their readers). Every image plugin reads its folders with these helpers, so their errors name
file and line the same way.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..data.errors import DatasetFormatError, MissingFileError, utf8_text

#: ImageNet statistics used by torchvision/timm backbones and by wsolevaluation's loaders.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


# -- text files -------------------------------------------------------------------------------
def read_records(
    path: Path, nfields: int | Sequence[int], sep: str | None = None, *, maxsplit: int = -1
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, fields)`` for every non-blank line of a metadata file.

    ``sep=None`` splits on runs of whitespace (CUB's files), ``","`` on commas (wsolevaluation).
    A line with a field count not in ``nfields`` raises :class:`DatasetFormatError` naming the
    file and the 1-based line; a missing file raises :class:`MissingFileError`, bytes that are
    not UTF-8 a :class:`DatasetFormatError` naming the line.
    """
    counts = (nfields,) if isinstance(nfields, int) else tuple(nfields)
    if not path.is_file():
        raise MissingFileError(path, "required metadata file not found")
    # utf-8-sig: tolerate a byte-order mark written by some editors on Windows.
    with utf8_text(path), open(path, encoding="utf-8-sig") as f:
        for lineno, raw in enumerate(f, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue  # blank lines (typically a trailing one) carry nothing
            fields = line.strip().split(sep, maxsplit) if sep is None else line.split(sep, maxsplit)
            if len(fields) not in counts:
                want = " or ".join(str(c) for c in counts)
                raise DatasetFormatError(
                    path, f"expected {want} fields, found {len(fields)}: {line!r}", lineno)
            yield lineno, fields


def parse_int(text: str, path: Path, lineno: int, name: str) -> int:
    """``int(text)`` or a :class:`DatasetFormatError` saying which field of which line."""
    try:
        return int(text)
    except ValueError:
        raise DatasetFormatError(path, f"{name} is not an integer: {text!r}", lineno) from None


def parse_float(text: str, path: Path, lineno: int, name: str) -> float:
    """``float(text)`` (finite) or a :class:`DatasetFormatError` naming field and line."""
    try:
        value = float(text)
    except ValueError:
        raise DatasetFormatError(path, f"{name} is not a number: {text!r}", lineno) from None
    if not np.isfinite(value):
        raise DatasetFormatError(path, f"{name} is not finite: {text!r}", lineno)
    return value


# -- images -----------------------------------------------------------------------------------
def open_image(path: Path, *, referenced_from: Path | None = None, line: int | None = None
               ) -> Image.Image:
    """Open an image lazily (PIL reads only the header until pixels are needed)."""
    try:
        return Image.open(path)
    except FileNotFoundError:
        raise MissingFileError(path, "image file not found", line, referenced_from) from None
    except (UnidentifiedImageError, OSError) as e:
        raise DatasetFormatError(path, f"cannot read image: {e}") from None


#: The bytes that end a complete file of each format (searched for in the file's tail).
_END_MARKERS = {"JPEG": (b"\xff\xd9", "end-of-image marker"), "PNG": (b"IEND", "IEND chunk")}


def check_image_file(path: Path, *, referenced_from: Path | None = None,
                     line: int | None = None) -> tuple[int, int]:
    """``(width, height)`` of an image, after a cheap check that the file is a whole image.

    Reads the header (PIL) and the last 4 KiB, no pixels: a missing file, a file that is not an
    image, and a JPEG or PNG cut short (no end-of-image marker / ``IEND`` chunk in its tail, the
    usual damage of an interrupted copy or download) raise an error naming the file. A file
    whose tail lacks the marker for another reason (data appended after the image) is decoded
    once to make sure before it is refused. Damage inside the compressed data of a complete
    file is found only when its pixels are decoded.
    """
    with open_image(path, referenced_from=referenced_from, line=line) as im:
        size, fmt = im.size, im.format
    end = _END_MARKERS.get(fmt or "")
    if end is None:
        return size
    with open(path, "rb") as f:
        f.seek(0, 2)
        n = f.tell()
        f.seek(max(0, n - 4096))
        tail = f.read()
    if end[0] not in tail:
        with open_image(path, referenced_from=referenced_from, line=line) as im:
            try:
                im.load()
            except (OSError, SyntaxError) as e:
                raise DatasetFormatError(path, f"truncated {fmt} file ({n} bytes, no {end[1]}): "
                                         f"cannot decode image: {e}") from None
    return size


def image_size(path: Path, **ref: Any) -> tuple[int, int]:
    """``(width, height)`` of an image from its header only (no pixel decoding)."""
    with open_image(path, **ref) as im:
        return im.size


def load_rgb(img: Image.Image, size: int) -> torch.Tensor:
    """PIL image -> float tensor (3, size, size) in [0, 1].

    A plain resize to a square (no crop, aspect ratio not kept), so a box scales exactly by
    (size / W, size / H). Bilinear with PIL's antialiasing, as torchvision's ``Resize`` on PIL
    images does; no resampling at all when the image already has that size.
    """
    img = img.convert("RGB")
    if img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


def load_gray(path: Path, size: int, *, nearest: bool, what: str = "mask",
              referenced_from: Path | None = None, line: int | None = None) -> np.ndarray:
    """Read a single-channel PNG (masks) as float32 (size, size) with the original 0..255 values.

    ``nearest=True`` resizes with nearest neighbour (wsolevaluation's choice for OpenImages
    masks); otherwise bilinear, which keeps CUB's soft (averaged) segmentations soft.
    """
    try:
        im = Image.open(path)
    except FileNotFoundError:
        raise MissingFileError(path, f"{what} file not found", line, referenced_from) from None
    except (UnidentifiedImageError, OSError) as e:
        raise DatasetFormatError(path, f"cannot read {what}: {e}") from None
    with im:
        im = im.convert("L")
        if im.size != (size, size):
            im = im.resize((size, size), Image.NEAREST if nearest else Image.BILINEAR)
        return np.asarray(im, dtype=np.float32)


def normalize_(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """In-place per-channel ``(x - mean) / std`` of a (3, H, W) tensor."""
    m = torch.as_tensor(mean, dtype=x.dtype).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype).view(-1, 1, 1)
    return x.sub_(m).div_(s)


def scale_boxes(boxes: np.ndarray, orig_wh: tuple[int, int], size: int) -> torch.Tensor:
    """Scale (n, 4) x0,y0,x1,y1 boxes from the original W x H frame to size x size (float32)."""
    w, h = orig_wh
    out = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
    out[:, [0, 2]] *= size / w
    out[:, [1, 3]] *= size / h
    return torch.from_numpy(out.astype(np.float32))


def flip_boxes(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Horizontally flip (n, 4) x0,y0,x1,y1 boxes in a frame ``size`` wide.

    With x1 exclusive (a box covers pixels x0 .. x1-1), pixel i maps to size-1-i, so the
    flipped box is [size - x1, size - x0): exact, no off-by-one.
    """
    out = boxes.clone()
    out[:, 0] = size - boxes[:, 2]
    out[:, 2] = size - boxes[:, 0]
    return out


def want_flip(p: float) -> bool:
    """Bernoulli(p) from torch's global generator.

    The DataLoader seeds torch's global generator differently in every worker (base_seed +
    worker_id), so flips are reproducible under ``torch.manual_seed`` and not repeated across
    workers, which a numpy or ``random`` draw here would be.
    """
    return p > 0 and bool(torch.rand(()) < p)
