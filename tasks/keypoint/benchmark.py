"""The embedded benchmark ``keypoint-sticks-v1``: procedural multi-person 2D stick figures (COCO-17
keypoints) with one actor per training video and bystanders, written as a pyskl/PoseC3D
skeleton pickle plus UCF101-24-style ground-truth tubes. Design and rationale: docs/keypoint.md
(fixed before any result was measured; changing a number needs a new name)::

    keypoint-sticks-v1/
        sticks_2d.pkl     {"split": {"train": [...], "test": [...]}, "annotations": [...]}
        gt_tubes.pkl      labels, gttubes, nframes, train_videos, test_videos, resolution
        manifest.json     name, seed, spec
"""
from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from pgg_zoo.benchmarks import ParamsSpec
from pgg_zoo.data import benchmark_home, ensure_generated

from .data import save_pickle

__all__ = ["SPEC", "SticksSpec", "STICKS_V1", "BENCHMARK_NAME", "COCO_JOINTS", "SKELETON_FILE", "TUBES_FILE", "pose",
           "render_video", "write_benchmark", "ensure_benchmark", "default_root"]

BENCHMARK_NAME = "keypoint-sticks-v1"
SKELETON_FILE = "sticks_2d.pkl"
TUBES_FILE = "gt_tubes.pkl"

#: COCO-17 keypoint order (mmpose / pyskl).
COCO_JOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
               "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
               "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
#: Limbs for drawing (pairs of joint indices).
COCO_LIMBS = ((0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11),
              (6, 12), (11, 12), (11, 13), (13, 15), (12, 14), (14, 16))

SPEC: dict[str, Any] = {
    "name": BENCHMARK_NAME,
    "format": "pyskl/PoseC3D skeleton pickle + UCF101-24 GT-tube pickle",
    "classes": ["wave", "squat", "kick", "jumping_jack"],
    "img_shape": [240, 320],
    "frames": 24,
    "persons": 3,
    "lanes_x": [0.2, 0.5, 0.8],          # lane centres as a fraction of the width
    "lane_jitter_px": 15,
    "ground_y_px": [190, 215],
    "person_height_px": [70, 100],
    "segment_frames": [12, 24],          # actor's action segment length, inclusive
    "period_frames": [6, 10],
    "amplitude": [0.7, 1.0],
    "bystander_drift_px_per_frame": 1.5,
    "bystander_arm_swing_deg": 12,
    "sway_deg": 5,
    "noise_px": 1.5,
    "score_range": [0.5, 1.0],
    "missing_joint_prob": 0.03,
    "box_margin_px": 2,
    "train_per_class": 60,
    "test_per_class": 60,
    "test_coactor_rule": "odd test index: one bystander becomes an actor of class (c + 1 + r) % K",
}


def default_root() -> Path:
    """``$PGG_ZOO_HOME/benchmarks/keypoint-sticks-v1`` (default home ``~/.cache/pgg_zoo``)."""
    return benchmark_home() / BENCHMARK_NAME


def _limb(start: np.ndarray, angle_deg: np.ndarray, length: float, side: float) -> np.ndarray:
    """End point of a limb from ``start`` at ``angle`` from straight down, outward on ``side``."""
    a = np.deg2rad(angle_deg)
    length = np.asarray(length, dtype=np.float64)[..., None] if np.ndim(length) else length
    return start + length * np.stack([side * np.sin(a), np.cos(a)], axis=-1)


def pose(params: dict[str, np.ndarray], x0: float, ground: float, height: float) -> np.ndarray:
    """``(T, 17, 2)`` COCO joints of a frontal stick figure.

    ``params``: per-frame arrays (T,) ``la_up, la_lo, ra_up, ra_lo, ll_up, ll_lo, rl_up,
    rl_lo`` (limb angles in degrees from straight down, positive outward), ``drop`` (hip
    lowering in px), ``lean`` (torso lean, degrees) and ``dx`` (horizontal offset, px).
    Person's left is image right (frontal view).
    """
    h = height
    t = len(params["drop"])
    leg = 0.46 * h
    hip_c = np.stack([x0 + params["dx"], np.full(t, ground - leg) + params["drop"]], axis=-1)
    lean = np.deg2rad(params["lean"])
    neck = hip_c + 0.30 * h * np.stack([np.sin(lean), -np.cos(lean)], axis=-1)
    j = np.zeros((t, 17, 2))
    up = np.stack([np.sin(lean), -np.cos(lean)], axis=-1)
    right = np.stack([np.cos(lean), np.sin(lean)], axis=-1)
    j[:, 0] = neck + 0.10 * h * up
    j[:, 1] = neck + 0.12 * h * up + 0.03 * h * right
    j[:, 2] = neck + 0.12 * h * up - 0.03 * h * right
    j[:, 3] = neck + 0.10 * h * up + 0.05 * h * right
    j[:, 4] = neck + 0.10 * h * up - 0.05 * h * right
    for side, sh, el, wr, up_k, lo_k in ((1.0, 5, 7, 9, "la_up", "la_lo"),
                                         (-1.0, 6, 8, 10, "ra_up", "ra_lo")):
        j[:, sh] = neck + side * 0.11 * h * right
        j[:, el] = _limb(j[:, sh], params[up_k], 0.17 * h, side)
        j[:, wr] = _limb(j[:, el], params[lo_k], 0.15 * h, side)
    for side, hp, kn, an, up_k, lo_k in ((1.0, 11, 13, 15, "ll_up", "ll_lo"),
                                         (-1.0, 12, 14, 16, "rl_up", "rl_lo")):
        j[:, hp] = hip_c + side * 0.07 * h * right
        # Squatting shortens the leg in a frontal view: thigh and shin foreshorten.
        fore = np.clip(1.0 - params["drop"] / leg, 0.3, 1.0)
        j[:, kn] = _limb(j[:, hp], params[up_k], 0.23 * h * fore, side)
        j[:, an] = _limb(j[:, kn], params[lo_k], 0.23 * h * fore, side)
    return j


