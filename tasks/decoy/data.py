"""The decoy-digits benchmark: writer and reader.

Design (fixed before any number was looked at; docs/decoy.md):

* Digits: scikit-learn's 1797 handwritten 8x8 digits (UCI), upsampled bilinearly to 24x24 and
  centred on a 28x28 black canvas (the MNIST frame RRR used). A fixed shuffle (seed 0) gives
  1000 train, 300 val and 497 test images.
* Decoy: a 4x4 swatch. Its shade encodes the class in training (``255 - 25 y``, RRR's rule)
  and is one of those ten shades drawn at random, independent of the class, in val and test.
  ``corner``: the swatch sits in one of the four corners, uniformly; ``anywhere``: at a uniform
  position among those whose 4x4 window is background (digit intensity below 16 of 255 in all
  16 pixels), so it moves from image to image and a random other image's mask does not cover it.
* Clean ceiling: the same train images without the swatch (``train_clean``).

On disk (one folder per variant, ``decoy-digits-<variant>-v1``): ImageFolder trees
``{train,train_clean,val,test}/<class>/<id>.png`` (8-bit grayscale) and ``decoys.csv`` with
``path,x0,y0,x1,y1,shade`` (end-exclusive pixel box of the swatch; ``path`` relative to the
folder). Every image of train/val/test has exactly one row; train_clean has none. The reader's
provenance mask is 1 outside the swatch (the label owns the digit and its background).
"""
from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from pgg_zoo.benchmarks import ParamsSpec
from pgg_zoo.data import benchmark_home, ensure_generated
from pgg_zoo.data.errors import utf8_text

__all__ = ["SPEC", "VARIANTS", "SPLITS", "benchmark_root", "write_benchmark", "DecoyDigits",
           "DecoyFormatError", "DigitsSpec", "RELEASED", "benchmark_name"]

VARIANTS = ("corner", "anywhere")
#: Classes of the data: the class folders are the digits 0..9.
NUM_CLASSES = 10
SPLITS = ("train", "train_clean", "val", "test")
SPEC: dict[str, Any] = {
    "source": "sklearn.datasets.load_digits (UCI optical digits, 8x8, 0..16)",
    "canvas": 28, "digit_side": 24, "swatch": 4,
    "sizes": {"train": 1000, "val": 300, "test": 497},
    "train_shade": "255 - 25 * y", "eval_shade": "255 - 25 * u, u uniform in 0..9",
    "background_max": 15,
}


class DecoyFormatError(ValueError):
    """A malformed decoys.csv or image folder; the message names the file (and line)."""


def benchmark_name(variant: str) -> str:
    """The released name of a variant's benchmark: ``decoy-digits-<variant>-v1``."""
    if variant not in VARIANTS:
        raise ValueError(f"decoy variant must be one of {VARIANTS}, got {variant!r}")
    return f"decoy-digits-{variant}-v1"


