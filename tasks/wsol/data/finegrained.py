"""The embedded fine-grained WSOL benchmark ``wsol-finegrained-v1`` (CUB-200-2011 layout).

Twelve "bird" species of one body plan (issue 15: a benchmark CutMix provenance can act on).
Every species has the same silhouette (tail, body, wing, head); a species is an *ordered* pair of
distinct colours, (head colour, wing colour), from one palette of four. So every pair of species
shares colours and body plan, two species differ only in which part carries which colour (red
head / blue wing vs blue head / red wing), and a CutMix patch of another bird usually holds
parts that also excite the host's label -- the cross-source leakage CutMix provenance is about.
Background, body colour, facing, size and position are independent of the species (no
background shortcut). Specification: docs/benchmarks.md; design and success criterion:
studies/log/benchmarks.md and studies/log/wsol.md.

Layout (read by :class:`pgg_zoo.vision.cub.CUBDataset`)::

    wsol-finegrained-v1/
        images.txt  image_class_labels.txt  classes.txt  bounding_boxes.txt
        train_test_split.txt
        images/001.red-head_yellow-wing/red-head_yellow-wing_0000.png ...   32x32 RGB
        segmentations/<same relative paths>                                  32x32 L, 255 = bird
        finegrained_attributes.txt  <image_id> <texture> <body_colour> <side_px> <facing>
        manifest.json               name, seed, spec, content hash
"""
from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
from PIL import Image

from pgg_zoo.benchmarks import ParamsSpec
from pgg_zoo.data.generated import benchmark_home, ensure_generated
from pgg_zoo.vision.drawing import texture

__all__ = ["SPEC_FG_V1", "SPEC_FG_V2", "FinegrainedSpec", "FINEGRAINED_V1", "FINEGRAINED_V2",
           "render_bird_image", "write_finegrained_benchmark",
           "ensure_finegrained_benchmark", "finegrained_classes", "ATTRIBUTES_FILE"]

ATTRIBUTES_FILE = "finegrained_attributes.txt"

#: The fixed specification of v1 (stored in manifest.json; a folder whose stored spec or seed
#: differs is regenerated). Fixed before any run on it; changing a number needs a new name.
SPEC_FG_V1: dict[str, Any] = {
    "name": "wsol-finegrained-v1",
    "format": "CUB-200-2011 layout + segmentations/ + finegrained_attributes.txt",
    "image_size": 32,
    # Species k = the k-th ordered pair (head, wing) of distinct palette colours, in
    # itertools.permutations order: 4 x 3 = 12 species.
    "part_colours": {"red": [220, 40, 40], "yellow": [230, 200, 20],
                     "blue": [40, 80, 230], "magenta": [200, 40, 200]},
    # Body and tail colour: uniform over these, independent of the species.
    "body_colours": [[140, 100, 60], [120, 120, 110], [100, 115, 60]],
    # Per-part colour jitter: each RGB channel of each part + uniform integer in [-j, j].
    "colour_jitter": 20,
    # Side of the bird's square frame, integer uniform inclusive; top-left uniform with the
    # frame inside the image; facing right or left (mirrored) with probability 1/2.
    "object_side_px": [14, 26],
    # Parts in frame units (u = x / side, v = y / side, facing right), drawn in this order:
    #   tail  triangle (0.02, 0.30) (0.02, 0.70) (0.30, 0.50)
    #   body  ellipse centre (0.48, 0.55), semi-axes (0.28, 0.18)
    #   wing  ellipse centre (0.45, 0.55), semi-axes (0.17, 0.10)
    #   head  disk centre (0.78, 0.36), radius 0.15
    "parts": {"tail": [[0.02, 0.30], [0.02, 0.70], [0.30, 0.50]],
              "body": [0.48, 0.55, 0.28, 0.18], "wing": [0.45, 0.55, 0.17, 0.10],
              "head": [0.78, 0.36, 0.15]},
    # Background: the wsol-shapes texture families (0 hstripes, 1 vstripes, 2 checkerboard,
    # 3 dots), uniform and independent of the species in every split; two-tone grey.
    "textures": ["hstripes", "vstripes", "checkerboard", "dots"],
    "texture_period_px": [4, 8],
    "texture_base_grey": [70, 170],
    "texture_amplitude": 25,
    "noise_sigma": 6.0,
    "train_per_class": 40,
    "test_per_class": 25,
}

