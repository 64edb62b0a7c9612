"""The embedded benchmarks ``waterbirds-shapes-v2`` (default), ``-v1``, and ``-v3`` / ``-v4``
(v2 with larger objects): a
Waterbirds-like group-shift problem with a procedural background editor, written in the
Waterbirds metadata-CSV layout.

Two shape classes (``y``) on two background families (``place``: land / water). In training
the background agrees with the class 95 % of the time (minority groups 5 %); validation and
test are balanced over the four groups. A procedural "editor" repaints the background of a
fixed subset of training images with the other family and writes the edited copies plus an
``edits.csv`` mapping, exactly as a generative editing pipeline (ALIA) would, so edit
provenance (:mod:`.edits`) runs end to end without a diffusion model. Spec: docs/classification.md;
rationale: studies/log/classification.md (fixed before any test-split number was produced;
changing a number needs a new name). v2 edits every training image with an imperfect editor (its repainted
backgrounds have a style of their own, a cue that correlates with the class through which images
were edited) and also writes edited copies of the val images (``edits/val_edits.csv``, never
trained on) on which gradient leakage is measured::

    waterbirds-shapes-v2/
        metadata.csv       img_id,img_filename,y,split,place,place_filename
        000.landbird/landbird_0000.png ...     48x48 RGB
        001.waterbird/...
        object_masks/<img_filename>            48x48 L, 255 = object (for checking edit masks)
        edits/edits.csv    edited_path,original_path,label
        edits/000.landbird/landbird_0000_to_water.png ...
        edits/val_edits.csv    (v2) edited copies of every val image, same columns
        manifest.json      spec, seed, content hash
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image

from pgg_zoo.benchmarks import ParamsSpec
from pgg_zoo.data.generated import ensure_generated
from pgg_zoo.vision.drawing import shape_mask, texture

__all__ = ["SPEC", "SPEC_V1", "SPEC_V2", "SPEC_V3", "SPEC_V4", "WaterbirdsShapesSpec", "RELEASED",
           "BENCHMARK_NAME",
           "render_image", "edit_background", "write_benchmark", "ensure_benchmark",
           "default_root", "plan", "VAL_EDITS_FILE"]

#: The default benchmark (v1 stays readable and generatable by name).
BENCHMARK_NAME = "waterbirds-shapes-v2"
#: Edited copies of val images (v2): for measuring leakage on held-out edits, never trained on.
VAL_EDITS_FILE = "val_edits.csv"

#: The fixed specification of v1 (stored in manifest.json; a folder whose stored spec differs
#: is regenerated). Fixed before any test-split result was looked at.
SPEC_V1: dict[str, Any] = {
    "name": "waterbirds-shapes-v1",
    "format": "Waterbirds metadata.csv layout + edits/edits.csv + object_masks/",
    "image_size": 48,
    "classes": ["landbird", "waterbird"],
    "class_shapes": ["triangle", "plus"],       # shapes of the wsol-shapes renderer
    "places": ["land", "water"],
    # place -> texture families of the wsol-shapes renderer (0 hstripes, 1 vstripes,
    # 2 checkerboard, 3 dots), uniform over the two
    "place_textures": [[2, 3], [0, 1]],
    # place -> background dark tone (RGB); each channel jittered uniformly by +-15 (integer)
    "place_tones": [[125, 110, 70], [60, 95, 145]],
    "tone_jitter": 15,
    "texture_amplitude": 25,                   # light tone = dark tone + 25 on every channel
    "texture_period_px": [6, 10],              # integer, uniform inclusive; phase uniform 0..P-1
    "object_side_px": [12, 18],                # integer, uniform inclusive; frame fully inside
    "palette": [[220, 40, 40], [230, 200, 20], [200, 40, 200], [240, 240, 240], [240, 130, 20]],
    "noise_sigma": 6.0,                        # Gaussian on every pixel, then round + clip
    # Train: per class 200 images; j % 20 == 1 (10 images, 5 %) get the other class's place.
    "train_per_class": 200,
    "train_minority_rule": "j % 20 == 1",
    "val_per_group": 50,
    "test_per_group": 100,
    # Editor: train images with j % 20 == 0 (10 per class, all majority) are edited: object
    # pixels kept, background repainted with the other place, then re-encoding noise.
    "edit_rule": "train, j % 20 == 0",
    "edit_noise_sigma": 2.0,
}

#: v2 (studies/log/classification.md, "waterbirds-shapes-v2"): same renderer; 120 train images per
#: class; every train image edited to the other place by an imperfect editor whose repainted
#: background has its own style (texture contrast ``edit_texture_amplitude`` instead of 25);
#: every val image edited the same way into ``edits/val_edits.csv`` (held out, for leakage).
#: Fixed before any test-split result was looked at.
SPEC_V2: dict[str, Any] = {
    **{k: v for k, v in SPEC_V1.items() if k not in ("edit_rule",)},
    "name": "waterbirds-shapes-v2",
    "train_per_class": 120,
    "train_minority_rule": "j % 20 == 1",
    "val_per_group": 50,
    "test_per_group": 100,
    "edit_rule": "train, every image",
    "val_edit_rule": "val, every image",
    "edit_texture_amplitude": 12,
}

#: v3 (studies/log/classification.md, "waterbirds-shapes-v3"): v2 with objects about four times
#: larger (side 24..36 of 48 px instead of 12..18): in Waterbirds the bird fills a large part of
#: the image, while v2's object covered about 5 % of it, so every feature the classifier pools
#: saw mostly background. Everything else, every random stream included, is v2's.
SPEC_V3: dict[str, Any] = {**SPEC_V2, "name": "waterbirds-shapes-v3", "object_side_px": [24, 36]}

#: v4 (studies/log/classification.md, "waterbirds-shapes-v4"): v2 with objects in between (side 18..27
#: of 48 px): v3's design check failed (edited data alone closed the gap at every share).
SPEC_V4: dict[str, Any] = {**SPEC_V2, "name": "waterbirds-shapes-v4", "object_side_px": [18, 27]}

#: The default benchmark's specification.
SPEC = SPEC_V2


@dataclass(frozen=True, kw_only=True)
class WaterbirdsShapesSpec(ParamsSpec):
    """A ``waterbirds-shapes`` benchmark: its ``params`` are a design table like
    :data:`SPEC_V2` (``edit_rule`` ``"train, every image"`` edits every training image, and a
    ``val_edit_rule`` also writes held-out edits of the val images; v1's rule edits a few)."""

    task: str = "classification"
    seed: int = 0

    def ensure(self, root: str | PathLike[str] | None = None) -> Path:
        """The benchmark folder (default :meth:`default_root`), generated on first use."""
        return _ensure(Path(root) if root is not None else self.default_root(), self.seed,
                       self.design())


#: The released specs (registered by the classification plugin), by name.
RELEASED = tuple(WaterbirdsShapesSpec(name=s["name"], params=s)
                 for s in (SPEC_V1, SPEC_V2, SPEC_V3, SPEC_V4))


def _spec(name: str | None) -> dict[str, Any]:
    """The design of the benchmark registered as ``name`` (default :data:`BENCHMARK_NAME`)."""
    from pgg_zoo.benchmarks import get_benchmark
    from pgg_zoo.registry import UnknownNameError

    try:
        return get_benchmark(name or BENCHMARK_NAME, task="classification").design()
    except UnknownNameError as exc:
        raise ValueError(str(exc)) from None


def default_root(name: str | None = None) -> Path:
    """``$PGG_ZOO_HOME/benchmarks/<name>`` (default home ``~/.cache/pgg_zoo``, default name
    :data:`BENCHMARK_NAME`)."""
    home = Path(os.environ.get("PGG_ZOO_HOME") or "~/.cache/pgg_zoo").expanduser()
    return home / "benchmarks" / _spec(name)["name"]


# -- rendering -------------------------------------------------------------------------------
def _background(rng: np.random.Generator, place: int, spec: dict[str, Any] = SPEC_V1,
                amplitude: float | None = None) -> np.ndarray:
    """float64 (S, S, 3): a two-tone texture of the place's family and tone (light tone = dark
    + ``amplitude``, default the spec's ``texture_amplitude``)."""
    S = spec["image_size"]
    fams = spec["place_textures"][place]
    family = fams[int(rng.integers(len(fams)))]
    lo, hi = spec["texture_period_px"]
    period = int(rng.integers(lo, hi + 1))
    phase = (int(rng.integers(period)), int(rng.integers(period)))
    j = spec["tone_jitter"]
    tone = np.asarray(spec["place_tones"][place], np.float64) + rng.integers(-j, j + 1, size=3)
    pattern = texture(family, S, period, phase).astype(np.float64)
    amp = spec["texture_amplitude"] if amplitude is None else amplitude
    return tone[None, None, :] + amp * pattern[..., None]


def render_image(seed: int, img_id: int, label: int, place: int, spec: dict[str, Any] | None = None
                 ) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """One image from its own stream ``default_rng([seed, img_id])`` (``spec``: default
    :data:`SPEC`; v1 and v2 render an image the same way).

    Returns uint8 (S, S, 3), the object mask bool (S, S), and the attributes.
    """
    SPEC = spec or globals()["SPEC"]
    S = SPEC["image_size"]
    rng = np.random.default_rng([seed, img_id])
    lo, hi = SPEC["object_side_px"]
    side = int(rng.integers(lo, hi + 1))
    x, y = int(rng.integers(0, S - side + 1)), int(rng.integers(0, S - side + 1))
    colour = int(rng.integers(len(SPEC["palette"])))
    img = _background(rng, place, SPEC)
    mask = np.zeros((S, S), dtype=bool)
    mask[y:y + side, x:x + side] = shape_mask(SPEC["class_shapes"][label], side)
    img[mask] = SPEC["palette"][colour]
    img += rng.normal(0.0, SPEC["noise_sigma"], size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), mask, {"side": side, "colour": colour}


def edit_background(seed: int, img_id: int, image: np.ndarray, mask: np.ndarray, place: int,
                    spec: dict[str, Any] | None = None) -> np.ndarray:
    """The procedural editor: keep the object's pixels, repaint the rest with ``place``.

    Like a latent-diffusion editor it also perturbs every pixel slightly (re-encoding noise,
    sigma ``edit_noise_sigma``), so the unedited region must be found by thresholding the
    difference, not by equality. Stream: ``default_rng([seed, img_id, 1])``. The v2 editor has
    a style of its own: its backgrounds have texture contrast ``edit_texture_amplitude``
    (real backgrounds: ``texture_amplitude``), as generated backgrounds differ from real ones.
    """
    SPEC = spec or globals()["SPEC"]
    rng = np.random.default_rng([seed, img_id, 1])
    out = _background(rng, place, SPEC, SPEC.get("edit_texture_amplitude"))
    out += rng.normal(0.0, SPEC["noise_sigma"], size=out.shape)
    out[mask] = image[mask]
    out += rng.normal(0.0, SPEC["edit_noise_sigma"], size=out.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# -- plan and writing --------------------------------------------------------------------------
def plan(spec: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Every image in metadata.csv order: img_id, rel path, y, split (0/1/2), place, edit
    (whether the editor writes an edited copy of it: into edits.csv for train images, into
    val_edits.csv for val images)."""
    SPEC = spec or globals()["SPEC"]
    every = SPEC["edit_rule"] == "train, every image"  # v1: "train, j % 20 == 0"
    val_edits = "val_edit_rule" in SPEC
    img_id = 0
    for y, cname in enumerate(SPEC["classes"]):
        j = 0
        rows = [(0, (1 - y) if k % 20 == 1 else y, every or k % 20 == 0)
                for k in range(SPEC["train_per_class"])]
        for split, n in ((1, SPEC["val_per_group"]), (2, SPEC["test_per_group"])):
            rows += [(split, place, val_edits and split == 1) for place in (0, 1)
                     for _ in range(n)]
        for split, place, edit in rows:
            img_id += 1
            yield {"img_id": img_id, "rel": f"{y:03d}.{cname}/{cname}_{j:04d}.png", "y": y,
                   "split": split, "place": place, "edit": edit}
            j += 1


def _save_png(path: Path, arr: np.ndarray, mode: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode).save(path, format="PNG", compress_level=6)


def _csv_text(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _write_into(folder: Path, seed: int, spec: dict[str, Any]) -> None:
    meta, edits, val_edits = [], [], []
    places = spec["places"]
    for r in plan(spec):
        img, mask, _ = render_image(seed, r["img_id"], r["y"], r["place"], spec)
        _save_png(folder / r["rel"], img, "RGB")
        _save_png(folder / "object_masks" / r["rel"], mask.astype(np.uint8) * 255, "L")
        meta.append([r["img_id"], r["rel"], r["y"], r["split"], r["place"], f"/{places[r['place']]}"])
        if r["edit"]:
            other = 1 - r["place"]
            rel = r["rel"][:-4] + f"_to_{places[other]}.png"
            if r["split"] == 1:
                rel = "val/" + rel
            _save_png(folder / "edits" / rel,
                      edit_background(seed, r["img_id"], img, mask, other, spec), "RGB")
            (val_edits if r["split"] == 1 else edits).append([rel, r["rel"], r["y"]])
    (folder / "metadata.csv").write_text(_csv_text(
        ["img_id", "img_filename", "y", "split", "place", "place_filename"], meta))
    (folder / "edits" / "edits.csv").write_text(_csv_text(
        ["edited_path", "original_path", "label"], edits))
    if val_edits:
        (folder / "edits" / VAL_EDITS_FILE).write_text(_csv_text(
            ["edited_path", "original_path", "label"], val_edits))


def write_benchmark(folder: str | PathLike[str], seed: int = 0, name: str | None = None) -> None:
    """Write the benchmark ``name`` (default :data:`BENCHMARK_NAME`) into ``folder`` (~3 s);
    :func:`ensure_benchmark` calls it on a temporary folder renamed into place, so an
    interrupted run never leaves a partial benchmark."""
    _write_into(Path(folder), int(seed), _spec(name))


def ensure_benchmark(root: str | PathLike[str] | None = None, seed: int = 0,
                     name: str | None = None) -> Path:
    """The folder of benchmark ``name`` (default :data:`BENCHMARK_NAME`; root default
    :func:`default_root`), generated when its manifest is missing or records another spec or
    seed (:func:`pgg_zoo.data.ensure_generated`; the manifest also records the content hash)."""
    spec = _spec(name)
    return _ensure(Path(root) if root is not None else default_root(name), seed, spec)


def _ensure(root: Path, seed: int, spec: dict[str, Any]) -> Path:
    return ensure_generated(root, spec["name"], spec, seed,
                            lambda folder: _write_into(Path(folder), int(seed), spec),
                            record_content_hash=True)
