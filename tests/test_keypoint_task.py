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


def test_train_and_evaluate_through_the_engine(small_data, tmp_path):
    task = build(small_data, epochs=1, batch_size=4, work_dir=str(tmp_path / "run"),
                 guidance=True, alpha=0.1)
    metrics = task.train()
    for key in ("frame_map@0.5[act]", "video_map@0.5[act]", "video_top1", "person_top1"):
        assert 0 <= metrics[key] <= 100
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_demo_figure(small_data, tmp_path):
    task = build(small_data)
    path = task.demo_figure({"a": task, "b": task}, tmp_path / "fig.png")
    assert path.is_file() and path.stat().st_size > 1000
