"""The keypoint task end to end: registry, splits, a guided step that reaches the weights, a
short training run through the engine on a pyskl pickle written by the test."""
import pickle

import numpy as np
import pytest
import torch

import pgg_zoo
from pgg_zoo.engine.model import PGGModel
from pgg_zoo.task import ConfigError
from pgg_zoo_tasks.keypoint.benchmark import render_video


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    """12 train + 4 test videos of the benchmark's generator, as pyskl + tube pickles."""
    root = tmp_path_factory.mktemp("kp_data")
    anns, split, gt = [], {"train": [], "test": []}, {"labels": ["wave", "squat", "kick", "jj"],
                                                      "gttubes": {}, "nframes": {}, "resolution": {}}
    for s, n in (("train", 12), ("test", 4)):
        for j in range(n):
            c = j % 4
            v = render_video(0, s, j, c, coactor=(c + 1) % 4 if s == "test" and j % 2 else None)
            name = f"{s}_{j}"
            anns.append({"frame_dir": name, "label": c, "img_shape": (240, 320),
                         "original_shape": (240, 320), "total_frames": 24,
                         "keypoint": v["keypoint"], "keypoint_score": v["keypoint_score"]})
            split[s].append(name)
            gt["gttubes"][name] = {}
            for cls, tube in v["actors"]:
                gt["gttubes"][name].setdefault(cls, []).append(tube)
            gt["nframes"][name], gt["resolution"][name] = 24, (240, 320)
    gt["train_videos"], gt["test_videos"] = [split["train"]], [split["test"]]
    (root / "skel.pkl").write_bytes(pickle.dumps({"split": split, "annotations": anns}))
    (root / "gt.pkl").write_bytes(pickle.dumps(gt))
    return root


def build(small_data, **kw):
    return pgg_zoo.build("keypoint", skeletons=str(small_data / "skel.pkl"),
                         annotations=str(small_data / "gt.pkl"), **kw)


def test_registered():
    assert "keypoint" in pgg_zoo.list_tasks()
    assert {"skp_tiny", "skp_small"} <= set(pgg_zoo.list_backbones("keypoint"))
    assert "batchmix" in pgg_zoo.list_synthesizers()
    with pytest.raises(ConfigError, match="synthesizers"):
        pgg_zoo.build("keypoint", synthesizer="cutmix")
    with pytest.raises(ConfigError, match="backbone"):
        pgg_zoo.build("keypoint", backbone="tiny3d")


def test_splits_carved_once(small_data):
    task = build(small_data)
    train, val = task.split_videos("train"), task.split_videos("val")
    assert not set(train) & set(val) and len(val) == 4  # 20 % of each of 4 classes (3 -> 1)
    assert sorted(train + val) == sorted(task.skeletons().videos("train"))
    assert build(small_data, seed=3).split_videos("val") == val
    assert task.split_videos("test") == [f"test_{j}" for j in range(4)]
    assert len(task.build_dataset("val")) == 4


