"""``stad-scenes-v1`` / ``-v2``: an embedded STAD benchmark with a scene shortcut that paste
provenance can act on (docs/benchmarks.md, "STAD: stad-scenes-v1"; its design and criterion,
fixed before any test number: studies/log/benchmarks.md). v2 (:data:`SCENES_V2`) only has more
training videos.

Why a second benchmark. In ``stad-sprites-v1`` the class-correlated texture fills the whole
frame, so the background *inside* an actor's box already carries the shortcut; the video paste
cuts the donor's box, so that background travels with the pasted actor and is **owned** by it.
Paste provenance can then only forbid reading the host scene outside the pasted box, which a
small-receptive-field detector barely does: nothing for the guidance to remove.

Here the scene lies only **outside** the actors' boxes:

* every frame shows a scene (``pool``, ``court``, ``field``: a texture family in a colour range
  of its own) except the **actor zone**, the actor's tight box grown by ``zone_margin`` pixels,
  which is a flat neutral grey identical in every video; the annotated person box is that zone
  (pixel edges, ``x2``/``y2`` exclusive, so the paste's integer rect is exactly the zone);
* so a pasted tube (the donor's zone in every frame) carries the actor and grey, never donor
  scene, and a pasted actor looks exactly like a host actor (grey zone on a scene);
* a detector reads the scene only through the context its RoI features see around the box, and
  for a pasted actor that context is the host's scene, which paste provenance marks as not its
  own: the penalty acts on exactly the shortcut.

Classes are motion only (``jump``, ``walk``, ``wave``: the stick figures of ``stad-sprites-v1``,
rendered at 64 px and area-resized to ``size``); actor colour, size and position are independent
of the class. Scene of a training video: the class's own scene with probability
``p_scene_train``, otherwise one of the others; validation and test: uniform, independent of the
class. Validation videos are carved from the training split **by video** at generation, with
:func:`pgg_zoo.data.holdout_indices` (stratified by class, ``val_fraction``, carve seed 0), and
listed in the pickle (``pgg_meta["val_videos"]``); the STAD task trains on the training split
minus them, whatever split it evaluates on, so selection and test runs train on the same videos.

Layout: UCF101-24 (``videos/<class>/<video>.mp4``, the pickle ``STAD-Scenes-GT.pkl`` whose
``train_videos`` hold train + val videos, ``pgg_meta`` with per-video scene, split and
alignment) plus ``manifest.json`` (:func:`pgg_zoo.data.ensure_generated`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping, Optional

import numpy as np

from pgg_zoo.benchmarks import BenchmarkSpec
from pgg_zoo.data import benchmark_home, ensure_generated, holdout_indices
from pgg_zoo.video.tubes import save_tube_annotations

from .benchmark import SpritesSpec, _actor_track, _draw_actor, _texture
from .video import write_video

SCENES_ANNOTATION_FILE = "STAD-Scenes-GT.pkl"

#: Tube linking for this benchmark: consecutive zones overlap with IoU ~0.5-0.8 and the tubes
#: span the whole (short) video.
SCENES_LINKING = {"iou_threshold": 0.3, "min_length": 4}


@dataclass(frozen=True, kw_only=True)
class ScenesSpec(BenchmarkSpec):
    """Fixed design of the scenes benchmark (a change needs a new ``name``)."""

    name: str = "stad-scenes-v1"
    task: str = "stad"
    seed: int = 0
    classes: tuple[str, ...] = ("jump", "walk", "wave")
    #: scene ``c`` pairs class ``c``: (name, texture family, base RGB colour)
    scenes: tuple[tuple[str, str, tuple[int, int, int]], ...] = (
        ("pool", "stripes", (40, 110, 210)),
        ("court", "checker", (210, 120, 40)),
        ("field", "blobs", (60, 170, 60)),
    )
    n_train_per_class: int = 40  # before the val carve
    n_test_per_class: int = 20
    val_fraction: float = 0.2
    num_frames: int = 8
    size: int = 32
    render_size: int = 64  # actors drawn at this size, then area-resized to ``size``
    fps: int = 8
    p_scene_train: float = 0.95
    zone_margin: int = 1
    zone_grey: int = 128
    crf: int = 12
    #: ``"frame"``: the actor zone is its tight box of each frame (v1); ``"clip"``: the union of
    #: those boxes over the clip, one static zone that holds the whole motion in every frame.
    zone: str = "frame"

    #: The pickle of the benchmark's folder and the tube linking that suits its videos.
    annotation_file: ClassVar[str] = SCENES_ANNOTATION_FILE
    linking: ClassVar[Mapping[str, Any]] = SCENES_LINKING

    def __post_init__(self) -> None:
        if self.zone not in ("frame", "clip"):
            raise ValueError(f"ScenesSpec.zone must be 'frame' or 'clip', got {self.zone!r}")

    def record(self) -> dict[str, Any]:
        """The spec as the pickle's ``pgg_meta`` records it (the name under the key
        ``version``, as the released folders record it)."""
        return {"version": self.name, **self.design()}

    def ensure(self, root: Optional[str | Path] = None) -> Path:
        """The benchmark folder (default :meth:`default_root`), written on first use."""
        return _ensure_folder(Path(root) if root is not None else self.default_root(), self)


#: The released ``stad-scenes-v1``.
SCENES_V1 = ScenesSpec()
#: ``stad-scenes-v2``: v1 with three times the training videos (120 per class before the val
#: carve), so that the actions can be learned from the actors (studies/log/benchmarks.md).
SCENES_V2 = ScenesSpec(name="stad-scenes-v2", n_train_per_class=120)


def val_carve(spec: ScenesSpec) -> set[int]:
    """Indices (into the class-major list of training videos) held out for validation."""
    labels = [c for c in range(len(spec.classes)) for _ in range(spec.n_train_per_class)]
    _, val = holdout_indices(labels, spec.val_fraction, carve_seed=0)
    return set(val)


def _scene_frames(scene: int, spec: ScenesSpec, rng: np.random.Generator) -> np.ndarray:
    """Static scene ``float (H, W, 3)``: the scene's texture in two shades of its colour."""
    name, kind, base = spec.scenes[scene]
    tex = _texture(kind, spec.size, rng)
    c1 = np.clip(np.asarray(base, dtype=np.float64) + rng.uniform(-25, 25, size=3), 0, 255)
    c2 = c1 * rng.uniform(0.45, 0.65)
    return c2 * (1 - tex[..., None]) + c1 * tex[..., None]