#: v2 (issue 15, after the v1 study): v1 plus a species-unique *field mark*, the tail's colour.
#: In v1 a species is only the conjunction of two part colours that every other species shares
#: in part, so a model that sums local part evidence (global average pooling over a CNN's map)
#: cannot keep a label off a pasted bird's parts without also going blind to its own bird; the
#: v1 study measured exactly that (the penalty shrank the input gradient everywhere, leakage
#: unchanged). Real species carry field marks besides shared colours. Here a label *can* read
#: only evidence no other species has, while the head and wing colours still excite other
#: species' labels on a pasted bird: the situation CutMix provenance is meant to fix. Every other
#: number is v1's, and the random streams are v1's (the tail takes the body's jitter draw).
SPEC_FG_V2: dict[str, Any] = {
    **SPEC_FG_V1,
    "name": "wsol-finegrained-v2",
    # Tail colour of species k (class order as v1); body colour no longer reaches the tail.
    # Twelve colours at least 100 apart (RGB, Euclidean) from each other and at least 75 from
    # the four part colours and the body colours (the per-channel jitter moves a colour by at
    # most 35).
    "tail_marks": {"white": [245, 245, 245], "black": [15, 15, 15], "green": [30, 200, 40],
                   "cyan": [40, 220, 230], "orange": [250, 130, 0], "navy": [20, 20, 120],
                   "pink": [250, 150, 200], "lime": [170, 250, 60], "maroon": [120, 0, 20],
                   "teal": [0, 120, 110], "violet": [130, 60, 250], "olive": [150, 150, 0]},
}



@dataclass(frozen=True, kw_only=True)
class FinegrainedSpec(ParamsSpec):
    """A ``wsol-finegrained`` benchmark: its ``params`` are a design table like
    :data:`SPEC_FG_V2`."""

    task: str = "wsol"
    seed: int = 0

    def num_classes(self) -> int:
        return len(finegrained_classes(self.params))

    def ensure(self, root: str | PathLike[str] | None = None) -> Path:
        """The benchmark folder (default :meth:`default_root`), generated on first use
        (:func:`ensure_finegrained_benchmark`)."""
        return ensure_finegrained_benchmark(root if root is not None else self.default_root(),
                                            self.seed, spec=self.design())


#: The released specs (registered by the WSOL plugin).
FINEGRAINED_V1 = FinegrainedSpec(name=SPEC_FG_V1["name"], params=SPEC_FG_V1)
FINEGRAINED_V2 = FinegrainedSpec(name=SPEC_FG_V2["name"], params=SPEC_FG_V2)


def finegrained_classes(spec: Mapping[str, Any] = SPEC_FG_V1) -> list[tuple[str, str]]:
    """``[(head colour, wing colour), ...]`` in class order."""
    from itertools import permutations

    return list(permutations(list(spec["part_colours"]), 2))


def _class_name(head: str, wing: str, tail: str | None = None) -> str:
    return f"{head}-head_{wing}-wing" + (f"_{tail}-tail" if tail else "")


def _tail_mark(spec: Mapping[str, Any], label: int) -> str | None:
    """Name of species ``label``'s tail mark (v2), or None (v1: the tail is body-coloured)."""
    marks = spec.get("tail_marks")
    return list(marks)[label] if marks else None


def _ellipse(u: np.ndarray, v: np.ndarray, cu: float, cv: float, au: float, av: float) -> np.ndarray:
    return ((u - cu) / au) ** 2 + ((v - cv) / av) ** 2 <= 1.0


def _triangle(u: np.ndarray, v: np.ndarray, pts: Any) -> np.ndarray:
    (x0, y0), (x1, y1), (x2, y2) = pts
    def side(ax: float, ay: float, bx: float, by: float) -> np.ndarray:
        return (bx - ax) * (v - ay) - (by - ay) * (u - ax)
    d0, d1, d2 = side(x0, y0, x1, y1), side(x1, y1, x2, y2), side(x2, y2, x0, y0)
    return ((d0 >= 0) & (d1 >= 0) & (d2 >= 0)) | ((d0 <= 0) & (d1 <= 0) & (d2 <= 0))


def bird_parts(side: int, spec: Mapping[str, Any] = SPEC_FG_V1, facing_left: bool = False
               ) -> dict[str, np.ndarray]:
    """Binary ``(side, side)`` masks of the tail, body, wing and head in the bird's frame,
    sampled at pixel centres (facing right unless ``facing_left``)."""
    c = (np.arange(side) + 0.5) / side
    u, v = np.meshgrid(c, c)
    if facing_left:
        u = 1.0 - u
    p = spec["parts"]
    return {"tail": _triangle(u, v, p["tail"]),
            "body": _ellipse(u, v, *p["body"]),
            "wing": _ellipse(u, v, *p["wing"]),
            "head": _ellipse(u, v, p["head"][0], p["head"][1], p["head"][2], p["head"][2])}