def _idle(rng: np.random.Generator, t: int, sway: float) -> dict[str, np.ndarray]:
    def walk(scale: float) -> np.ndarray:  # slow random sway
        steps = rng.normal(0, scale / 3, t).cumsum()
        return np.clip(steps, -scale, scale)

    return {"la_up": 10 + walk(sway), "la_lo": 5 + walk(sway), "ra_up": 10 + walk(sway),
            "ra_lo": 5 + walk(sway), "ll_up": 5 + walk(sway / 2), "ll_lo": 3 + walk(sway / 2),
            "rl_up": 5 + walk(sway / 2), "rl_lo": 3 + walk(sway / 2), "drop": np.zeros(t),
            "lean": walk(sway / 2), "dx": np.zeros(t)}


def _act(p: dict[str, np.ndarray], cls: int, seg: np.ndarray, phase: np.ndarray, amp: float,
         height: float) -> None:
    """Overwrite the idle parameters ``p`` with action ``cls`` on the frames ``seg``."""
    s, c = np.sin(phase), (1 - np.cos(phase)) / 2  # c in [0, 1], 0 at the start of a cycle
    if cls == 0:  # wave: right arm raised, forearm oscillates
        p["ra_up"][seg] = 120
        p["ra_lo"][seg] = 170 + 35 * amp * s
    elif cls == 1:  # squat
        p["drop"][seg] = 0.25 * height * amp * c
        p["la_up"][seg] = p["ra_up"][seg] = 10 + 70 * amp * c
        p["la_lo"][seg] = p["ra_lo"][seg] = 10 + 70 * amp * c
        p["ll_up"][seg] = p["rl_up"][seg] = 5 + 25 * amp * c
        p["ll_lo"][seg] = p["rl_lo"][seg] = 3 - 15 * amp * c
    elif cls == 2:  # kick: right leg swings out and back
        p["rl_up"][seg] = 5 + 60 * amp * c
        p["rl_lo"][seg] = 3 + 45 * amp * c
        p["la_up"][seg] = 10 + 20 * amp * c
    elif cls == 3:  # jumping jack
        p["la_up"][seg] = p["ra_up"][seg] = 10 + 150 * amp * c
        p["la_lo"][seg] = p["ra_lo"][seg] = 10 + 160 * amp * c
        p["ll_up"][seg] = p["rl_up"][seg] = 5 + 25 * amp * c
        p["ll_lo"][seg] = p["rl_lo"][seg] = 3 + 25 * amp * c
        p["drop"][seg] = -4 * amp * np.abs(s)
    else:
        raise ValueError(f"unknown action class {cls}")


