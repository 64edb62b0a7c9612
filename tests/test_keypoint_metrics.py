"""Keypoint metrics: hand-computed cases and agreement with the STAD plugin's ACT code."""
import numpy as np
import pytest

from pgg_zoo_tasks.keypoint.metrics import (KeypointMetric, ap_trapezoid, box_iou, frame_ap,
                                            person_tubes, tube_iou, video_ap)


def test_iou_and_ap_hand_computed():
    # Inclusive pixels: [0, 9] x [0, 9] is 100 px; overlap with [5, 14] x [0, 9] is 50 px.
    assert box_iou([0, 0, 9, 9], [5, 0, 14, 9])[0, 0] == pytest.approx(50 / 150)
    # TP, FP, TP against 2 ground truths: P = 1, 1/2, 2/3 at R = 1/2, 1/2, 1.
    assert ap_trapezoid(np.array([True, False, True]), 2) == pytest.approx(
        0.5 * (1 + 1) / 2 + 0 + 0.5 * (0.5 + 2 / 3) / 2)
    assert np.isnan(ap_trapezoid(np.array([True]), 0))
    a = np.array([[1, 0, 0, 9, 9], [2, 0, 0, 9, 9]], dtype=float)
    b = np.array([[2, 0, 0, 9, 9], [3, 0, 0, 9, 9]], dtype=float)
    assert tube_iou(a, b) == pytest.approx(1 / 3)  # 1 frame of 3, spatial IoU 1


def test_frame_ap_hand_computed():
    gt = {"v": {0: [np.array([[1, 0, 0, 9, 9]], dtype=float)]},
          "w": {1: [np.array([[1, 0, 0, 9, 9], [2, 0, 0, 9, 9]], dtype=float)]}}
    dets = [("v", 1, 0, 0.9, [0, 0, 9, 9]),     # TP
            ("v", 1, 0, 0.8, [0, 0, 9, 9]),     # duplicate: FP
            ("w", 1, 0, 0.95, [0, 0, 9, 9]),    # wrong class on that frame: FP for class 0
            ("w", 1, 1, 0.7, [0, 0, 9, 9]),     # TP
            ("w", 2, 1, 0.6, [20, 20, 29, 29])]  # miss: FP
    value, aps = frame_ap(dets, gt, ["v", "w"], 2)
    # class 0: FP (0.95), TP (0.9), FP: P = 0, 1/2, 1/3 at R = 0, 1, 1.
    assert aps[0] == pytest.approx(0 + 1.0 * (0 + 0.5) / 2)
    # class 1: TP, FP against 2 GT: R = 1/2, 1/2.
    assert aps[1] == pytest.approx(0.5 * (1 + 1) / 2)
    assert value == pytest.approx((aps[0] + aps[1]) / 2)


def _random_case(seed):
    rng = np.random.default_rng(seed)
    videos = [f"v{i}" for i in range(4)]
    gt, dets, tubes = {}, [], []
    for v in videos:
        gt[v] = {}
        for c in rng.choice(3, size=rng.integers(1, 3), replace=False):
            start = int(rng.integers(1, 5))
            n = int(rng.integers(3, 7))
            box = rng.uniform(0, 50, 2)
            rows = [[start + k, *box, *(box + rng.uniform(10, 30, 2))] for k in range(n)]
            gt[v][int(c)] = [np.array(rows, dtype=float)]
        for k in range(12):
            f = int(rng.integers(1, 12))
            box = rng.uniform(0, 50, 2)
            for c in range(3):
                dets.append((v, f, c, float(rng.random()), [*box, *(box + rng.uniform(10, 30, 2))]))
        for c in range(3):
            for _ in range(2):
                start, n = int(rng.integers(1, 5)), int(rng.integers(2, 7))
                box = rng.uniform(0, 50, 2)
                t = np.array([[start + k, *(box + rng.normal(0, 2, 2)), *(box + 20)]
                              for k in range(n)])
                tubes.append((v, c, float(rng.random()), t))
    return videos, gt, dets, tubes


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_the_stad_plugin_act_metrics(seed):
    """The plugin re-implements ACT frame-/video-AP (it may not import the STAD plugin); the
    test checks both implementations give the same numbers."""
    stad = pytest.importorskip("pgg_zoo_tasks.stad.metrics")
    videos, gt, dets, tubes = _random_case(seed)
    ours = frame_ap(dets, gt, videos, 3)[0]
    ref = float(stad.frame_map(dets, gt, videos=videos, labels=3, protocol="act"))
    assert ours == pytest.approx(ref, abs=1e-9)
    ours_v = video_ap(tubes, gt, videos, 3)[0]
    ref_v = float(stad.video_map(tubes, gt, videos=videos, labels=3, protocol="act",
                                 iou_threshold=0.5))
    assert ours_v == pytest.approx(ref_v, abs=1e-9)


def _prediction(scores, present, boxes, video="v", label=0):
    return {"video": video, "label": label, "video_scores": scores.max(axis=(0, 1)),
            "person_scores": scores, "present": present, "boxes": boxes,
            "frames": np.arange(1, scores.shape[1] + 1)}


def test_person_tubes_trim_to_the_longest_high_run():
    scores = np.zeros((1, 6, 2))
    scores[0, :, 1] = [0.1, 0.9, 0.8, 0.2, 0.7, 0.1]
    boxes = np.tile(np.arange(4.0), (1, 6, 1))
    tubes = {c: (s, t) for c, s, t in person_tubes(
        _prediction(scores, np.ones((1, 6), bool), boxes))}
    s, t = tubes[1]
    assert t[:, 0].tolist() == [2, 3] and s == pytest.approx(0.85)


def test_keypoint_metric_perfect_and_confused_predictions():
    t = 4
    gt = {"v": {0: [np.array([[f, 0, 0, 9, 19] for f in range(1, t + 1)], dtype=float)]},
          "w": {1: [np.array([[f, 30, 0, 39, 19] for f in range(1, t + 1)], dtype=float)]}}
    boxes = np.zeros((2, t, 4))
    boxes[0] = [0, 0, 9, 19]
    boxes[1] = [30, 0, 39, 19]
    present = np.ones((2, t), bool)

    def run(actor_scores, bystander_scores):
        m = KeypointMetric(2, gt)
        for v, actor, c in (("v", 0, 0), ("w", 1, 1)):
            sc = np.zeros((2, t, 2))
            sc[actor, :, c] = actor_scores
            sc[1 - actor, :, c] = bystander_scores
            m.results.append(_prediction(sc, present, boxes, v, c))
        return m.compute_metrics(m.results)

    perfect = run(0.9, 0.1)
    assert perfect["frame_map@0.5[act]"] == pytest.approx(100)
    assert perfect["video_map@0.5[act]"] == pytest.approx(100)
    assert perfect["video_top1"] == 100 and perfect["person_top1"] == 100
    # The bystander scores higher than the actor: person-wise metrics drop, video accuracy not.
    confused = run(0.5, 0.9)
    assert confused["video_top1"] == 100
    assert confused["frame_map@0.5[act]"] < 50 and confused["person_top1"] == 100