def benchmark_root(variant: str) -> Path:
    """``$PGG_ZOO_HOME/benchmarks/decoy-digits-<variant>-v1``."""
    return benchmark_home() / benchmark_name(variant)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """(N, 28, 28) uint8 digits on the canvas and their (N,) labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise RuntimeError("the decoy benchmark is drawn from scikit-learn's digits: "
                           "pip install scikit-learn") from exc
    d = load_digits()
    side, canvas = SPEC["digit_side"], SPEC["canvas"]
    off = (canvas - side) // 2
    out = np.zeros((len(d.images), canvas, canvas), dtype=np.uint8)
    for i, img in enumerate(d.images):
        small = Image.fromarray((img * (255.0 / 16.0)).round().astype(np.uint8), "L")
        out[i, off:off + side, off:off + side] = np.asarray(
            small.resize((side, side), Image.BILINEAR))
    return out, d.target.astype(np.int64)


def _swatch_position(rng: np.random.Generator, digit: np.ndarray, variant: str) -> tuple[int, int]:
    c, s = SPEC["canvas"], SPEC["swatch"]
    if variant == "corner":
        k = int(rng.integers(4))
        return (0 if k < 2 else c - s), (0 if k % 2 == 0 else c - s)
    # Max over each 4x4 window: a window is free when all its pixels are background.
    win = np.lib.stride_tricks.sliding_window_view(digit, (s, s)).max(axis=(2, 3))
    free = np.argwhere(win <= SPEC["background_max"])
    y, x = free[int(rng.integers(len(free)))]
    return int(y), int(x)


def write_benchmark(folder: Path, variant: str, seed: int = 0) -> None:
    """Write variant ``variant`` of the benchmark into ``folder`` (module docstring)."""
    digits, labels = _digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits))
    sizes = SPEC["sizes"]
    bounds = {"train": (0, sizes["train"]),
              "val": (sizes["train"], sizes["train"] + sizes["val"]),
              "test": (sizes["train"] + sizes["val"], len(digits))}
    s = SPEC["swatch"]
    rows = []
    for split, (a, b) in bounds.items():
        for idx in order[a:b]:
            y = int(labels[idx])
            img = digits[idx].copy()
            rel = f"{y}/{idx:04d}.png"
            if split == "train":
                _save(folder / "train_clean" / rel, img)
                shade = 255 - 25 * y
            else:
                shade = 255 - 25 * int(rng.integers(10))
            py, px = _swatch_position(rng, img, variant)
            img[py:py + s, px:px + s] = shade
            _save(folder / split / rel, img)
            rows.append([f"{split}/{rel}", px, py, px + s, py + s, shade])
    with open(folder / "decoys.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["path", "x0", "y0", "x1", "y1", "shade"])
        w.writerows(rows)


def _save(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img, "L").save(path, format="PNG")


def ensure_benchmark(variant: str, root: str | PathLike[str] | None = None, seed: int = 0) -> Path:
    """The variant's folder (default :func:`benchmark_root`), written on first use (~3 s)."""
    benchmark_name(variant)  # a clear error for an unknown variant
    spec = dataclasses.replace(RELEASED[variant], seed=seed)
    return spec.ensure(root if root is not None else benchmark_root(variant))


@dataclass(frozen=True, kw_only=True)
class DigitsSpec(ParamsSpec):
    """A decoy-digits benchmark: its ``params`` are :data:`SPEC` plus the ``variant``."""

    task: str = "decoy"
    seed: int = 0

    def ensure(self, root: str | PathLike[str] | None = None) -> Path:
        """The benchmark folder (default :meth:`default_root`), written on first use."""
        root = Path(root) if root is not None else self.default_root()
        params = dict(self.design())
        params.pop("name")
        return ensure_generated(root, self.name, params, self.seed,
                                lambda folder: write_benchmark(folder, params["variant"],
                                                               self.seed))


#: The released specs, by variant (registered by the decoy plugin under their names, so no
#: other design can take them).
RELEASED = {v: DigitsSpec(name=benchmark_name(v), params={**SPEC, "variant": v})
            for v in VARIANTS}


def read_decoys(path: Path) -> dict[str, tuple[int, int, int, int]]:
    """``{relative image path: (x0, y0, x1, y1)}`` from ``decoys.csv``."""
    if not path.is_file():
        raise DecoyFormatError(f"{path}: decoys.csv not found")
    try:
        with utf8_text(path, _format_error), open(path, newline="", encoding="utf-8") as f:
            return _parse_decoys(path, csv.reader(f))
    except csv.Error as e:  # a NUL byte, an unterminated quote
        raise DecoyFormatError(f"{path}: not a readable CSV file ({e})") from None


def _format_error(path: Path, what: str, line: int) -> DecoyFormatError:
    return DecoyFormatError(f"{path}, line {line}: {what}")