def render_video(seed: int, split: str, index: int, label: int, coactor: int | None = None,
                 spec: Mapping[str, Any] = SPEC) -> dict[str, Any]:
    """One video: keypoints ``(M, T, 17, 2)``, scores ``(M, T, 17)`` and the actors' tubes.

    Returns ``{"keypoint", "keypoint_score", "actors": [(class, tube (n, 5))]}`` where a tube
    holds 1-based frame numbers and boxes ``x1, y1, x2, y2`` of the clean joints' extent.
    """
    split_id = {"train": 0, "test": 1}[split]
    rng = np.random.default_rng([int(seed), split_id, int(index), int(label)])
    t, m = spec["frames"], spec["persons"]
    h_img, w_img = spec["img_shape"]
    lanes = rng.permutation(m)
    roles: list[int | None] = [label] + [None] * (m - 1)  # class of each actor, None = bystander
    if coactor is not None:
        roles[1] = coactor
    kps = np.zeros((m, t, 17, 2))
    actors = []
    for pi, role in enumerate(roles):
        height = rng.uniform(*spec["person_height_px"])
        x0 = w_img * spec["lanes_x"][lanes[pi]] + rng.uniform(-1, 1) * spec["lane_jitter_px"]
        ground = rng.uniform(*spec["ground_y_px"])
        p = _idle(rng, t, spec["sway_deg"])
        seg = np.zeros(t, dtype=bool)
        if role is None:
            drift = rng.uniform(-1, 1) * spec["bystander_drift_px_per_frame"]
            p["dx"] = drift * np.arange(t)
            period = rng.uniform(12, 20)
            swing = spec["bystander_arm_swing_deg"] * np.sin(
                2 * np.pi * np.arange(t) / period + rng.uniform(0, 2 * np.pi))
            p["la_up"] = p["la_up"] + swing
            p["ra_up"] = p["ra_up"] - swing
        else:
            length = int(rng.integers(spec["segment_frames"][0], spec["segment_frames"][1] + 1))
            start = int(rng.integers(0, t - length + 1))
            seg[start:start + length] = True
            period = rng.uniform(*spec["period_frames"])
            phase = 2 * np.pi * (np.arange(t) - start) / period
            _act(p, int(role), seg, phase[seg], rng.uniform(*spec["amplitude"]), height)
        kps[pi] = pose(p, x0, ground, height)
        if role is not None:
            mg = spec["box_margin_px"]
            frames = np.nonzero(seg)[0]
            box = np.concatenate([kps[pi, frames].min(1) - mg, kps[pi, frames].max(1) + mg], 1)
            actors.append((int(role), np.concatenate([frames[:, None] + 1.0, box], 1)))
    noisy = kps + rng.normal(0, spec["noise_px"], kps.shape)
    scores = rng.uniform(*spec["score_range"], size=(m, t, 17))
    missing = rng.random((m, t, 17)) < spec["missing_joint_prob"]
    noisy[missing] = 0.0
    scores[missing] = 0.0
    order = rng.permutation(m)  # the actor is not always person 0
    return {"keypoint": noisy[order].astype(np.float32),
            "keypoint_score": scores[order].astype(np.float32), "actors": actors}


def _build(seed: int, spec: Mapping[str, Any] = SPEC) -> tuple[dict[str, Any], dict[str, Any]]:
    classes, k = spec["classes"], len(spec["classes"])
    h, w = spec["img_shape"]
    anns, splits = [], {"train": [], "test": []}
    gt: dict[str, Any] = {"labels": list(classes), "gttubes": {}, "nframes": {},
                          "resolution": {}}
    for split, per in (("train", spec["train_per_class"]), ("test", spec["test_per_class"])):
        for c, cname in enumerate(classes):
            for j in range(per):
                co = None
                if split == "test" and j % 2 == 1:
                    r = np.random.default_rng([seed, 7, c, j]).integers(0, k - 1)
                    co = int((c + 1 + r) % k)
                v = render_video(seed, split, j, c, coactor=co, spec=spec)
                name = f"{cname}/v_{cname}_{split}_{j:03d}"
                anns.append({"frame_dir": name, "label": c, "img_shape": (h, w),
                             "original_shape": (h, w), "total_frames": spec["frames"],
                             "keypoint": v["keypoint"], "keypoint_score": v["keypoint_score"]})
                splits[split].append(name)
                tubes: dict[int, list] = {}
                for cls, tube in v["actors"]:
                    tubes.setdefault(cls, []).append(tube)
                gt["gttubes"][name] = tubes
                gt["nframes"][name] = spec["frames"]
                gt["resolution"][name] = (h, w)
    gt["train_videos"] = [splits["train"]]
    gt["test_videos"] = [splits["test"]]
    return {"split": splits, "annotations": anns}, gt


def write_benchmark(folder: str | PathLike[str], seed: int = 0,
                    spec: Mapping[str, Any] = SPEC) -> None:
    """Write the benchmark's two pickles into ``folder`` (about a second);
    :func:`ensure_benchmark` calls it on a temporary folder renamed into place."""
    skel, gt = _build(int(seed), spec)
    save_pickle(skel, Path(folder) / SKELETON_FILE)
    save_pickle(gt, Path(folder) / TUBES_FILE)


def ensure_benchmark(root: str | PathLike[str] | None = None, seed: int = 0,
                     spec: Mapping[str, Any] = SPEC) -> Path:
    """The benchmark folder (default :func:`default_root`), generated when its manifest is
    missing or records another spec or seed (:func:`pgg_zoo.data.ensure_generated`)."""
    root = Path(root) if root is not None else default_root()
    return ensure_generated(root, spec["name"], spec, seed,
                            lambda folder: write_benchmark(folder, seed, spec))


@dataclass(frozen=True, kw_only=True)
class SticksSpec(ParamsSpec):
    """A ``keypoint-sticks`` benchmark: its ``params`` are a design table like :data:`SPEC`."""

    task: str = "keypoint"
    seed: int = 0

    def ensure(self, root: str | PathLike[str] | None = None) -> Path:
        """The benchmark folder (default :meth:`default_root`), generated on first use."""
        return ensure_benchmark(root if root is not None else self.default_root(), self.seed,
                                self.design())


#: The released spec (registered by the keypoint plugin).
STICKS_V1 = SticksSpec(name=BENCHMARK_NAME, params=SPEC)
