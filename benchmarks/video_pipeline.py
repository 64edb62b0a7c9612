"""Video input pipeline speed: decord vs PyAV on the same clips, in the same run.

Decodes ``--clips`` key-frame clips (``--clip-len`` frames, ``--stride``) from the embedded
``stad-sprites-v1`` benchmark videos (or ``--videos DIR`` of your own mp4 files) with
``read_clip(backend="decord")`` and ``read_clip(backend="pyav")``, alternating backends per
round so that disk caches and CPU frequency affect both alike, and prints clips/s and the ratio.
Also times the full ``TubeDataset`` item (decode + resize + normalize + boxes).

    python benchmarks/video_pipeline.py [--clips 200] [--clip-len 8] [--rounds 3]

A printed ratio is a measurement on this machine, not a test: nothing here asserts a speed.
Last, the training input pipeline: decode + resize + actor-tube paste synthesis of batches of 8
clips (``TubeDataset`` items -> ``VideoPaste``), with decord and with PyAV, in the same run.
Times are medians over ``--rounds``.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--clip-len", type=int, default=8)
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--videos", type=str, default=None, help="folder of mp4 files")
    ap.add_argument("--root", type=str, default=None, help="benchmark cache root")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from pgg_zoo_tasks.stad.data import TubeDataset, ensure_stad_benchmark, read_clip
    from pgg_zoo_tasks.stad.data.benchmark import ANNOTATION_FILE
    from pgg_zoo_tasks.stad.data.video import iter_video_files, probe_video

    t0 = time.perf_counter()
    folder = ensure_stad_benchmark(args.root)
    print(f"benchmark at {folder} (ensure: {time.perf_counter() - t0:.2f} s)")
    files = iter_video_files(args.videos or folder / "videos")
    if not files:
        raise SystemExit("no video files found")
    rng = np.random.default_rng(0)
    lengths = {f: probe_video(f)[0] for f in files}
    jobs = []
    for _ in range(args.clips):
        f = files[int(rng.integers(len(files)))]
        n = lengths[f]
        key = int(rng.integers(n))
        idx = np.clip(key + (np.arange(args.clip_len) - args.clip_len // 2) * args.stride, 0,
                      n - 1)
        jobs.append((f, idx))
    h, w = read_clip(files[0], [0]).shape[1:3]
    print(f"{platform.node()} {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus; {len(files)} files {w}x{h}; {args.clips} clips of "
          f"{args.clip_len} frames, stride {args.stride}")

    times: dict[str, list[float]] = {"decord": [], "pyav": []}
    for r in range(args.rounds):
        order = ["decord", "pyav"] if r % 2 == 0 else ["pyav", "decord"]
        for backend in order:
            t = time.perf_counter()
            for f, idx in jobs:
                read_clip(f, idx, backend=backend)
            times[backend].append(time.perf_counter() - t)
    med = {k: float(np.median(v)) for k, v in times.items()}
    print("decode only:")
    for k in ("decord", "pyav"):
        print(f"  {k:7s} {args.clips / med[k]:8.1f} clips/s  (median of {args.rounds}: "
              f"{med[k]:.3f} s; all {', '.join(f'{x:.3f}' for x in times[k])})")
    print(f"  decord / PyAV speed ratio: {med['pyav'] / med['decord']:.2f}x")

    if args.videos is None:
        ds = TubeDataset(folder, ANNOTATION_FILE, "train", clip_len=args.clip_len,
                         stride=args.stride, size=64, source="videos")
        idx = rng.integers(len(ds), size=min(args.clips, len(ds)))
        t = time.perf_counter()
        for i in idx:
            ds[int(i)]
        dt = time.perf_counter() - t
        print(f"  TubeDataset item (decode+resize+normalize+boxes): {len(idx) / dt:8.1f} items/s")
        paste_pipeline(folder, args, rng)


def paste_pipeline(folder: Path, args: argparse.Namespace, rng: np.random.Generator) -> None:
    """decode + resize + video paste on batches of 8 clips, decord vs PyAV, medians."""
    import torch

    from pgg_zoo_tasks.stad.data import TubeDataset
    from pgg_zoo_tasks.stad.data.benchmark import ANNOTATION_FILE
    from pgg_zoo_tasks.stad.paste import VideoPaste

    paste = VideoPaste()
    sets = {b: TubeDataset(folder, ANNOTATION_FILE, "train", clip_len=args.clip_len,
                           stride=args.stride, size=64, source="videos", backend=b)
            for b in ("decord", "pyav")}
    n = len(sets["decord"])
    order_idx = rng.integers(n, size=min(args.clips, n) // 8 * 8).reshape(-1, 8)
    times: dict[str, list[float]] = {"decord": [], "pyav": []}
    for r in range(args.rounds):
        for backend in (["decord", "pyav"] if r % 2 == 0 else ["pyav", "decord"]):
            ds = sets[backend]
            g = torch.Generator().manual_seed(0)
            t = time.perf_counter()
            for batch_idx in order_idx:
                items = [ds[int(i)] for i in batch_idx]
                batch = {"inputs": torch.stack([it["inputs"] for it in items]),
                         "boxes": [it["boxes"] for it in items],
                         "box_labels": [it["labels"] for it in items]}
                paste(batch, g)
            times[backend].append(time.perf_counter() - t)
    clips = order_idx.size
    med = {k: float(np.median(v)) for k, v in times.items()}
    print(f"decode + resize + paste synthesis, batches of 8 ({clips} clips):")
    for k in ("decord", "pyav"):
        print(f"  {k:7s} {clips / med[k]:8.1f} clips/s  (median of {args.rounds}: {med[k]:.3f} s)")
    print(f"  decord / PyAV pipeline ratio: {med['pyav'] / med['decord']:.2f}x")


if __name__ == "__main__":
    main()
