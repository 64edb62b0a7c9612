"""Golden tests of the STAD metrics (values derived by hand in the comments)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from pgg_zoo.video.tubes import tube_iou, tube_nms
from pgg_zoo.vision.boxes import box_iou
from pgg_zoo_tasks.stad.metrics import (
    PROTOCOLS, Protocol, ap_trapezoid, ap_voc, average_precision, frame_map,
    link_frame_detections, link_video, make_metric, metric_names, pr_curve, register_metrics,
    soft_nms_linear, tubes_for_video_map, video_map,
)

B = [0, 0, 9, 9]


def tube(frames, box=B):
    return np.array([[f, *box] for f in frames], dtype=np.float64)


# ---------------------------------------------------------------------------------------
# IoU
# ---------------------------------------------------------------------------------------
def test_box_iou_plus_one_and_continuous():
    a, b = np.array([B]), np.array([[5, 0, 14, 9]])
    # +1: both 10x10 = 100 px, overlap columns 5..9 = 5 x 10 = 50 -> 50 / 150
    assert box_iou(a, b, plus_one=True)[0, 0] == pytest.approx(1 / 3)
    # continuous: areas 9x9 = 81, overlap 4x9 = 36 -> 36 / 126
    assert box_iou(a, b, plus_one=False)[0, 0] == pytest.approx(2 / 7)
    # disjoint and degenerate boxes give 0, never nan
    assert box_iou(a, np.array([[50, 50, 60, 60]]), plus_one=False)[0, 0] == 0
    assert box_iou(np.array([[1, 1, 1, 1]]), np.array([[1, 1, 1, 1]]), plus_one=False)[0, 0] == 0


def test_tube_iou_temporal_conventions():
    g, d = tube(range(1, 11)), tube(range(6, 16))
    # frames: overlap 6..10 = 5 frames, union 1..15 = 15 frames; same boxes -> 1/3
    assert tube_iou(g, d, plus_one=True, temporal_plus_one=True) == pytest.approx(1 / 3)
    # lengths: (10-6) / (15-1) = 4/14
    assert tube_iou(g, d, temporal_plus_one=False) == pytest.approx(2 / 7)
    # no temporal overlap -> 0
    assert tube_iou(tube([1, 2]), tube([3, 4])) == 0.0
    # spatial part: box IoU 1/3 (+1) on the 5 overlapping frames -> 1/3 * 1/3
    d2 = tube(range(6, 16), [5, 0, 14, 9])
    assert tube_iou(g, d2, plus_one=True) == pytest.approx(1 / 9)
    # a 6th column (frame score) is ignored; equal single-frame tubes without +1 -> tIoU 1
    assert tube_iou(tube([3]), np.c_[tube([3]), [0.7]], temporal_plus_one=False) == 1.0


def test_tube_iou_gap_counts_zero():
    g = tube(range(1, 5))  # frames 1..4
    d = tube([1, 2, 4])  # frame 3 missing in the detection
    # temporal 4/4; spatial mean over frames 1..4 of (1, 1, 0, 1) = 3/4
    assert tube_iou(g, d, plus_one=True) == pytest.approx(0.75)


# ---------------------------------------------------------------------------------------
# AP
# ---------------------------------------------------------------------------------------
def test_ap_golden():
    # detections TP, FP, TP against 2 GT: P = 1, 1/2, 2/3 ; R = 1/2, 1/2, 1
    p, r = pr_curve([True, False, True], 2)
    np.testing.assert_allclose(p, [1, 0.5, 2 / 3])
    np.testing.assert_allclose(r, [0.5, 0.5, 1])
    # ACT trapezoid from (1, 0): 0.5*(1+1)/2 + 0 + 0.5*(0.5+2/3)/2 = 0.5 + 7/24
    assert ap_trapezoid(p, r) == pytest.approx(0.5 + 7 / 24)
    # VOC envelope 1 on (0, .5], 2/3 on (.5, 1]: 0.5 + 1/3
    assert ap_voc(p, r) == pytest.approx(0.5 + 1 / 3)
    assert average_precision([], 3, "trapezoid") == 0.0
    assert average_precision([], 3, "voc") == 0.0
    assert math.isnan(average_precision([False], 0))


def _independent_voc(is_tp, n_gt):
    """All-point interpolated AP written differently: each TP adds 1/n_gt of recall, worth the
    best precision reached at that recall or later."""
    tp = fp = 0
    prec = []
    for t in is_tp:
        tp += t
        fp += not t
        prec.append(tp / (tp + fp))
    total = 0.0
    for i, t in enumerate(is_tp):
        if t:
            total += max(prec[i:]) / n_gt
    return total


def _independent_trapezoid(is_tp, n_gt):
    tp = np.cumsum(is_tp)
    n = np.arange(1, len(is_tp) + 1)
    p = np.r_[1.0, tp / n]
    r = np.r_[0.0, tp / n_gt]
    return float(sum((r[i] - r[i - 1]) * (p[i] + p[i - 1]) / 2 for i in range(1, len(p))))


def test_ap_matches_independent_implementations():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(0, 30))
        is_tp = rng.random(n) < rng.random()
        n_gt = int(is_tp.sum() + rng.integers(0, 5)) or 1
        assert average_precision(is_tp, n_gt, "voc") == pytest.approx(
            _independent_voc(list(is_tp), n_gt), abs=1e-12)
        assert average_precision(is_tp, n_gt, "trapezoid") == pytest.approx(
            _independent_trapezoid(is_tp, n_gt), abs=1e-12)


# ---------------------------------------------------------------------------------------
# frame-mAP
# ---------------------------------------------------------------------------------------
GT_FRAME = {
    "a": {0: [tube([1, 2])]},  # box B on frames 1 and 2
    "b": {0: [tube([1], [20, 20, 29, 29])]},
}
DETS_FRAME = [
    ("a", 1, 0, 0.9, B),  # TP
    ("a", 3, 0, 0.8, B),  # frame 3 has no GT -> FP (eval_frames="all")
    ("b", 1, 0, 0.7, [20, 20, 29, 29]),  # TP
    ("a", 1, 0, 0.6, B),  # duplicate, GT already taken -> FP
]  # (a, 2) is never detected: n_gt = 3


def test_frame_map_golden_act_and_voc():
    # order TP FP TP FP: P = 1, 1/2, 2/3, 1/2 ; R = 1/3, 1/3, 2/3, 2/3
    act = frame_map(DETS_FRAME, GT_FRAME, iou_threshold=0.5, protocol="act")
    # trapezoid: 1/3*(1+1)/2 + 0 + 1/3*(1/2+2/3)/2 + 0 = 1/3 + 7/36 = 19/36
    assert act.value == pytest.approx(19 / 36)
    assert act.n_gt[0] == 3 and act.n_det[0] == 4
    voc = frame_map(DETS_FRAME, GT_FRAME, iou_threshold=0.5, protocol="voc")
    # envelope 1 up to R=1/3, 2/3 up to R=2/3: 1/3 + 2/9 = 5/9
    assert voc.value == pytest.approx(5 / 9)
    # YOWO-like: only annotated frames -> (a, 3) ignored: TP TP FP -> 1/3 + 1/3 = 2/3
    ann = Protocol("ann", True, True, "trapezoid", "unmatched", eval_frames="annotated")
    assert frame_map(DETS_FRAME, GT_FRAME, protocol=ann).value == pytest.approx(2 / 3)
    # ACT array layout <video_idx, frame, label, score, x1, y1, x2, y2> gives the same
    arr = np.array([[["a", "b"].index(v), f, c, s, *bx] for v, f, c, s, bx in DETS_FRAME])
    assert frame_map(arr, GT_FRAME, videos=["a", "b"]).value == pytest.approx(19 / 36)


def test_frame_map_matching_rule_differs():
    g1, g2 = [0, 0, 9, 9], [3, 0, 12, 9]
    gt = {"v": {0: [tube([1], g1), tube([1], g2)]}}
    dets = [("v", 1, 0, 0.9, g1), ("v", 1, 0, 0.8, [1, 0, 10, 9])]
    # det2 (+1 IoU): with g1 90/110 = 0.82 (taken by det1), with g2 80/120 = 0.67
    # ACT: g1 taken -> best free is g2 (0.67 >= 0.5) -> TP TP -> AP 1
    assert frame_map(dets, gt, protocol="act").value == pytest.approx(1.0)
    # VOC: best over all is g1, already taken -> FP: P = 1, 1/2 ; R = 1/2, 1/2 -> 0.5
    assert frame_map(dets, gt, protocol="voc").value == pytest.approx(0.5)


def test_frame_map_classes_and_errors():
    gt = {"v": {0: [tube([1])], 2: [tube([1], [30, 30, 39, 39])]}}
    dets = [("v", 1, 0, 0.9, B), ("v", 1, 1, 0.9, B)]  # class 1 has no GT anywhere
    r = frame_map(dets, gt, labels=3)
    # class 0: AP 1; class 1: no GT -> nan, left out; class 2: missed -> AP 0 -> mean 0.5
    assert r.ap[0] == 1.0 and math.isnan(r.ap[1]) and r.ap[2] == 0.0
    assert r.value == pytest.approx(0.5)
    with pytest.raises(ValueError, match="not among the evaluated videos"):
        frame_map([("w", 1, 0, 0.5, B)], gt)


# ---------------------------------------------------------------------------------------
# video-mAP
# ---------------------------------------------------------------------------------------
GT_VIDEO = {"a": {0: [tube(range(1, 11))]}, "b": {0: [tube(range(1, 11))]}}
TUBES = [
    ("a", 0, 0.9, tube(range(1, 11))),  # IoU 1
    ("a", 0, 0.85, tube(range(1, 11))),  # duplicate of the first
    ("b", 0, 0.8, tube(range(1, 6))),  # tIoU 5/10 = 0.5 (frames) or 4/9 (lengths)
]


def test_video_map_golden_presets():
    # act: 3D NMS 0.3 removes the duplicate (IoU 1 > 0.3); a TP, b TP at 0.5 -> AP 1
    assert video_map(TUBES, GT_VIDEO, iou_threshold=0.5, protocol="act").value == \
        pytest.approx(1.0)
    # voc: no NMS: TP FP TP: P 1, 1/2, 2/3 ; R 1/2, 1/2, 1 -> 1/2 + 1/2 * 2/3 = 5/6
    assert video_map(TUBES, GT_VIDEO, iou_threshold=0.5, protocol="voc").value == \
        pytest.approx(5 / 6)
    # mmaction2: b's IoU 4/9 < 0.5 -> TP FP FP: 1/2 * 1 = 1/2 ; at 0.2 it is TP -> 5/6
    assert video_map(TUBES, GT_VIDEO, iou_threshold=0.5, protocol="mmaction2").value == \
        pytest.approx(0.5)
    assert video_map(TUBES, GT_VIDEO, iou_threshold=0.2, protocol="mmaction2").value == \
        pytest.approx(5 / 6)


def test_video_map_050_095_average():
    r = video_map(TUBES, GT_VIDEO, iou_threshold="0.5:0.95", protocol="act")
    # 0.5: AP 1 ; 0.55..0.95 (9 thresholds): b fails -> TP FP -> trapezoid 0.5*(1+1)/2 = 0.5
    assert r.per_threshold[0.5] == pytest.approx(1.0)
    assert r.per_threshold[0.95] == pytest.approx(0.5)
    assert len(r.per_threshold) == 10
    assert r.value == pytest.approx((1 + 9 * 0.5) / 10)


def test_tube_nms_keeps_best_and_distinct():
    t1, t2, t3 = tube(range(1, 11)), tube(range(1, 11), [1, 0, 10, 9]), tube(range(1, 11),
                                                                          [50, 50, 59, 59])
    keep = tube_nms([t1, t2, t3], [0.5, 0.9, 0.7], 0.3)
    assert keep.tolist() == [1, 2]  # t1 overlaps t2 (IoU 0.82) and has the lower score


# ---------------------------------------------------------------------------------------
# linking
# ---------------------------------------------------------------------------------------
def test_soft_nms_linear_golden():
    b, s = soft_nms_linear([[0, 0, 9, 9], [1, 0, 10, 9], [50, 50, 59, 59]], [0.9, 0.8, 0.1])
    # second box: IoU (+1) 90/110 -> score 0.8 * (1 - 9/11) = 0.8 * 2/11
    np.testing.assert_allclose(s, [0.9, 0.8 * 2 / 11, 0.1])


def _moving(f):
    return np.array([[2 * f, 10, 2 * f + 19, 39]], dtype=np.float64)


def test_link_frame_detections_act_rules():
    frames = {f: (_moving(f), np.array([0.9])) for f in range(1, 21)}
    for f in (5, 6, 7):  # a spurious far-away detection on 3 frames
        frames[f] = (np.r_[_moving(f), [[100, 100, 120, 130]]], np.array([0.9, 0.5]))
    tubes = link_frame_detections(frames, min_length=15)
    assert len(tubes) == 1  # the 3-frame tube is shorter than 15
    t, s = tubes[0]
    assert s == pytest.approx(0.9)
    np.testing.assert_array_equal(t[:, 0], np.arange(1, 21))
    np.testing.assert_allclose(t[:, 1:5], np.concatenate([_moving(f) for f in range(1, 21)]))
    assert len(link_frame_detections(frames, min_length=1)) == 2
    # a missed frame ends a tube under ACT (no gap) ...
    del frames[10]
    parts = link_frame_detections(frames, min_length=5)
    assert sorted((int(t[0, 0]), int(t[-1, 0])) for t, _ in parts) == [(1, 9), (11, 20)]
    # ... max_gap=1 bridges it and interpolates frame 10
    (t, _), = link_frame_detections(frames, min_length=15, max_gap=1)
    np.testing.assert_allclose(t[9, 1:5], _moving(10)[0])


def test_link_video_to_video_map_round_trip():
    fd = {f: (_moving(f), np.array([[0.8, 0.1]])) for f in range(1, 21)}
    linked = link_video(fd, 2, min_length=10)
    dets = tubes_for_video_map("v", linked)
    assert [c for _, c, _, _ in dets] == [0, 1]
    gt = {"v": {0: [np.c_[np.arange(1, 21), np.concatenate([_moving(f) for f in range(1, 21)])]]}}
    # class 0 tube matches exactly -> AP 1; class 1 has no GT -> left out
    assert video_map(dets, gt, iou_threshold=0.5, labels=2).value == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------
# names and registry
# ---------------------------------------------------------------------------------------
def test_metric_names_and_registry():
    names = metric_names()
    for n in ("frame_map@0.5[act]", "video_map@0.2[act]", "video_map@0.5:0.95[voc]"):
        assert n in names
    assert set(PROTOCOLS) == {"act", "voc", "mmaction2"}
    m = make_metric("frame_map@0.5[act]")
    assert float(m(DETS_FRAME, GT_FRAME)) == pytest.approx(19 / 36)
    with pytest.raises(ValueError):
        make_metric("frame_map@0.5[nope]")
    from pgg_zoo.registry import METRICS, load_plugins

    # The plugin registers its metrics when the plugins load: load them first, so that names
    # registered here do not make the plugin's own registration fail later in the session.
    load_plugins()
    before = set(METRICS.names(task="stad"))
    added = register_metrics(replace=True)
    try:
        assert set(added) <= set(METRICS.names(task="stad"))
        assert METRICS.meta("video_map@0.5[act]")["protocol"] == "act"
        assert METRICS.meta("frame_map@0.5[ava]")["protocol"] == "ava"
        v = METRICS.get("video_map@0.5[voc]")(TUBES, GT_VIDEO)
        assert v.value == pytest.approx(5 / 6)
    finally:
        for n in set(added) - before:
            METRICS.remove(n)


# ---------------------------------------------------------------------------------------
# frame-mAP: the videos= argument of a detection array, and the evaluated videos (issue 13)
# ---------------------------------------------------------------------------------------
def _ann(gttubes, nframes):
    from pgg_zoo.video import TubeAnnotations

    vids = sorted(nframes)
    return TubeAnnotations(labels=["act"], gttubes=gttubes, nframes=nframes,
                           train_videos=[[]], test_videos=[vids],
                           resolution={v: (40, 40) for v in vids})


def test_frame_map_array_needs_videos_and_checks_their_order():
    # video "long" (10 frames) holds the detections of frames 8 and 9; "short" has 3 frames
    ann = _ann({"long": {0: [tube([8, 9])]}, "short": {0: [tube([1])]}},
               {"long": 10, "short": 3})
    arr = np.array([[0, 8, 0, 0.9, *B], [0, 9, 0, 0.8, *B], [1, 1, 0, 0.7, *B]], np.float64)
    # right order: every GT box found, AP 1
    assert frame_map(arr, ann, videos=["long", "short"]).value == pytest.approx(1.0)
    # reversed: index 0 now names "short", which has no frame 8
    with pytest.raises(ValueError, match=r"outside video 'short' \(3 frames\).*order"):
        frame_map(arr, ann, videos=["short", "long"])
    # no videos=: the default (sorted) order is a guess, refused for an array
    with pytest.raises(ValueError, match="pass videos="):
        frame_map(arr, ann)


def test_stad_metric_scores_only_the_evaluated_videos():
    from pgg_zoo_tasks.stad.evaluator import STADMetric

    ann = _ann({"a": {0: [tube([1, 2])]}, "b": {0: [tube([1], [20, 20, 29, 29])]}},
               {"a": 2, "b": 1})
    m = STADMetric(ann, ["a", "b"], protocol="act", linking={"min_length": 1})
    # limit_test kept only video "a": both its GT boxes detected with score 0.9
    results = [{"video": "a", "frame": f, "boxes": np.array([B], np.float64),
                "scores": np.array([[0.9]])} for f in (1, 2)]
    out = m.compute_metrics(results)
    # percent; "b"'s box, never evaluated, is not a miss (it would make AP 2/3: 66.7)
    assert out["frame_map@0.5[act]"] == pytest.approx(100.0)
    assert out["video_map@0.5[act]"] == pytest.approx(100.0)


def test_box_iou_has_one_definition_and_needs_its_convention():
    # wsol and stad metrics read boxes with opposite conventions; a default would hide which
    import pgg_zoo_tasks.stad.metrics as stad_metrics
    import pgg_zoo_tasks.wsol.metrics as wsol_metrics
    from pgg_zoo.vision.boxes import box_iou as shared

    # the plugins use the library's function and do not hand it on under their own names
    assert not hasattr(wsol_metrics, "box_iou") and not hasattr(stad_metrics, "box_iou")
    with pytest.raises(TypeError):
        shared(np.array([B]), np.array([B]))
