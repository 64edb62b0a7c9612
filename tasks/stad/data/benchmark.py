"""``stad-sprites-v1``: the embedded STAD benchmark (generated videos, UCF101-24 format).

The spec (:class:`SpritesSpec`) was fixed before anything was trained or measured on it:

* K = 3 classes defined **only by motion** of a stick-figure "actor": ``jump`` (vertical
  bouncing), ``walk`` (horizontal translation with swinging legs), ``wave`` (standing still, one
  arm swinging overhead). Actor colour, size and position are drawn independently of the class.
* 16 frames, 64 x 64, 8 fps; 1 actor (2 with p = 0.3, same class, as in UCF101-24 where one
  video has one action); a tube covers the whole clip with p = 0.5, else a random interval of
  10..16 frames (the actor is absent outside it: temporal localization matters for video-mAP).
* Backgrounds are periodic textures that scroll (random velocity): ``stripes``, ``checker``,
  ``blobs`` (low-frequency noise), two random colours. In **train** the texture family is the
  class's own (jump-stripes, walk-checker, wave-blobs) with p = 0.9; in **test** it is uniform
  and independent of the class. A model that reads the background scores well on train-like
  data and drops on test: the shortcut the paste provenance targets (a pasted actor owns its
  pasted region, the host actors own the rest, so the penalty tells the classifier of the actor
  to ignore the background).
* 40 train + 20 test videos per class (120 / 60).
* Written as H.264 mp4 (PyAV/libx264, yuv444p, crf 12: full chroma so a 1-2 px limb
  survives), a UCF101-24 pickle ``STAD-Sprites-GT.pkl`` (six standard keys + ``pgg_meta``) and,
  beyond the UCF format, per-video actor masks ``masks/<video>.npz`` (bool ``(n_actors, T, H,
  W)``) for mask-exact paste. Boxes are tight inclusive pixel boxes of each actor's mask.

Everything is a pure function of the spec and its seed (each video draws from
``default_rng([seed, video_number])``). Generation takes a few seconds; it writes to a temporary
folder renamed into place under a file lock, so a crash never leaves a half benchmark.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping, Optional

import numpy as np

from pgg_zoo.benchmarks import BenchmarkSpec
from pgg_zoo.video.tubes import save_tube_annotations

from .ucf24 import TubeDataset
from .video import write_video

ANNOTATION_FILE = "STAD-Sprites-GT.pkl"

#: Tube-linking settings for this benchmark (``link_video(..., **SPRITES_LINKING)``). At 8 fps
#: the ground-truth boxes of consecutive frames overlap with IoU ~0.5-0.6 (limbs swing, actors
#: bounce), so ACT's 0.5 link threshold would break true tubes; 16-frame clips need a shorter
#: minimum length than UCF101-24's 15.
SPRITES_LINKING = {"iou_threshold": 0.3, "min_length": 8}


@dataclass(frozen=True, kw_only=True)
class SpritesSpec(BenchmarkSpec):
    """Fixed design of the sprites benchmark (a change needs a new ``name``)."""

    name: str = "stad-sprites-v1"
    task: str = "stad"
    seed: int = 0
    classes: tuple[str, ...] = ("jump", "walk", "wave")
    textures: tuple[str, ...] = ("stripes", "checker", "blobs")  # textures[c] pairs class c
    n_train_per_class: int = 40
    n_test_per_class: int = 20
    num_frames: int = 16
    size: int = 64
    fps: int = 8
    p_bias_train: float = 0.9
    p_bias_test: Optional[float] = None  # None: texture independent of the class
    p_two_actors: float = 0.3
    p_partial_tube: float = 0.5
    min_tube_len: int = 10
    crf: int = 12

    #: The pickle of the benchmark's folder and the tube linking that suits its videos.
    annotation_file: ClassVar[str] = ANNOTATION_FILE
    linking: ClassVar[Mapping[str, Any]] = SPRITES_LINKING

    def record(self) -> dict[str, Any]:
        """The spec as written into SPEC.json and the pickle's ``pgg_meta`` (the name under
        the key ``version``, as the released folders record it)."""
        return {"version": self.name, **self.design()}

    def ensure(self, root: Optional[str | os.PathLike] = None) -> Path:
        """The benchmark folder, generated on first use (:func:`ensure_stad_benchmark`; ``root``
        is the folder itself, default :meth:`default_root`)."""
        return _ensure_folder(Path(root) if root is not None else self.default_root(), self)


#: The released sprites benchmark.
SPRITES_V1 = SpritesSpec()


def default_home() -> Path:
    """``$PGG_ZOO_HOME`` or ``~/.cache/pgg_zoo``."""
    return Path(os.environ.get("PGG_ZOO_HOME") or Path.home() / ".cache" / "pgg_zoo")


# ---------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------
def _texture(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Periodic texture ``(size, size)`` in [0, 1] (periodic so that np.roll scrolls seamlessly)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    if kind == "stripes":
        kx, ky = rng.integers(1, 5), rng.integers(-4, 5)
        v = 0.5 + 0.5 * np.sin(2 * np.pi * (kx * x + ky * y) / size + rng.uniform(0, 6.3))
    elif kind == "checker":
        k = int(rng.choice([4, 8]))
        v = ((np.sin(2 * np.pi * k * x / size) > 0) ^ (np.sin(2 * np.pi * k * y / size) > 0))
        v = v.astype(np.float64)
    elif kind == "blobs":
        f = np.zeros((size, size), dtype=complex)
        for _ in range(8):  # a few low-frequency Fourier modes: smooth periodic noise
            u, w = rng.integers(-3, 4, size=2)
            f[u % size, w % size] += rng.normal() + 1j * rng.normal()
        v = np.real(np.fft.ifft2(f))
        v = (v - v.min()) / max(v.max() - v.min(), 1e-9)
    else:
        raise ValueError(kind)
    return v


def _background(kind: str, spec: SpritesSpec, rng: np.random.Generator) -> np.ndarray:
    """Scrolling textured background ``uint8 (T, H, W, 3)``."""
    tex = _texture(kind, spec.size, rng)
    c1, c2 = rng.uniform(40, 215, size=(2, 3))
    vy, vx = rng.uniform(-2, 2, size=2)
    frames = []
    for t in range(spec.num_frames):
        sh = np.roll(tex, (int(round(vy * t)), int(round(vx * t))), axis=(0, 1))
        frames.append(c1 * (1 - sh[..., None]) + c2 * sh[..., None])
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def _limb(p: tuple[float, float], angle_deg: float, length: float) -> tuple[int, int]:
    a = np.deg2rad(angle_deg)  # 0 = right, 90 = up (image y grows down)
    return int(round(p[0] + length * np.cos(a))), int(round(p[1] - length * np.sin(a)))


def _draw_actor(hx: float, hy: float, s: float, legs: tuple[float, float],
                arms: tuple[float, float], size: int) -> np.ndarray:
    """Mask ``bool (H, W)`` of a stick figure with hip at ``(hx, hy)`` and scale ``s``."""
    import cv2

    m = np.zeros((size, size), dtype=np.uint8)
    th = max(1, int(round(1.6 * s)))
    hip = (int(round(hx)), int(round(hy)))
    neck = (hip[0], int(round(hy - 7 * s)))
    shoulder = (hx, hy - 6 * s)
    cv2.line(m, hip, neck, 1, th + 1)  # torso
    cv2.circle(m, (neck[0], int(round(neck[1] - 2.5 * s))), max(2, int(round(2.3 * s))), 1, -1)
    for ang in legs:
        cv2.line(m, hip, _limb((hx, hy), ang, 7 * s), 1, th)
    for ang in arms:
        cv2.line(m, (int(round(shoulder[0])), int(round(shoulder[1]))),
                 _limb(shoulder, ang, 5.5 * s), 1, th)
    return m.astype(bool)


def _actor_track(cls: str, spec: SpritesSpec, rng: np.random.Generator, slot: Optional[int]
                 ) -> list[tuple[float, float, float, tuple[float, float], tuple[float, float]]]:
    """Per-frame ``(hip_x, hip_y, scale, leg_angles, arm_angles)`` for a class's motion."""
    T, S = spec.num_frames, spec.size
    s = rng.uniform(1.3, 1.6)
    period = rng.uniform(5.0, 7.0)
    phase = rng.uniform(0, 2 * np.pi)
    lo, hi = 10 * s, S - 10 * s
    if slot is not None:  # two actors: left and right halves, so they rarely overlap
        lo, hi = (lo, S / 2 - 2) if slot == 0 else (S / 2 + 2, hi)
    hy0 = rng.uniform(S * 0.45 + 6 * s, S - 8 * s)
    out = []
    if cls == "walk":
        v = rng.uniform(0.9, 1.5) * rng.choice([-1, 1])
        span = abs(v) * (T - 1)
        if hi - lo > span:
            x0 = rng.uniform(lo, hi - span) if v > 0 else rng.uniform(lo + span, hi)
        else:  # narrow slot: slow down to fit
            v = np.sign(v) * (hi - lo) / (T - 1)
            x0 = lo if v > 0 else hi
    else:
        x0 = rng.uniform(lo, hi)
    for t in range(T):
        w = 2 * np.pi * t / period + phase
        jit = rng.normal(0, 0.3, size=2)
        if cls == "jump":
            hx, hy = x0, hy0 - 5.5 * s * abs(np.sin(w / 2))
            legs = (-70.0, -110.0)
            arms = (-60.0 + 40 * abs(np.sin(w / 2)), -120.0 - 40 * abs(np.sin(w / 2)))
        elif cls == "walk":
            hx, hy = x0 + v * t, hy0
            sw = 28 * np.sin(w)
            legs = (-90.0 + sw, -90.0 - sw)
            arms = (-90.0 - 1.3 * sw, -90.0 + 1.3 * sw)
        elif cls == "wave":
            hx, hy = x0, hy0
            legs = (-75.0, -105.0)
            arms = (-100.0, 90.0 + 60 * np.sin(w))  # one arm down, one swinging overhead
        else:
            raise ValueError(cls)
        out.append((hx + jit[0], hy + jit[1], s, legs, arms))
    return out


