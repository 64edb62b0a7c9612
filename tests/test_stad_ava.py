"""AVA in the stad task: the AVA kit's frame-mAP (golden cases derived by hand), the task
trained and scored on an AVA folder, its option errors, and ``pgg-zoo check-data`` on it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pgg_zoo
from pgg_zoo.data.check import check_data
from pgg_zoo_tasks.stad.metrics import AVA_METRIC, ava_frame_map

# ---------------------------------------------------------------------------------------
# ava_frame_map: golden cases
# ---------------------------------------------------------------------------------------
A, B = ("v", 902), ("v", 903)
P1, P2, P3 = [0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1], [0, 0, 1, 1]
# key A: P1 does actions 0 and 1, P2 action 1; key B: P3 action 0. Class 2 has no ground truth.
GT = {A: [(P1, [0, 1]), (P2, [1])], B: [(P3, [0])]}
DETS = [
    (A, 0, 0.9, P1), (A, 0, 0.8, P2), (B, 0, 0.7, P3),
    (A, 1, 0.3, P1), (A, 1, 0.6, P2), (B, 1, 0.65, P3),
    (A, 2, 0.2, P1), (A, 2, 0.1, P2), (B, 2, 0.5, P3),
]


def test_ava_frame_map_golden():
    # class 0, by score: 0.9 TP (P1), 0.8 FP (P2 does not do 0 and misses P1), 0.7 TP (P3);
    #   precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1: VOC envelope 1 on (0, 1/2], 2/3 on
    #   (1/2, 1] -> AP = 1/2 + 1/3 = 5/6
    # class 1: 0.65 FP (B has no class 1), 0.6 TP, 0.3 TP: precision 0, 1/2, 2/3 at recall
    #   0, 1/2, 1 -> envelope 2/3 on (0, 1] -> AP 2/3
    # class 2: no ground truth -> no AP, left out of the mean
    res = ava_frame_map(DETS, GT, num_classes=3)
    assert res.ap[0] == pytest.approx(5 / 6) and res.ap[1] == pytest.approx(2 / 3)
    assert np.isnan(res.ap[2]) and res.n_gt == {0: 2, 1: 2, 2: 0}
    assert float(res) == pytest.approx((5 / 6 + 2 / 3) / 2)


def test_ava_frame_map_keeps_50_per_key_frame():
    # capacity 2: key A keeps its two best (class 0 on P1 0.9, on P2 0.8), key B its two best
    # (class 0 0.7, class 1 0.65). Class 0 is unchanged (5/6); class 1 keeps only B's FP -> 0.
    res = ava_frame_map(DETS, GT, num_classes=3, capacity=2)
    assert res.n_det == {0: 3, 1: 1, 2: 0}
    assert float(res) == pytest.approx((5 / 6 + 0) / 2)
    # the default keeps 50 per key frame: all nine here
    assert sum(ava_frame_map(DETS, GT, num_classes=3).n_det.values()) == 9


def test_ava_frame_map_voc_matching():
    # Two class-0 persons; the second detection's best box (G1) is taken by the first, so under
    # PASCAL VOC matching (the kit's) it is a false positive although G2 (IoU 0.84) is free:
    # precision 1, 1/2 at recall 1/2, 1/2 -> AP 1/2 (a "best unmatched" rule would give 1).
    g1, g2 = [0, 0, 1, 1], [0, 0, 0.8, 1]
    gt = {A: [(g1, [0]), (g2, [0])]}
    dets = [(A, 0, 0.9, g1), (A, 0, 0.8, [0, 0, 0.95, 1])]
    assert float(ava_frame_map(dets, gt, num_classes=1)) == pytest.approx(0.5)
    # IoU 0.5 is a match (>=), just below is not
    half = [0, 0, 0.5, 1]
    assert float(ava_frame_map([(A, 0, 1.0, half)], {A: [(g1, [0])]}, num_classes=1)) == 1.0
    assert float(ava_frame_map([(A, 0, 1.0, [0, 0, 0.49, 1])], {A: [(g1, [0])]},
                               num_classes=1)) == 0.0
    # a key frame the ground truth does not list is not scored; one listed without persons is:
    # then FP (0.95), TP, FP -> precision 0, 1/2, 1/3 at recall 0, 1/2, 1/2 -> AP 1/4
    assert float(ava_frame_map(dets + [(B, 0, 0.95, g1)], gt, num_classes=1)) == 0.5
    assert float(ava_frame_map(dets + [(B, 0, 0.95, g1)], {**gt, B: []},
                               num_classes=1)) == pytest.approx(1 / 4)
    with pytest.raises(ValueError, match="class 3 outside"):
        ava_frame_map([(A, 3, 1.0, g1)], gt, num_classes=1)


# ---------------------------------------------------------------------------------------
# an AVA folder
# ---------------------------------------------------------------------------------------
LABELS = 'item { name: "bend" id: 1 }\nitem { name: "stand" id: 12 }\nitem { name: "talk" id: 79 }\n'
# person boxes of a key frame never overlap (IoU 0), so a box can only match its own person
LEFT, RIGHT = "0.05,0.1,0.45,0.9", "0.55,0.1,0.95,0.9"


def _video(root: Path, name: str, seed: int) -> None:
    folder = root / "rawframes" / name
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for t in range(8):  # 8 frames: every key frame's clip is clamped into them
        Image.fromarray((rng.random((24, 32, 3)) * 255).astype(np.uint8)).save(
            folder / f"img_{t + 1:05d}.jpg")


def make_ava(root: Path) -> Path:
    """Train videos t0..t3, evaluation videos e0, e1; two key frames each (900, 901); the
    left person stands (12) and, in even videos, talks (79); the right one bends (1) at 900
    only. An action outside the label map (40) and an excluded key frame are dropped."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "labels.pbtxt").write_text(LABELS)
    for split, names in (("train", ["t0", "t1", "t2", "t3"]), ("val", ["e0", "e1"])):
        rows = []
        for i, v in enumerate(names):
            _video(root, v, seed=sum(map(ord, v)))
            for ts in (900, 901):
                rows.append(f"{v},{ts},{LEFT},12,0")
                if i % 2 == 0:
                    rows.append(f"{v},{ts},{LEFT},79,0")
                if ts == 900:
                    rows.append(f"{v},{ts},{RIGHT},1,1")
                rows.append(f"{v},{ts},{RIGHT},40,1")
            rows.append(f"{v},0902,{LEFT},12,0")  # excluded below
        (root / f"{split}.csv").write_text("\n".join(rows) + "\n")
        (root / f"{split}_excluded.csv").write_text(
            "\n".join(f"{v},0902" for v in names) + "\n")
    return root