def render_bird_image(seed: int, image_index: int, label: int,
                      spec: Mapping[str, Any] = SPEC_FG_V1
                      ) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Render one image from its own generator ``default_rng([seed, image_index])``.

    Returns ``(image uint8 (S, S, 3), mask bool (S, S), attrs)``; ``attrs``: ``texture``,
    ``body`` (body colour index), ``side``, ``facing`` (0 right, 1 left), ``x``, ``y``.
    """
    S = int(spec["image_size"])
    rng = np.random.default_rng([seed, image_index])
    lo, hi = spec["object_side_px"]
    side = int(rng.integers(lo, hi + 1))
    x = int(rng.integers(0, S - side + 1))
    y = int(rng.integers(0, S - side + 1))
    facing = int(rng.integers(2))
    body = int(rng.integers(len(spec["body_colours"])))
    family = int(rng.integers(len(spec["textures"])))
    plo, phi = spec["texture_period_px"]
    period = int(rng.integers(plo, phi + 1))
    phase = (int(rng.integers(period)), int(rng.integers(period)))
    glo, ghi = spec["texture_base_grey"]
    base = int(rng.integers(glo, ghi + 1))
    j = int(spec["colour_jitter"])
    jitter = rng.integers(-j, j + 1, size=(3, 3))  # body, wing, head
    noise = rng.normal(0.0, spec["noise_sigma"], size=(S, S, 3))

    head_c, wing_c = finegrained_classes(spec)[label]
    colours = {"body": np.asarray(spec["body_colours"][body]) + jitter[0],
               "wing": np.asarray(spec["part_colours"][wing_c]) + jitter[1],
               "head": np.asarray(spec["part_colours"][head_c]) + jitter[2]}
    mark = _tail_mark(spec, label)
    colours["tail"] = (colours["body"] if mark is None
                       else np.asarray(spec["tail_marks"][mark]) + jitter[0])
    img = np.empty((S, S, 3), dtype=np.float64)
    img[...] = (base + spec["texture_amplitude"]
                * texture(family, S, period, phase).astype(np.float64))[..., None]
    mask = np.zeros((S, S), dtype=bool)
    for name, part in bird_parts(side, spec, facing_left=bool(facing)).items():
        full = np.zeros((S, S), dtype=bool)
        full[y:y + side, x:x + side] = part
        img[full] = colours[name]
        mask |= full
    img = np.clip(np.rint(img + noise), 0, 255).astype(np.uint8)
    return img, mask, {"texture": family, "body": body, "side": side, "facing": facing,
                       "x": x, "y": y}


def _plan(spec: Mapping[str, Any]) -> Iterator[tuple[int, int, bool, str]]:
    """``(image_id, label, is_train, relpath)`` in images.txt order (by class)."""
    ntr, nte = int(spec["train_per_class"]), int(spec["test_per_class"])
    image_id = 0
    for label, (h, w) in enumerate(finegrained_classes(spec)):
        name = _class_name(h, w, _tail_mark(spec, label))
        for k in range(ntr + nte):
            image_id += 1
            yield image_id, label, k < ntr, f"{label + 1:03d}.{name}/{name}_{k:04d}.png"


def write_finegrained_benchmark(folder: str | PathLike[str], seed: int = 0,
                                spec: Mapping[str, Any] = SPEC_FG_V1) -> Path:
    """Write the benchmark into ``folder`` (created if needed; existing files are overwritten).
    Use :func:`ensure_finegrained_benchmark` for the atomic, manifest-stamped folder."""
    folder = Path(folder)
    classes = finegrained_classes(spec)
    lines: dict[str, list[str]] = {k: [] for k in (
        "images.txt", "image_class_labels.txt", "bounding_boxes.txt", "train_test_split.txt",
        ATTRIBUTES_FILE)}
    lines["classes.txt"] = [f"{k + 1} {k + 1:03d}.{_class_name(h, w, _tail_mark(spec, k))}"
                            for k, (h, w) in enumerate(classes)]
    for iid, label, is_train, rel in _plan(spec):
        img, mask, a = render_bird_image(seed, iid, label, spec)
        ys, xs = np.nonzero(mask)
        x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        for sub, arr, mode in (("images", img, "RGB"),
                               ("segmentations", mask.astype(np.uint8) * 255, "L")):
            p = folder / sub / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr, mode).save(p, format="PNG", compress_level=6)
        lines["images.txt"].append(f"{iid} {rel}")
        lines["image_class_labels.txt"].append(f"{iid} {label + 1}")
        lines["bounding_boxes.txt"].append(f"{iid} {x0:.1f} {y0:.1f} {x1 - x0:.1f} {y1 - y0:.1f}")
        lines["train_test_split.txt"].append(f"{iid} {int(is_train)}")
        lines[ATTRIBUTES_FILE].append(
            f"{iid} {a['texture']} {a['body']} {a['side']} {a['facing']}")
    for name, ls in lines.items():
        (folder / name).write_text("\n".join(ls) + "\n")
    return folder


def ensure_finegrained_benchmark(root: str | PathLike[str] | None = None, seed: int = 0,
                                 spec: Mapping[str, Any] = SPEC_FG_V1) -> Path:
    """The benchmark folder (default ``$PGG_ZOO_HOME/benchmarks/<name>``), generated through
    :func:`pgg_zoo.data.ensure_generated` unless its manifest records this spec and seed; the
    manifest also records the content hash. About 1 s on one core."""
    root = Path(root) if root is not None else benchmark_home() / spec["name"]

    def writer(folder: Path) -> None:
        write_finegrained_benchmark(folder, seed, spec)

    return ensure_generated(root, spec["name"], spec, seed, writer, record_content_hash=True)
