"""Speed of MaxBoxAccV2[wsoleval]: pgg_zoo's evaluator vs the straightforward cv2 loop.

Scores N CAMs (default 1000 of 224x224) over the wsolevaluation grid ``np.arange(0, 1, 0.001)``
(1000 thresholds) with MaxBoxAccV2 (all contours, IoU 30/50/70).

* fast: ``BoxAccumulator("wsoleval", variant="v2")`` over all N CAMs.
* naive: what wsolevaluation does per image -- per threshold ``cv2.threshold`` +
  ``cv2.findContours(RETR_TREE, CHAIN_APPROX_SIMPLE)`` + ``cv2.boundingRect`` per contour, then
  the IoU of all boxes against the GT boxes and the per-threshold best. It is timed on a subset
  of ``--naive-images`` CAMs and extrapolated linearly to N (printed as such).

Both run on the same CAMs in the same process; the per-image IoU curves of the subset are
checked to be identical. CAMs are smooth, like real ones: random ``--grid`` x ``--grid`` maps
upsampled bicubically (a CNN's 7x7 / 14x14 / 28x28 feature map), min-max normalized.
The ratio is the median over ``--repeats`` of (naive time per image / fast time per image).

    python benchmarks/wsol_metrics.py                 # ~1-2 min on 2 cores
    python benchmarks/wsol_metrics.py --n-images 200 --naive-images 10 --repeats 1
"""
from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from pgg_zoo.vision.boxes import box_iou
from pgg_zoo_tasks.wsol.metrics import BoxAccumulator, get_preset, normalize_scoremap


def make_data(n: int, size: int, grid: int, seed: int):
    rng = np.random.default_rng(seed)
    cams, gts = [], []
    for _ in range(n):
        small = rng.random((grid, grid)).astype(np.float32)
        cams.append(normalize_scoremap(
            cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)))
        k = int(rng.integers(1, 3))
        xy = np.sort(rng.integers(0, size, (k, 2, 2)), axis=2)
        gts.append(np.stack([xy[:, 0, 0], xy[:, 1, 0], xy[:, 0, 1], xy[:, 1, 1]], 1)
                   .astype(np.float64))
    return cams, gts


def naive_best_ious(cam: np.ndarray, gt: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The straightforward loop (wsolevaluation compute_bboxes_from_scoremaps, all contours)."""
    h, w = cam.shape
    img = np.expand_dims((cam * 255).astype(np.uint8), 2)
    boxes, counts = [], []
    for t in thresholds:
        _, thr = cv2.threshold(img, int(t * np.max(img)), 255, cv2.THRESH_BINARY)
        contours = cv2.findContours(thr, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        if len(contours) == 0:
            boxes.append([[0, 0, 0, 0]])
            counts.append(1)
            continue
        cur = []
        for c in contours:
            x, y, bw, bh = cv2.boundingRect(c)
            cur.append([x, y, min(x + bw, w - 1), min(y + bh, h - 1)])
        boxes.append(cur)
        counts.append(len(cur))
    ious = box_iou(np.concatenate([np.asarray(b) for b in boxes]), gt,
                   plus_one=True).max(axis=1)
    ends = np.cumsum(counts)
    return np.maximum.reduceat(ious, ends - np.asarray(counts))


def naive_maxboxacc(cams, gts, thresholds, deltas=(30, 50, 70)):
    correct = {d: np.zeros(len(thresholds)) for d in deltas}
    curves = []
    for cam, gt in zip(cams, gts):
        best = naive_best_ious(cam, gt, thresholds)
        curves.append(best)
        for d in deltas:
            correct[d] += best >= d / 100
    return curves, float(np.mean([c.max() * 100 / len(cams) for c in correct.values()]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-images", type=int, default=1000)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--interval", type=float, default=0.001, help="cam_curve_interval")
    ap.add_argument("--naive-images", type=int, default=50,
                    help="CAMs the naive loop is timed on (extrapolated to --n-images)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--grid", type=int, default=14, help="CAM feature-map size before upsampling")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    thresholds = np.arange(0, 1, args.interval)
    cams, gts = make_data(args.n_images, args.size, args.grid, args.seed)
    sub = min(args.naive_images, args.n_images)
    print(f"{args.n_images} CAMs of {args.size}x{args.size} (grid {args.grid}), "
          f"{len(thresholds)} CAM thresholds, MaxBoxAccV2[wsoleval]; cv2 {cv2.__version__}, "
          f"{cv2.getNumThreads()} cv2 threads")

    # exactness on the subset
    conv = get_preset("wsoleval", cam_thresholds=thresholds)
    acc = BoxAccumulator(conv, variant="v2")
    curves, naive_v2_sub = naive_maxboxacc(cams[:sub], gts[:sub], thresholds)
    same = all(np.array_equal(acc.update(c, g), n) for c, g, n in zip(cams[:sub], gts[:sub],
                                                                      curves))
    print(f"identical per-threshold IoUs on the {sub} naive CAMs: {same}; "
          f"MaxBoxAccV2 there: fast {acc.compute()['maxboxacc_v2']:.4f}, "
          f"naive {naive_v2_sub:.4f}")

    ratios = []
    for rep in range(args.repeats):
        t0 = time.perf_counter()
        naive_maxboxacc(cams[:sub], gts[:sub], thresholds)
        naive_per = (time.perf_counter() - t0) / sub
        t0 = time.perf_counter()
        acc = BoxAccumulator(conv, variant="v2")
        for c, g in zip(cams, gts):
            acc.update(c, g)
        res = acc.compute()
        fast_per = (time.perf_counter() - t0) / args.n_images
        ratios.append(naive_per / fast_per)
        print(f"repeat {rep + 1}: fast {fast_per * args.n_images:.2f} s for {args.n_images} CAMs "
              f"({fast_per * 1e3:.2f} ms/CAM); naive measured on {sub} CAMs "
              f"({naive_per * 1e3:.2f} ms/CAM), extrapolated to {args.n_images}: "
              f"{naive_per * args.n_images:.2f} s; ratio {naive_per / fast_per:.1f}x")
    print(f"MaxBoxAccV2 over {args.n_images} CAMs: {res['maxboxacc_v2']:.3f} "
          f"(@30 {res['maxboxacc_v2@30']:.3f}, @50 {res['maxboxacc_v2@50']:.3f}, "
          f"@70 {res['maxboxacc_v2@70']:.3f})")
    print(f"speedup (naive extrapolated / fast), median of {len(ratios)}: "
          f"{statistics.median(ratios):.1f}x")


if __name__ == "__main__":
    main()