def test_guided_step_reaches_the_weights(small_data):
    task = build(small_data, alpha=1.0, guidance=True)
    ds = task.build_dataset("train")
    batch = task.collate([ds[i] for i in range(len(ds))])
    model = PGGModel(task.model, task.synthesizer, task.guidance, seed=0)
    losses = model.loss({**batch["data_samples"], "inputs": batch["inputs"]})
    assert losses["loss_pgg"] > 0
    task.model.zero_grad()
    losses["loss_pgg"].backward()
    grads = [p.grad for p in task.model.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0


@pytest.fixture(scope="module")
def trained(small_data, tmp_path_factory):
    """One guided epoch through the engine: ``(task, final metrics, work dir)``."""
    work = tmp_path_factory.mktemp("kp_run") / "run"
    task = build(small_data, epochs=1, batch_size=4, work_dir=str(work), guidance=True,
                 alpha=0.1)
    return task, task.train(), work


def _predict(task, items):
    """The task model's predictions on ``items`` (whole test videos) in one batch."""
    batch = task.collate(items)
    task.model.eval()
    with torch.no_grad():
        return task.model.predict(batch["inputs"], batch["data_samples"])


def test_train_and_evaluate_through_the_engine(small_data, trained):
    from pgg_zoo_tasks.keypoint.metrics import KeypointMetric

    task, metrics, work = trained
    assert (work / "model.safetensors").is_file()
    test = task.dataset("test")
    items = [test[i] for i in range(len(test))]
    assert len(items) == 4
    preds = _predict(task, items)
    # video_top1 by hand: the top video-level score is one of the actions of the video (its
    # actor's and, in two-actor scenes, the co-actor's), over the 4 test videos of the fixture.
    gt = pickle.loads((small_data / "gt.pkl").read_bytes())["gttubes"]
    hits = [int(np.argmax(p["video_scores"])) in gt[p["video"]] for p in preds]
    assert metrics["video_top1"] == pytest.approx(100.0 * np.mean(hits))
    # The engine's other metrics are those of the trained model on the whole test split: the
    # same metric on predictions made here, outside the engine, gives the same values.
    metric = KeypointMetric(task.num_classes(), gt)
    again = metric.compute_metrics([dict(p) for p in preds])
    for key in ("frame_map@0.5[act]", "video_map@0.5[act]", "person_top1"):
        assert metrics[key] == pytest.approx(again[key]), key
    # person_top1 counts each of the 6 actor tubes (4 actors + 2 co-actors) as hit or miss
    assert metrics["person_top1"] * 6 / 100 == pytest.approx(round(metrics["person_top1"] * 6 / 100))


def _figure_rows(monkeypatch, tasks, path):
    """Draw the demo figure; return its pixels and, per row, the person scores it drew."""
    from PIL import Image

    import pgg_zoo_tasks.keypoint.figures as figures

    drawn = []
    draw = figures.draw_scene

    def recording(ax, x, t, img_shape, person_scores=None, title=""):
        drawn.append((x, np.asarray(person_scores)))
        return draw(ax, x, t, img_shape, person_scores, title)

    monkeypatch.setattr(figures, "draw_scene", recording)
    first = next(iter(tasks.values()))
    first.demo_figure(tasks, path)
    n = len(drawn) // len(tasks)
    return np.asarray(Image.open(path).convert("RGB")), [drawn[r * n:(r + 1) * n]
                                                         for r in range(len(tasks))]


def test_demo_figure(small_data, trained, tmp_path, monkeypatch):
    """Each row of the figure shows its own model's scores: a trained and an untrained model
    draw different rows, and the figure of (trained, untrained) differs from the figure of
    (trained, trained) only in the second row."""
    task = trained[0]
    fresh = build(small_data)  # same architecture, initial weights
    pair, rows = _figure_rows(monkeypatch, {"a": task, "b": fresh}, tmp_path / "pair.png")
    same, same_rows = _figure_rows(monkeypatch, {"a": task, "b": task}, tmp_path / "same.png")
    # The scenes drawn are the two-actor ones (the fixture gives odd test videos a co-actor),
    # and the scores each model's person-frame scores of the scene's label, middle frame.
    test = task.dataset("test")
    items = [test[1], test[3]]
    for row, model_task in zip(rows, (task, fresh)):
        assert len(row) == len(items)
        for (x, scores), pred, it in zip(row, _predict(model_task, items), items):
            np.testing.assert_array_equal(x, it["inputs"].numpy())
            t = it["inputs"].shape[2] // 2
            np.testing.assert_allclose(scores, pred["person_scores"][:, t, int(it["label"])])
    assert not all(np.allclose(a[1], b[1]) for a, b in zip(*rows))
    assert all(np.allclose(a[1], b[1]) for a, b in zip(*same_rows))
    # in pixels: the figures differ, and only below the first row of panels
    assert pair.shape == same.shape
    changed = np.flatnonzero((pair != same).any(axis=(1, 2)))
    assert len(changed) > 0 and changed.min() > pair.shape[0] // 2, (changed.min(), pair.shape)