def render_scene_video(cls_index: int, scene: int, spec: ScenesSpec, rng: np.random.Generator
                       ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """One video: ``uint8 (T, S, S, 3)`` frames, the actor's tube ``(T, 5)`` (1-based frame,
    zone box ``x1 y1 x2 y2`` in pixel edges) and actor metadata."""
    T, S, R = spec.num_frames, spec.size, spec.render_size
    import cv2

    bg = _scene_frames(scene, spec, rng)
    track = _actor_track(spec.classes[cls_index],
                         SpritesSpec(num_frames=T, size=R), rng, None)  # type: ignore[arg-type]
    color = rng.uniform(0, 255, size=3)
    color[rng.integers(3)] = rng.choice([20.0, 235.0])
    masks, rects = [], []
    for t in range(T):
        hx, hy, s, legs, arms = track[t]
        m = _draw_actor(hx, hy, s, legs, arms, R).astype(np.float32)
        a = cv2.resize(m, (S, S), interpolation=cv2.INTER_AREA) if R != S else m
        ys, xs = np.nonzero(a > 0.05)
        rects.append((max(int(xs.min()) - spec.zone_margin, 0),
                      max(int(ys.min()) - spec.zone_margin, 0),
                      min(int(xs.max()) + spec.zone_margin + 1, S),
                      min(int(ys.max()) + spec.zone_margin + 1, S)))
        masks.append(a)
    if spec.zone == "clip":
        r = np.asarray(rects)
        rects = [(int(r[:, 0].min()), int(r[:, 1].min()), int(r[:, 2].max()), int(r[:, 3].max()))] * T
    frames, rows = [], []
    for t, (a, (x0, y0, x1, y1)) in enumerate(zip(masks, rects)):
        f = bg.copy()
        f[y0:y1, x0:x1] = spec.zone_grey
        a3 = np.clip(a, 0, 1)[..., None]
        f = f * (1 - a3) + color * a3
        frames.append(f)
        rows.append([t + 1, x0, y0, x1, y1])
    return (np.clip(np.stack(frames), 0, 255).round().astype(np.uint8),
            np.asarray(rows, dtype=np.float64), {"color": color.round(1).tolist()})


def write_scenes_benchmark(out: Path, spec: ScenesSpec = SCENES_V1) -> None:
    """Write the benchmark into the (empty) folder ``out`` (module docstring: layout)."""
    K = len(spec.classes)
    held = val_carve(spec)
    gttubes, nframes, resolution, vmeta = {}, {}, {}, {}
    split_lists: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    number = 0
    for split, n_per in (("train", spec.n_train_per_class), ("test", spec.n_test_per_class)):
        for c in range(K):
            for i in range(n_per):
                rng = np.random.default_rng([spec.seed, number])
                sub = "val" if split == "train" and (c * n_per + i) in held else split
                if sub == "train":
                    if rng.random() < spec.p_scene_train:
                        scene = c
                    else:
                        scene = (c + 1 + int(rng.integers(K - 1))) % K
                else:
                    scene = int(rng.integers(K))
                frames, tube, meta = render_scene_video(c, scene, spec, rng)
                number += 1
                cls = spec.classes[c]
                name = f"{cls}/v_{cls}_{split}{i:03d}"
                (out / "videos" / cls).mkdir(parents=True, exist_ok=True)
                write_video(out / "videos" / f"{name}.mp4", frames, spec.fps, crf=spec.crf)
                gttubes[name] = {c: [tube]}
                nframes[name] = spec.num_frames
                resolution[name] = (spec.size, spec.size)
                vmeta[name] = {"label": c, "scene": spec.scenes[scene][0], "split": sub,
                               "scene_aligned": scene == c, **meta}
                split_lists[sub].append(name)
    ann = {
        "labels": list(spec.classes),
        "gttubes": gttubes,
        "nframes": nframes,
        "train_videos": [split_lists["train"] + split_lists["val"]],
        "test_videos": [split_lists["test"]],
        "resolution": resolution,
        "pgg_meta": {"spec": spec.record(), "videos": vmeta,
                     "val_videos": split_lists["val"]},
    }
    save_tube_annotations(ann, out / SCENES_ANNOTATION_FILE)


def ensure_scenes_benchmark(root: Optional[str | Path] = None,
                            spec: ScenesSpec = SCENES_V1) -> Path:
    """The benchmark folder ``<root>/<spec.folder_name()>``, written on first use (``root``
    default ``$PGG_ZOO_HOME/benchmarks``) through :func:`pgg_zoo.data.ensure_generated`."""
    parent = Path(root) if root is not None else benchmark_home()
    return _ensure_folder(parent / spec.folder_name(), spec)


def _ensure_folder(folder: Path, spec: ScenesSpec) -> Path:
    spec_dict = {k: v for k, v in spec.record().items() if k != "seed"}
    return ensure_generated(folder, spec.name, spec_dict, spec.seed,
                            lambda out: write_scenes_benchmark(out, spec))