def render_video(cls_index: int, texture: str, spec: SpritesSpec, rng: np.random.Generator
                 ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], list[dict]]:
    """Render one video.

    Returns:
        frames ``uint8 (T, H, W, 3)``; per actor a tube ``(L, 5)`` (1-based frames, inclusive
        pixel box), a mask ``bool (T, H, W)`` (all False outside the tube) and a metadata dict.
    """
    T, S = spec.num_frames, spec.size
    cls = spec.classes[cls_index]
    frames = _background(texture, spec, rng).astype(np.float64)
    n_act = 2 if rng.random() < spec.p_two_actors else 1
    tubes, masks, meta = [], [], []
    for a in range(n_act):
        track = _actor_track(cls, spec, rng, a if n_act == 2 else None)
        if rng.random() < spec.p_partial_tube:
            L = int(rng.integers(spec.min_tube_len, T + 1))
            start = int(rng.integers(0, T - L + 1))
        else:
            L, start = T, 0
        color = rng.uniform(0, 255, size=3)
        color[rng.integers(3)] = rng.choice([20.0, 235.0])  # saturated: stands out of textures
        mask = np.zeros((T, S, S), dtype=bool)
        rows = []
        for t in range(start, start + L):
            hx, hy, s, legs, arms = track[t]
            m = _draw_actor(hx, hy, s, legs, arms, S)
            mask[t] = m
            ys, xs = np.nonzero(m)
            rows.append([t + 1, xs.min(), ys.min(), xs.max(), ys.max()])
            frames[t][m] = color
        tubes.append(np.asarray(rows, dtype=np.float64))
        masks.append(mask)
        meta.append({"start": start + 1, "end": start + L, "color": color.round(1).tolist()})
    return np.clip(frames, 0, 255).astype(np.uint8), tubes, masks, meta