AVA_OPTS = dict(data_format="ava", annotations="train.csv", test_annotations="val.csv",
                label_map="labels.pbtxt", exclusions="train_excluded.csv",
                test_exclusions="val_excluded.csv", multilabel=True, image_size=16, clip_len=4,
                clip_stride=2)


def _voc_map_by_hand(scores: np.ndarray, targets: np.ndarray) -> float:
    """Mean over classes with a positive of PASCAL VOC all-point AP, when every detection is a
    person's own box (a TP exactly when that person does the class)."""
    aps = []
    for c in range(targets.shape[1]):
        n_pos = targets[:, c].sum()
        if n_pos == 0:
            continue
        hit = targets[np.argsort(-scores[:, c], kind="stable"), c] > 0
        tp = np.cumsum(hit)
        precision, recall = tp / np.arange(1, len(hit) + 1), tp / n_pos
        # area under the envelope max_{r' >= r} p(r'), summed over the recall steps
        ap, prev = 0.0, 0.0
        for i in range(len(hit)):
            if recall[i] > prev:
                ap += (recall[i] - prev) * precision[i:].max()
                prev = recall[i]
        aps.append(ap)
    return 100.0 * float(np.mean(aps))


def test_stad_trains_and_scores_on_ava(tmp_path, predict_items):
    root = make_ava(tmp_path / "ava")
    task = pgg_zoo.build("stad", data_root=str(root), guidance=True, alpha=1.0, epochs=1,
                         batch_size=4, work_dir=str(tmp_path / "run"), leakage_items=4,
                         **AVA_OPTS)
    assert task.num_classes() == 3
    train = task.dataset("train")
    # 4 videos x 2 key frames (the third, 902, is excluded); action 40 is not in the label map
    assert len(train) == 8 and task.dataset("test").__len__() == 4
    metrics = task.train()
    assert AVA_METRIC in metrics and "leakage" in metrics
    # The engine's number equals the VOC mAP derived from the model's own scores on the test
    # key frames (given boxes: each box can only match its own person).
    test = task.dataset("test")
    items = [test[i] for i in range(len(test))]
    preds = predict_items(task, items)
    scores = np.concatenate([p["scores"].double().numpy() for p in preds])
    targets = np.concatenate([it["labels"].numpy() for it in items])
    assert targets.sum(0).tolist() == [2, 4, 2]  # bend, stand, talk on the 4 test key frames
    assert metrics[AVA_METRIC] == pytest.approx(_voc_map_by_hand(scores, targets), abs=1e-6)