def _parse_decoys(path: Path, reader: Any) -> dict[str, tuple[int, int, int, int]]:
    """The rows of :func:`read_decoys`; ``reader`` is a ``csv.reader`` over the file."""
    out: dict[str, tuple[int, int, int, int]] = {}
    header = next(reader, None)
    need = ["path", "x0", "y0", "x1", "y1"]
    if header is None or header[:5] != need:
        raise DecoyFormatError(f"{path}: header must start with {','.join(need)}, got {header}")
    for line, row in enumerate(reader, start=2):
        if not row:
            continue  # a blank line
        if len(row) < 5:
            raise DecoyFormatError(f"{path}, line {line}: expected at least 5 columns, "
                                   f"got {len(row)}")
        try:
            x0, y0, x1, y1 = (int(v) for v in row[1:5])
        except ValueError:
            raise DecoyFormatError(f"{path}, line {line}: box {row[1:5]} is not four "
                                   "integers") from None
        if not (0 <= x0 < x1 and 0 <= y0 < y1):
            raise DecoyFormatError(f"{path}, line {line}: empty or negative box "
                                   f"({x0}, {y0}, {x1}, {y1})")
        out[row[0]] = (x0, y0, x1, y1)
    return out


class DecoyDigits(Dataset):
    """One split of a decoy-digits folder, held in memory (a few MB).

    Items: ``inputs`` (1, 28, 28) float32 in [0, 1], ``label`` int, ``image_id`` (the relative
    path), ``provenance_mask`` (1, 28, 28) float32, 0 on the swatch and 1 elsewhere (all ones
    for ``train_clean``).
    """

    num_classes = NUM_CLASSES

    def __init__(self, root: str | PathLike[str], split: str) -> None:
        if split not in SPLITS:
            raise ValueError(f"decoy split must be one of {SPLITS}, got {split!r}")
        self.root = Path(root)
        folder = self.root / split
        if not folder.is_dir():
            raise DecoyFormatError(f"{folder}: split folder not found")
        files = sorted(folder.glob("*/*.png"))
        if not files:
            raise DecoyFormatError(f"{folder}: no <class>/<image>.png files")
        decoys = {} if split == "train_clean" else read_decoys(self.root / "decoys.csv")
        images, masks, labels, ids = [], [], [], []
        for f in files:
            rel = f"{split}/{f.parent.name}/{f.name}"
            try:
                label = int(f.parent.name)
            except ValueError:
                raise DecoyFormatError(f"{f}: class folder {f.parent.name!r} is not a class id") from None
            if not 0 <= label < NUM_CLASSES:
                raise DecoyFormatError(f"{f}: class folder {f.parent.name!r} is not one of the "
                                       f"digits 0..{NUM_CLASSES - 1}")
            try:
                img = np.asarray(Image.open(f).convert("L"), dtype=np.float32) / 255.0
            except OSError as exc:
                raise DecoyFormatError(f"{f}: unreadable image ({exc})") from None
            mask = np.ones_like(img)
            if split != "train_clean":
                if rel not in decoys:
                    raise DecoyFormatError(f"{self.root / 'decoys.csv'}: no row for {rel}")
                x0, y0, x1, y1 = decoys[rel]
                if x1 > img.shape[1] or y1 > img.shape[0]:
                    raise DecoyFormatError(f"{self.root / 'decoys.csv'}: box of {rel} exceeds "
                                           f"the {img.shape[1]}x{img.shape[0]} image")
                mask[y0:y1, x0:x1] = 0.0
            images.append(img)
            masks.append(mask)
            labels.append(label)
            ids.append(rel)
        shapes = {im.shape for im in images}
        if len(shapes) != 1:
            raise DecoyFormatError(f"{folder}: images of different sizes {sorted(shapes)}")
        self.images = torch.from_numpy(np.stack(images))[:, None]
        self.masks = torch.from_numpy(np.stack(masks))[:, None]
        self.labels = labels
        self.image_ids = ids

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"inputs": self.images[i], "label": self.labels[i], "image_id": self.image_ids[i],
                "provenance_mask": self.masks[i]}