def render_numbered_video(spec: SpritesSpec, number: int, cls_index: int,
                          p_bias: Optional[float]
                          ) -> tuple[str, np.ndarray, list[np.ndarray], list[np.ndarray], list[dict]]:
    """Video ``number`` of the benchmark: ``(texture, frames, tubes, masks, actor_meta)``.

    Its randomness is ``default_rng([spec.seed, number])`` only: the texture draw (class's own
    family with probability ``p_bias``, else another; uniform when ``p_bias`` is None), then
    :func:`render_video`.
    """
    K = len(spec.classes)
    rng = np.random.default_rng([spec.seed, number])
    if p_bias is not None and rng.random() < p_bias:
        tex = spec.textures[cls_index]
    elif p_bias is not None:
        tex = spec.textures[(cls_index + 1 + int(rng.integers(K - 1))) % K]
    else:
        tex = spec.textures[int(rng.integers(K))]
    return (tex, *render_video(cls_index, tex, spec, rng))


# ---------------------------------------------------------------------------------------
# generation and cache
# ---------------------------------------------------------------------------------------
def generate_stad_benchmark(out_dir: str | os.PathLike, spec: SpritesSpec = SPRITES_V1
                            ) -> Path:
    """Write the benchmark into ``out_dir`` (created; must not exist or be empty).

    Layout: ``videos/<class>/<video>.mp4``, ``masks/<class>/<video>.npz``,
    ``STAD-Sprites-GT.pkl``, ``SPEC.json`` (written last).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    K = len(spec.classes)
    gttubes, nframes, resolution, vmeta = {}, {}, {}, {}
    splits: dict[str, list[str]] = {"train": [], "test": []}
    number = 0
    for split, n_per, p_bias in (("train", spec.n_train_per_class, spec.p_bias_train),
                                 ("test", spec.n_test_per_class, spec.p_bias_test)):
        for c in range(K):
            for i in range(n_per):
                tex, frames, tubes, masks, meta = render_numbered_video(spec, number, c, p_bias)
                number += 1
                cls = spec.classes[c]
                name = f"{cls}/v_{cls}_{split}{i:03d}"
                (out / "videos" / cls).mkdir(parents=True, exist_ok=True)
                (out / "masks" / cls).mkdir(parents=True, exist_ok=True)
                write_video(out / "videos" / f"{name}.mp4", frames, spec.fps, crf=spec.crf)
                np.savez_compressed(out / "masks" / f"{name}.npz", masks=np.stack(masks))
                gttubes[name] = {c: tubes}
                nframes[name] = spec.num_frames
                resolution[name] = (spec.size, spec.size)
                vmeta[name] = {"label": c, "texture": tex, "split": split,
                               "bias_aligned": tex == spec.textures[c], "actors": meta}
                splits[split].append(name)
    ann = {
        "labels": list(spec.classes),
        "gttubes": gttubes,
        "nframes": nframes,
        "train_videos": [splits["train"]],
        "test_videos": [splits["test"]],
        "resolution": resolution,
        "pgg_meta": {"spec": spec.record(), "videos": vmeta},
    }
    save_tube_annotations(ann, out / ANNOTATION_FILE)
    info = {"spec": spec.record(), "num_videos": number,
            "generation_seconds": round(time.perf_counter() - t0, 2)}
    (out / "SPEC.json").write_text(json.dumps(info, indent=1, sort_keys=True))
    return out


def _complete(folder: Path, spec: SpritesSpec) -> bool:
    try:
        info = json.loads((folder / "SPEC.json").read_text())
    except (OSError, ValueError):
        return False
    return info.get("spec") == json.loads(json.dumps(spec.record())) and \
        (folder / ANNOTATION_FILE).is_file()


def ensure_stad_benchmark(root: Optional[str | os.PathLike] = None,
                          spec: SpritesSpec = SPRITES_V1, *, force: bool = False) -> Path:
    """Path of the generated benchmark, generating it on first use.

    Args:
        root: parent folder; default ``$PGG_ZOO_HOME/benchmarks`` (``~/.cache/pgg_zoo``).
        spec: the benchmark design (default: ``stad-sprites-v1``).
        force: regenerate even if present.

    Returns:
        ``<root>/<spec.folder_name()>`` holding ``videos/``, ``masks/``, the pickle, SPEC.json.
    """
    root = Path(root) if root is not None else default_home() / "benchmarks"
    return _ensure_folder(root / spec.folder_name(), spec, force=force)


def _ensure_folder(final: Path, spec: SpritesSpec, *, force: bool = False) -> Path:
    """``final`` holding ``spec``'s benchmark, generated into a temporary sibling and renamed
    into place under a lock beside it."""
    from filelock import FileLock

    root = final.parent
    root.mkdir(parents=True, exist_ok=True)
    if not force and _complete(final, spec):
        return final
    with FileLock(str(root / f".{final.name}.lock")):
        if not force and _complete(final, spec):  # another process finished it meanwhile
            return final
        tmp = root / f".{final.name}.tmp-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        try:
            generate_stad_benchmark(tmp, spec)
            if final.exists():
                old = root / f".{final.name}.old-{os.getpid()}"
                os.replace(final, old)
                shutil.rmtree(old, ignore_errors=True)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final


def stad_sprites_dataset(split: str = "train", root: Optional[str | os.PathLike] = None,
                         spec: SpritesSpec = SPRITES_V1, **kwargs: Any) -> TubeDataset:
    """The benchmark as a :class:`~.ucf24.TubeDataset` (videos read back by the same reader).

    Defaults: ``clip_len=8``, ``size=64``, ``source="videos"``; ``kwargs`` override.
    """
    folder = ensure_stad_benchmark(root, spec)
    kw = dict(clip_len=8, stride=1, size=spec.size, source="videos", video_dir="videos")
    kw.update(kwargs)
    return TubeDataset(folder, ANNOTATION_FILE, split, **kw)


def load_actor_masks(folder: str | os.PathLike, video: str) -> np.ndarray:
    """Actor masks of a benchmark video: ``bool (n_actors, T, H, W)`` (tube order of the pickle)."""
    with np.load(Path(folder) / "masks" / f"{video}.npz") as z:
        return z["masks"].astype(bool)