def test_ava_metric_oracle_and_swapped_scores(tmp_path):
    """Scores equal to the targets give 100; scores of the other person give less: the
    metric's keys, box scaling and class columns line up with the data."""
    from pgg_zoo_tasks.stad.evaluator import AVAMetric

    root = make_ava(tmp_path / "ava")
    task = pgg_zoo.build("stad", data_root=str(root), **AVA_OPTS)
    test = task.dataset("test")
    batch = task.collate([test[i] for i in range(len(test))])
    meta = batch["data_samples"]

    def score(swap: bool) -> float:
        metric = AVAMetric(test)
        preds = []
        for boxes, labels in zip(meta["boxes"], meta["box_labels"]):
            s = labels.flip(0) if swap else labels
            preds.append({"boxes": boxes, "scores": s.float()})
        metric.process(batch, preds)
        return metric.compute_metrics(metric.results)[AVA_METRIC]

    assert score(False) == pytest.approx(100.0)
    assert score(True) < 75.0


def test_ava_option_errors(tmp_path):
    root = make_ava(tmp_path / "ava")
    opts = {k: v for k, v in AVA_OPTS.items()}
    for key in ("annotations", "test_annotations", "label_map"):
        with pytest.raises(pgg_zoo.ConfigError, match=f"needs {key}="):
            pgg_zoo.build("stad", data_root=str(root), **{**opts, key: None})
    with pytest.raises(pgg_zoo.ConfigError, match="multilabel=true"):
        pgg_zoo.build("stad", data_root=str(root), **{**opts, "multilabel": False})
    with pytest.raises(pgg_zoo.ConfigError, match="needs data_root"):
        pgg_zoo.build("stad", **opts)
    with pytest.raises(pgg_zoo.ConfigError, match="data_format must be one of"):
        pgg_zoo.build("stad", data_format="ava2")


def test_check_data_on_ava(tmp_path, capsys):
    from pgg_zoo.cli.main import main

    root = make_ava(tmp_path / "ava")
    summary = check_data("stad", root, **AVA_OPTS)
    # train: 8 key frames; per class over (person, action): bend 4 (900 of each video), stand
    # 8, talk 4 (even videos t0, t2); persons: 2 at 900, 1 at 901 -> 12 boxes
    assert summary.split("train").describe() == (
        "train: 8 items; 3 classes (persons per class: min 4, max 8); 4 videos; "
        "12 person boxes")
    assert summary.split("test").describe() == (
        "test: 4 items; 3 classes (persons per class: min 2, max 4); 2 videos; 6 person boxes")
    (root / "val.csv").write_text("e0,0900,0.1,0.2,1.5,0.9,12,0\n")
    argv = ["check-data", "stad", "--data-root", str(root)]
    for k, v in AVA_OPTS.items():
        argv += ["--set", f"{k}={str(v).lower() if isinstance(v, bool) else v}"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(root / "val.csv") in err[0] and "not normalized" in err[0]
