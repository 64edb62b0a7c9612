"""The ``act`` protocol on the edge cases where ACT's own code decides the number.

Reference: vkalogeiton/caffe branch ACT-detector, ``act-detector-scripts/ACT.py`` (``frameAP``,
``videoAP``) and ``ACT_utils.py`` (``nms3dt``, ``iou3dt``, ``pr_to_ap``); the 0.5:0.95 average
is MOC-Detector's ``videpAP_050_095``. Every golden value below is derived by hand from those
algorithms (comments), not from pgg_zoo's output.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from pgg_zoo.video.tubes import tube_iou
from pgg_zoo_tasks.stad.metrics import (
    THRESHOLDS_050_095, THRESHOLDS_050_095_ACT, Protocol, act_descending_order, act_nms3dt,
    frame_map, make_metric, numpy_quicksort_argsort, parse_thresholds, video_map,
)

B = [0, 0, 9, 9]
# the act preset with ties in input order (what pgg_zoo did before it followed ACT)
STABLE = Protocol("act-stable", True, True, "trapezoid", "unmatched", tube_nms=0.3,
                  empty_class_ap=0.0, threshold_steps="float")

# np.argsort of 17 equal keys in NumPy's scalar quicksort, traced by hand: n = 17 means
# pr - pl = 16 > 15, so one partition. pm = 8; median-of-3 swaps nothing (all equal); the pivot
# goes to slot 15 (swap 8 <-> 15). Both Hoare scans stop on every slot (equal is not "less"),
# so they swap slots (1,14), (2,13), ..., (7,8) and cross at pi = 8, which swaps with slot 15.
# The halves 0..7 and 9..16 have <= 16 elements: insertion sort, which moves nothing.
ORDER_17_TIES = [0, 14, 13, 12, 11, 10, 9, 15, 8, 6, 5, 4, 3, 2, 1, 7, 16]


def tube(frames, box=B):
    return np.array([[f, *box] for f in frames], dtype=np.float64)


# ---------------------------------------------------------------------------------------
# the sort itself
# ---------------------------------------------------------------------------------------
def test_quicksort_order_of_ties_hand_traced():
    assert numpy_quicksort_argsort(np.ones(17)).tolist() == ORDER_17_TIES
    # up to 16 elements numpy only runs insertion sort: ties keep input order
    assert numpy_quicksort_argsort(np.ones(16)).tolist() == list(range(16))
    # ACT's key is -score in float32: equal descending scores give the same order
    assert act_descending_order([0.5] * 17).tolist() == ORDER_17_TIES
    # scores equal only in float32 are ties for ACT (its arrays are float32)
    assert act_descending_order([0.3 + 1e-12] * 8 + [0.3] * 9).tolist() == ORDER_17_TIES
    # distinct scores: the one sorted order
    assert act_descending_order([0.1, 0.9, 0.5]).tolist() == [1, 2, 0]


_SCALAR_NUMPY = """
import json, sys, numpy as np
arrays = json.load(sys.stdin)
print(json.dumps([np.argsort(np.array(a, dtype=d)).tolist() for a, d in arrays]))
"""


def test_quicksort_emulation_matches_numpy_scalar_path():
    """Cross-check against NumPy itself with its SIMD sorts switched off (the code ACT ran);
    skipped where this NumPy cannot be made to take its scalar path."""
    rng = np.random.default_rng(0)
    arrays = []
    for t in range(300):
        n = int(rng.integers(1, 300)) if t < 290 else int(rng.integers(1000, 5000))
        x = rng.choice(rng.random(int(rng.integers(1, 6))), size=n)
        if t % 5 == 0:
            x[rng.random(n) < 0.1] = np.nan
        if t % 7 == 0:
            x = np.sort(x)[::-1]
        dtype = "float32" if t % 3 == 0 else "float64"
        arrays.append(([None if math.isnan(v) else float(v) for v in x], dtype))
    arrays.append(([1.0] * 17, "float64"))  # the hand-traced case, to detect the scalar path
    env = dict(os.environ, NPY_DISABLE_CPU_FEATURES="X86_V3 X86_V4 AVX512_ICL AVX512_SKX "
                                                    "AVX2 AVX512F")
    try:
        out = subprocess.run([sys.executable, "-c", _SCALAR_NUMPY], input=json.dumps(arrays),
                             capture_output=True, text=True, env=env, timeout=120)
        ref = json.loads(out.stdout)
    except (subprocess.SubprocessError, ValueError):
        pytest.skip("cannot run numpy with its SIMD sorts disabled here")
    if ref[-1] != ORDER_17_TIES:
        pytest.skip("numpy still sorts with SIMD code here; no scalar reference")
    for (a, dtype), expected in zip(arrays, ref):
        x = np.array([np.nan if v is None else v for v in a], dtype=dtype)
        assert numpy_quicksort_argsort(x).tolist() == expected


# ---------------------------------------------------------------------------------------
# a. frame-AP with exact score ties
# ---------------------------------------------------------------------------------------
def test_frame_ap_ties_follow_act_quicksort_order():
    # one GT box, on frame 2; detection k (0..16) on frame k + 1, all with score 0.5: only
    # detection 1 is a TP, the others are on frames without GT (FP under ACT).
    gt = {"v": {0: [tube([2])]}}
    dets = [("v", k + 1, 0, 0.5, B) for k in range(17)]
    # ACT: np.argsort(-scores) puts detection 1 15th (ORDER_17_TIES). PR after 14 FPs is
    # (P 0, R 0); the TP gives (1/15, 1). pr_to_ap from (1, 0): the only recall step is
    # 1 * (0 + 1/15) / 2 = 1/30.
    assert frame_map(dets, gt, protocol="act").value == pytest.approx(1 / 30)
    # input order (tie_order="stable", otherwise act): TP 2nd -> 1 * (0 + 1/2) / 2
    assert frame_map(dets, gt, protocol=STABLE).value == pytest.approx(1 / 4)


# ---------------------------------------------------------------------------------------
# b. equal-score tubes in 3-D NMS
# ---------------------------------------------------------------------------------------
SHIFTED = [4, 0, 13, 9]  # vs B (+1 px): overlap 6 x 10 = 60, union 140 -> IoU 3/7


def test_nms3dt_keeps_the_last_of_equal_scores():
    a, b = tube(range(1, 11)), tube(range(1, 11), SHIFTED)
    iou = lambda x, y: tube_iou(x, y, plus_one=True)  # noqa: E731
    # ACT: I = np.argsort([0.8, 0.8]) = [0, 1] (insertion sort); keep I[-1] = 1, then drop 0
    # (3D IoU 3/7 > 0.3)
    assert act_nms3dt([a, b], [0.8, 0.8], 0.3, iou).tolist() == [1]
    # distinct scores: the best survives whatever its position
    assert act_nms3dt([a, b], [0.9, 0.8], 0.3, iou).tolist() == [0]
    assert act_nms3dt([a, b, tube(range(1, 11), [50, 50, 59, 59])], [0.8, 0.8, 0.8], 0.3,
                      iou).tolist() == [2, 1]


def test_video_ap_equal_score_tubes_act_keeps_the_one_act_keeps():
    gt = {"v": {0: [tube(range(1, 11))]}}
    tubes = [("v", 0, 0.8, tube(range(1, 11))),  # the exact GT tube
             ("v", 0, 0.8, tube(range(1, 11), SHIFTED))]  # IoU 3/7 with GT and with tube 0
    # ACT: nms3dt keeps tube 1 only (test above); its IoU 3/7 < 0.5 -> FP; PR (1,0), (0,0) ->
    # AP 0
    assert video_map(tubes, gt, iou_threshold=0.5, protocol="act").value == pytest.approx(0.0)
    # stable NMS keeps the first, the exact tube: TP -> AP 1
    assert video_map(tubes, gt, iou_threshold=0.5, protocol=STABLE).value == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------
# c. a class with neither ground truth nor detections
# ---------------------------------------------------------------------------------------
def test_class_without_gt_and_detections_counts_zero_under_act():
    # class 0 found exactly (AP 1); class 1 has no GT and no detections. ACT: its pr is the
    # single row (1, 0), pr_to_ap sums over no steps -> 0, and np.mean over both labels -> 1/2
    gt_f = {"v": {0: [tube([1])]}}
    dets = [("v", 1, 0, 0.9, B)]
    r = frame_map(dets, gt_f, protocol="act", labels=2)
    assert r.ap == {0: 1.0, 1: 0.0} and r.value == pytest.approx(0.5)
    gt_v = {"v": {0: [tube(range(1, 11))]}}
    tubes = [("v", 0, 0.9, tube(range(1, 11)))]
    assert video_map(tubes, gt_v, iou_threshold=0.5, protocol="act", labels=2).value == \
        pytest.approx(0.5)
    assert video_map(tubes, gt_v, iou_threshold="0.5:0.95", protocol="act", labels=2).value \
        == pytest.approx(0.5)
    # the other presets leave such a class out
    assert frame_map(dets, gt_f, protocol="voc", labels=2).value == pytest.approx(1.0)
    assert video_map(tubes, gt_v, protocol="mmaction2", labels=2).value == pytest.approx(1.0)


def test_class_without_gt_but_with_detections_is_left_out_under_act():
    # ACT divides by zero there (recall tp / (tp + fn) = 0 / 0): no ACT number; every preset
    # leaves the class out
    gt = {"v": {0: [tube([1])]}}
    dets = [("v", 1, 0, 0.9, B), ("v", 1, 1, 0.4, B)]
    r = frame_map(dets, gt, protocol="act", labels=2)
    assert math.isnan(r.ap[1]) and r.value == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------
# d. the 0.5:0.95 thresholds
# ---------------------------------------------------------------------------------------
def test_050_095_thresholds_are_acts_floats():
    assert THRESHOLDS_050_095_ACT[7] == 0.5 + 0.05 * 7 == 0.8500000000000001
    assert THRESHOLDS_050_095[7] == 0.85
    assert parse_thresholds("0.5:0.95", "float") == THRESHOLDS_050_095_ACT
    assert parse_thresholds("0.5:0.95") == THRESHOLDS_050_095


def test_video_ap_iou_of_exactly_085():
    # GT frames 1..20, detection frames 1..17 with the same box: 3D IoU = 17/20 * 1 = 0.85
    gt = {"v": {0: [tube(range(1, 21))]}}
    tubes = [("v", 0, 0.9, tube(range(1, 18)))]
    assert tube_iou(gt["v"][0][0], tubes[0][3], plus_one=True) == 0.85
    # ACT: TP (AP 1) at 0.5 .. 0.8 (7 thresholds); 0.85 >= 0.8500000000000001 is False, and
    # 0.9, 0.95 fail too (AP 0) -> mean 7/10
    act = video_map(tubes, gt, iou_threshold="0.5:0.95", protocol="act")
    assert act.value == pytest.approx(0.7)
    assert act.per_threshold[0.8500000000000001] == 0.0
    assert float(make_metric("video_map@0.5:0.95[act]")(tubes, gt)) == pytest.approx(0.7)
    # rounded thresholds (voc): 0.85 >= 0.85 -> 8 of 10
    assert video_map(tubes, gt, iou_threshold="0.5:0.95", protocol="voc").value == \
        pytest.approx(0.8)
