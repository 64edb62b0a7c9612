"""Golden tests of the WSOL metrics (in the spirit of wsolevaluation's evaluation_test.py).

Expected numbers are computed by hand in the comments. Box conventions of the ``wsoleval``
preset: uint8 CAM ``(cam*255).astype(uint8)``, threshold ``int(t * max)``, foreground
``q > thresh``, box ``(x, y, min(x+w, W-1), min(y+h, H-1))`` from ``cv2.boundingRect``, IoU with
``+1`` widths, no contour -> box ``(0, 0, 0, 0)``.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pgg_zoo.vision.boxes import box_iou
from pgg_zoo_tasks.wsol.metrics import (
    BoxAccumulator,
    PxAPAccumulator,
    best_iou_per_threshold,
    boxes_at_thresholds,
    get_preset,
    metric_factories,
    normalize_scoremap,
    register_metrics,
    resize_boxes,
    threshold_levels,
)
from pgg_zoo_tasks.wsol.metrics import components

WS = get_preset("wsoleval", cam_thresholds=(0.5,))


def block(h, w, y0, y1, x0, x1, value=1.0, base=0.0):
    cam = np.full((h, w), base)
    cam[y0:y1 + 1, x0:x1 + 1] = value
    return cam


def iou1(cam, gt, conv=WS, contours="all", method="fast"):
    return best_iou_per_threshold(cam, np.asarray(gt, float), conv, contours, method)[0]


# ---------------------------------------------------------------- CAM -> box conventions
@pytest.mark.parametrize("method", ["fast", "reference"])
def test_box_end_quirk_and_plus_one(method):
    # 3x3 block at x,y in 1..3 of a 5x5 map: boundingRect (1,1,3,3) -> box (1,1,4,4).
    # vs GT (1,1,3,3): inter 3*3=9, box area 4*4=16, GT 9 -> 9/16
    cam = block(5, 5, 1, 3, 1, 3)
    assert boxes_at_thresholds(cam, WS)[0].tolist() == [[1, 1, 4, 4]]
    assert iou1(cam, [[1, 1, 3, 3]], method=method) == pytest.approx(9 / 16)
    # without +1 (inclusive box end): box (1,1,3,3) == GT -> 1
    conv = WS.with_(iou_plus_one=False, box_end="inclusive")
    assert iou1(cam, [[1, 1, 3, 3]], conv, method=method) == 1.0
    # without +1 but wsoleval's box end: box (1,1,4,4): inter 2*2=4, areas 9 and 4 -> 4/9
    conv = WS.with_(iou_plus_one=False)
    assert iou1(cam, [[1, 1, 3, 3]], conv, method=method) == pytest.approx(4 / 9)


@pytest.mark.parametrize("method", ["fast", "reference"])
def test_box_clipped_at_border(method):
    # block touching the bottom-right corner: x+w = 5 is clipped to W-1 = 4 -> box == GT
    cam = block(5, 5, 2, 4, 2, 4)
    assert boxes_at_thresholds(cam, WS)[0].tolist() == [[2, 2, 4, 4]]
    assert iou1(cam, [[2, 2, 4, 4]], method=method) == 1.0
    # TS-CAM does not clip: box (2,2,5,5), inter 9, area 16 -> 9/16
    ts = get_preset("tscam", cam_thresholds=(0.5,))
    assert iou1(cam, [[2, 2, 4, 4]], ts, "largest", method) == pytest.approx(9 / 16)


@pytest.mark.parametrize("method", ["fast", "reference"])
def test_compare_strict_vs_inclusive(method):
    # centre 1.0, 3x3 ring 0.5 -> uint8 127 (0.5*255=127.5 truncated); t=0.5 -> thresh 127.
    # '>' keeps only the centre: box (2,2,3,3) vs GT (1,1,3,3): inter 2*2=4, areas 4, 9 -> 4/9.
    # '>=' keeps the ring too: box (1,1,4,4) -> 9/16.
    cam = block(5, 5, 1, 3, 1, 3, value=0.5)
    cam[2, 2] = 1.0
    gt = [[1, 1, 3, 3]]
    assert iou1(cam, gt, WS, method=method) == pytest.approx(4 / 9)
    assert iou1(cam, gt, WS.with_(compare=">="), method=method) == pytest.approx(9 / 16)


def test_threshold_is_relative_to_uint8_max():
    # max 0.8 -> uint8 204; t=0.5 -> int(0.5*204)=102; a pixel at 0.41 -> 104 > 102 is kept,
    # while int(0.5*255)=127 would drop it
    cam = np.zeros((4, 4))
    cam[0, 0] = 0.8
    cam[3, 3] = 0.41
    r, level, n = threshold_levels(cam, WS)
    assert n == 1 and r[3, 3] > level[0] and r[1, 1] <= level[0]
    assert len(boxes_at_thresholds(cam, WS)[0]) == 2


@pytest.mark.parametrize("method", ["fast", "reference"])
def test_empty_map_gives_origin_box(method):
    # all-zero CAM: nothing is > 0, box (0,0,0,0) is a 1-pixel box at the origin with +1:
    # vs GT (0,0,1,1): inter 1, areas 1 and 4 -> 1/4
    cam = np.zeros((6, 6))
    assert iou1(cam, [[0, 0, 1, 1]], method=method) == pytest.approx(0.25)
    assert iou1(cam, [[2, 2, 3, 3]], method=method) == 0.0


@pytest.mark.parametrize("method", ["fast", "reference"])
def test_largest_vs_all_contours(method):
    # a 4x4 blob at the origin and a 2x2 blob at (7..8, 7..8); GT on the small blob.
    # largest: box (0,0,4,4), no overlap -> 0. all: small blob box (7,7,9,9):
    # inter 2*2=4, areas 9 and 4 -> 4/9
    cam = block(10, 10, 0, 3, 0, 3)
    cam[7:9, 7:9] = 1.0
    gt = [[7, 7, 8, 8]]
    assert iou1(cam, gt, contours="largest", method=method) == 0.0
    assert iou1(cam, gt, contours="all", method=method) == pytest.approx(4 / 9)


@pytest.mark.parametrize("method", ["fast", "reference"])
def test_hole_contour_counts_in_all_contours(method):
    # RETR_TREE also returns hole contours. A 9x9 block with a 1-pixel hole at (4,4):
    # outer box (0,0,8,8) (x+w=9 clipped); the hole's contour runs through pixels 3..5 ->
    # box (3,3,6,6). GT (3,3,5,5): outer 9/81, hole 9/16 -> best 9/16.
    cam = np.ones((9, 9))
    cam[4, 4] = 0.0
    gt = [[3, 3, 5, 5]]
    assert iou1(cam, gt, method=method) == pytest.approx(9 / 16)
    assert iou1(cam, gt, contours="largest", method=method) == pytest.approx(9 / 81)


@pytest.mark.parametrize("method", ["fast", "reference"])
def test_multiple_gt_boxes_best_counts(method):
    cam = block(5, 5, 1, 3, 1, 3)
    assert iou1(cam, [[0, 0, 0, 0], [1, 1, 3, 3]], method=method) == pytest.approx(9 / 16)


def test_tozero_equals_binary_for_strict_compare():
    rng = np.random.default_rng(0)
    cam = normalize_scoremap(rng.random((12, 12)))
    gt = [[2, 2, 8, 9]]
    for contours in ("all", "largest"):
        a = best_iou_per_threshold(cam, gt, WS.with_(cam_thresholds=np.arange(0, 1, .05)),
                                   contours, "reference")
        b = best_iou_per_threshold(cam, gt, WS.with_(cam_thresholds=np.arange(0, 1, .05),
                                                     threshold_type="tozero"),
                                   contours, "reference")
        assert np.array_equal(a, b)


def test_box_iou_matches_wsolevaluation_cases():
    # calculate_multiple_iou semantics: +1 widths, disjoint boxes 0, identical 1
    a = np.array([[0, 0, 9, 9], [0, 0, 4, 4]])
    b = np.array([[0, 0, 9, 9], [20, 20, 30, 30]])
    m = box_iou(a, b, plus_one=True)
    assert m.shape == (2, 2)
    assert m[0, 0] == 1.0 and m[0, 1] == 0.0 and m[1, 1] == 0.0
    assert m[1, 0] == pytest.approx(25 / 100)
    # degenerate union without +1 -> 0, not NaN
    assert box_iou([[1, 1, 1, 1]], [[1, 1, 1, 1]], plus_one=False)[0, 0] == 0.0


def test_resize_boxes_truncates_like_resize_bbox():
    # (10,20,30,40) from 100x50 to 224x224: 22.4->22, 89.6->89, 67.2->67, 179.2->179
    out = resize_boxes([[10, 20, 30, 40]], (100, 50), (224, 224))
    assert out.tolist() == [[22, 89, 67, 179]]


def test_normalize_scoremap():
    assert np.array_equal(normalize_scoremap(np.full((3, 3), 7.0)), np.zeros((3, 3)))
    assert np.array_equal(normalize_scoremap(np.array([[np.nan, 1.0]])), np.zeros((1, 2)))
    out = normalize_scoremap(np.array([[2.0, 4.0, 6.0]]))
    assert out.tolist() == [[0.0, 0.5, 1.0]]


# ---------------------------------------------------------------- accumulated metrics
def test_maxboxacc_v2_and_v1_two_images():
    # image A: IoU 9/16 = 0.5625 at every threshold (binary CAM); image B: empty CAM, GT far away
    # (IoU 0). @30: 50%, @50: 50%, @70: 0% -> V2 = (50+50+0)/3; V1 (@50) = 50.
    a_cam, a_gt = block(5, 5, 1, 3, 1, 3), [[1, 1, 3, 3]]
    b_cam, b_gt = np.zeros((10, 10)), [[5, 5, 9, 9]]
    t = np.arange(0, 1, 0.1)
    v2 = BoxAccumulator("wsoleval", variant="v2", cam_thresholds=t)
    v1 = BoxAccumulator("wsoleval", variant="v1", cam_thresholds=t)
    for acc in (v2, v1):
        acc.update(a_cam, a_gt)
        acc.update(b_cam, b_gt)
    r2, r1 = v2.compute(), v1.compute()
    assert r2["maxboxacc_v2@30"] == 50.0 and r2["maxboxacc_v2@50"] == 50.0
    assert r2["maxboxacc_v2@70"] == 0.0
    assert r2["maxboxacc_v2"] == pytest.approx(100 / 3)
    assert r2["best_threshold@50"] == 0.0  # first threshold of the (flat) best
    assert r1["maxboxacc_v1"] == 50.0 and "maxboxacc_v1@50" in r1


def test_maxboxacc_picks_best_threshold_per_iou():
    # centre 1.0 in a ring of 0.5 (uint8 127): t<=0.49 -> thresh <=124 keeps the 3x3 ring,
    # t>=0.5 -> only the centre. GT (1,1,3,3): ring IoU 9/16, centre 4/9.
    # @50: best at t=0 (100%); @40: both pass, first best is t=0.
    cam = block(5, 5, 1, 3, 1, 3, value=0.5)
    cam[2, 2] = 1.0
    acc = BoxAccumulator("wsoleval", variant=None, iou_thresholds=(40, 50, 60),
                         cam_thresholds=(0.0, 0.5))
    acc.update(cam, [[1, 1, 3, 3]])
    out = acc.compute()
    assert out["maxboxacc@50"] == 100.0 and out["best_threshold@50"] == 0.0
    assert out["maxboxacc@60"] == 0.0
    curves = acc.curves()
    assert curves[40.0].tolist() == [100.0, 100.0]
    assert curves[50.0].tolist() == [100.0, 0.0]


def test_top1_top5_gt_known_semantics():
    # A: box passes (9/16), label 1 is 2nd in top-5 -> top-1 no, top-5 yes.
    # B: empty CAM (IoU 0), label correct at top-1 -> fails on the box.
    # -> gt_known 50, top1 0, top5 50
    acc = BoxAccumulator("wsoleval", variant="v1", cam_thresholds=(0.5,))
    acc.update(block(5, 5, 1, 3, 1, 3), [[1, 1, 3, 3]], pred_top5=[3, 1, 2, 4, 5], gt_label=1)
    acc.update(np.zeros((10, 10)), [[5, 5, 9, 9]], pred_top5=[7, 1, 2, 4, 5], gt_label=7)
    out = acc.compute()
    assert out["gt_known_loc"] == 50.0
    assert out["top1_loc"] == 0.0
    assert out["top5_loc"] == 50.0
    assert out["loc_threshold"] == 0.5


def test_tscam_strict_topk_inclusive_gt_known():
    # one pixel at the origin: TS-CAM box (0,0,1,1) (x+w, unclipped), area 2*2=4 with +1.
    # GT (0,0,1,0): area 2*1=2, inter 2 -> IoU 2/4 = 0.5 exactly.
    # TS-CAM: GT-known needs iou >= 0.5 (passes), Top-1/Top-5 need iou > 0.5 (fail).
    cam = np.zeros((5, 5))
    cam[0, 0] = 1.0
    acc = BoxAccumulator("tscam", variant=None)
    acc.update(cam, [[0, 0, 1, 0]], pred_top5=[0, 1, 2, 3, 4], gt_label=0)
    out = acc.compute()
    assert out["gt_known_loc"] == 100.0
    assert out["top1_loc"] == 0.0 and out["top5_loc"] == 0.0
    assert out["loc_threshold"] == 0.2


def test_fixed_loc_threshold():
    cam = block(5, 5, 1, 3, 1, 3, value=0.5)
    cam[2, 2] = 1.0
    acc = BoxAccumulator("wsoleval", variant="v1", cam_thresholds=(0.0, 0.5), loc_threshold=0.5)
    acc.update(cam, [[1, 1, 3, 3]], pred_top5=[0], gt_label=0)
    out = acc.compute()  # at t=0.5 only the centre: 4/9 < 0.5
    assert out["gt_known_loc"] == 0.0 and out["top1_loc"] == 0.0
    with pytest.raises(ValueError, match="not on the CAM threshold grid"):
        BoxAccumulator(cam_thresholds=(0.0, 0.5), loc_threshold=0.3)


def test_merge_equals_single_stream():
    rng = np.random.default_rng(5)
    cams = [normalize_scoremap(rng.random((9, 9))) for _ in range(4)]
    gts = [[[1, 1, 6, 6]], [[0, 0, 3, 8]], [[2, 4, 8, 8]], [[0, 0, 8, 8]]]
    t = np.arange(0, 1, 0.1)
    one = BoxAccumulator(cam_thresholds=t)
    a, b = BoxAccumulator(cam_thresholds=t), BoxAccumulator(cam_thresholds=t)
    for i, (c, g) in enumerate(zip(cams, gts)):
        one.update(c, g)
        (a if i % 2 else b).update(c, g)
    a.merge(b)
    assert a.compute() == one.compute()


# ---------------------------------------------------------------- PxAP
def test_pxap_tiny_with_ignore_mask():
    # thresholds (0, .5) -> bins [0,.5) [.5,1) [1,2) [2,3]
    # fg values 1.0 (bin 2) and 0.6 (bin 1); bg 0.9 (bin 1) and 0.0 (bin 0).
    # no ignore: from the top, tp=[0,1,2,2], fp=[0,0,1,2]; precision [-,1,2/3,1/2],
    # recall [0,.5,1,1] -> .5*1 + .5*2/3 = 0.8333 -> 83.33
    # ignoring the 0.9 pixel: fp=[0,0,0,1] -> precision [-,1,1,2/3] -> .5 + .5 = 100
    cam = np.array([[1.0, 0.9], [0.6, 0.0]])
    gt = np.array([[1, 0], [1, 0]], dtype=bool)
    ign = np.array([[0, 1], [0, 0]], dtype=bool)
    acc = PxAPAccumulator(cam_thresholds=(0.0, 0.5))
    acc.update(cam, gt)
    assert acc.compute()["pxap"] == pytest.approx(100 * (0.5 + 0.5 * 2 / 3))
    acc = PxAPAccumulator(cam_thresholds=(0.0, 0.5))
    acc.update(cam, gt, ignore_mask=ign)
    assert acc.compute()["pxap"] == pytest.approx(100.0)
    # the ignore region never removes foreground pixels
    acc = PxAPAccumulator(cam_thresholds=(0.0, 0.5))
    acc.update(cam, gt, ignore_mask=np.ones((2, 2), bool))
    assert acc.compute()["pxap"] == pytest.approx(100.0)


def test_pxap_perfect_and_errors():
    cam = np.array([[1.0, 0.0], [0.0, 0.0]])
    acc = PxAPAccumulator()
    acc.update(cam, cam > 0.5)
    assert acc.compute()["pxap"] == pytest.approx(100.0)
    acc = PxAPAccumulator()
    acc.update(cam, np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match="foreground"):
        acc.compute()
    with pytest.raises(ValueError, match="shape"):
        PxAPAccumulator().update(cam, np.zeros((3, 2), bool))


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("cam, match", [
    (np.zeros((2, 3, 4)), "2-D"),
    (np.array([[0.5, np.nan]]), "NaN"),
    (np.array([[0.5, 1.5]]), r"\[0, 1\]"),
    (np.zeros((3, 3), dtype=np.uint8), "float"),
    ([[0.1, 0.2]], "numpy array"),
    (np.zeros((0, 4)), "empty"),
])
def test_bad_cam_raises_value_error(cam, match):
    with pytest.raises(ValueError, match=match):
        BoxAccumulator().update(cam, [[0, 0, 1, 1]])


@pytest.mark.parametrize("boxes", [[[0, 0, 1]], [[3, 0, 1, 1]], np.zeros((0, 4)),
                                   [[0, np.nan, 1, 1]]])
def test_bad_boxes_raise_value_error(boxes):
    with pytest.raises(ValueError, match="gt_boxes"):
        BoxAccumulator().update(np.zeros((4, 4)), boxes)


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="unknown WSOL box preset"):
        BoxAccumulator("nope")
    with pytest.raises(ValueError, match="compare"):
        get_preset("wsoleval", compare="<")
    with pytest.raises(ValueError, match="both"):
        BoxAccumulator().update(np.zeros((4, 4)), [[0, 0, 1, 1]], pred_top5=[1])


# ---------------------------------------------------------------- fast == reference
def _random_cam(rng, kind, h, w):
    if kind == 0:
        return rng.random((h, w))
    if kind == 1:
        return rng.integers(0, 4, (h, w)) / 3.0  # plateaus, ties
    x = rng.random((3, 3)).astype(np.float32)
    return normalize_scoremap(cv2.resize(x, (w, h), interpolation=cv2.INTER_CUBIC))


def _random_gt(rng, h, w):
    k = int(rng.integers(1, 4))
    x = np.sort(rng.integers(0, w, (k, 2)), axis=1)
    y = np.sort(rng.integers(0, h, (k, 2)), axis=1)
    return np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], axis=1).astype(float)


CONVS = [
    get_preset("wsoleval", cam_thresholds=np.arange(0, 1, 0.02)),
    get_preset("wsoleval", compare=">=", cam_thresholds=np.arange(0, 1, 0.05)),
    get_preset("tscam", cam_thresholds=np.arange(0, 1, 0.1)),
    get_preset("wsoleval", quantize=None, compare=">=", threshold_type="tozero",
               cam_thresholds=np.arange(0, 1, 0.05)),
    get_preset("wsoleval", quantize=None, relative_to_max=False, box_end="inclusive",
               iou_plus_one=False, cam_thresholds=np.arange(0, 1, 0.05)),
]


@pytest.mark.parametrize("f32", [2 ** 24, 0],
                         ids=["float32-keys", "int64-keys"])
def test_fast_equals_reference_on_random_cams(monkeypatch, f32):
    monkeypatch.setattr(components, "FLOAT32_EXACT", f32)
    rng = np.random.default_rng(1234)
    for trial in range(45):
        h, w = (int(v) for v in rng.integers(1, 20, size=2))
        cam = _random_cam(rng, trial % 3, h, w)
        gt = _random_gt(rng, h, w)
        conv = CONVS[trial % len(CONVS)]
        for contours in ("all", "largest"):
            fast = best_iou_per_threshold(cam, gt, conv, contours, "fast")
            ref = best_iou_per_threshold(cam, gt, conv, contours, "reference")
            assert np.array_equal(fast, ref), (trial, conv, contours, cam.round(3).tolist())


def test_fast_equals_reference_wsoleval_default_grid():
    # the wsolevaluation default grid (0.001, 1000 thresholds) on smooth 24x24 CAMs
    rng = np.random.default_rng(7)
    conv = get_preset("wsoleval")
    assert len(conv.cam_thresholds) == 1000
    for _ in range(3):
        cam = _random_cam(rng, 2, 24, 24)
        gt = _random_gt(rng, 24, 24)
        assert np.array_equal(best_iou_per_threshold(cam, gt, conv, "all"),
                              best_iou_per_threshold(cam, gt, conv, "all", "reference"))


def test_component_extents_match_opencv_contours():
    # outer boxes + hole boxes (one pixel wider) == boundingRect of every RETR_TREE contour
    rng = np.random.default_rng(99)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(1, 14, size=2))
        n = int(rng.integers(1, 5))
        r = rng.integers(0, n + 1, (h, w))
        j, x0, y0, x1, y1, _, _ = components.component_extents(r, n)
        hj, hx0, hy0, hx1, hy1 = components.hole_extents(r, n)
        for lv in range(n):
            cs = cv2.findContours((r > lv).astype(np.uint8) * 255, cv2.RETR_TREE,
                                  cv2.CHAIN_APPROX_SIMPLE)[0]
            ref = sorted((x, y, x + bw - 1, y + bh - 1)
                         for x, y, bw, bh in map(cv2.boundingRect, cs))
            mine = [tuple(map(int, b)) for b, k in zip(zip(x0, y0, x1, y1), j) if k == lv]
            mine += [(int(a) - 1, int(b) - 1, int(c) + 1, int(d) + 1)
                     for a, b, c, d, k in zip(hx0, hy0, hx1, hy1, hj) if k == lv]
            assert sorted(mine) == ref


# ---------------------------------------------------------------- registration
def test_register_metrics_into_registry(monkeypatch):
    import pgg_zoo.registry as reg

    fresh = reg.Registry("metric")
    monkeypatch.setattr(reg, "METRICS", fresh)
    # keep the plugin machinery (other tasks' metrics) out of this fresh registry
    monkeypatch.setattr(reg, "load_plugins", lambda *a, **k: [])
    register_metrics()
    for name in ("maxboxacc_v2[wsoleval]", "maxboxacc_v1[wsoleval]", "top1_loc[wsoleval]",
                 "top5_loc[wsoleval]", "gt_known_loc[wsoleval]", "pxap[wsoleval]"):
        assert name in fresh
        assert fresh.meta(name)["task"] == "wsol"
    acc = fresh.get("maxboxacc_v2[wsoleval]")(cam_thresholds=(0.5,))
    acc.update(block(5, 5, 1, 3, 1, 3), [[1, 1, 3, 3]])
    assert acc.compute()[acc.primary_key] == pytest.approx((100 + 100 + 0) / 3)
    assert set(metric_factories()) == set(fresh.names())


@pytest.mark.parametrize("connectivity", [8, 4])
def test_basins_float32_keys_equal_int64_keys_on_large_maps(monkeypatch, connectivity):
    # the float32 path recovers the argmax index with a float floor of key / n: it must give
    # the exact basins at full size (224 x 224, up to the largest value float32 keys allow)
    rng = np.random.default_rng(5)
    r = rng.integers(0, 333, (224, 224))
    fast = components._basins(r, connectivity)
    monkeypatch.setattr(components, "FLOAT32_EXACT", 0)
    ref = components._basins(r, connectivity)
    assert np.array_equal(fast[0], ref[0]) and np.array_equal(fast[1], ref[1])
