"""End to end: the STAD task on the embedded sprites benchmark, through the engine."""
import json

import pytest
import torch

import pgg_zoo


@pytest.fixture
def home(tmp_path_factory, monkeypatch):
    h = tmp_path_factory.getbasetemp() / "stad_home"
    monkeypatch.setenv("PGG_ZOO_HOME", str(h))
    return h


def test_build_full_size_slowfast():
    from pytorchvideo.models.hub import slowfast_r50_detection

    # the meta device allocates no weights: the 34M-parameter model costs nothing to count
    with torch.device("meta"):
        task = pgg_zoo.build("stad", backbone="slowfast_r50", clip_len=8, num_classes=24)
        hub = slowfast_r50_detection(pretrained=False)
    assert type(task.synthesizer).__name__ == "VideoPaste"
    assert {p.device.type for p in task.model.parameters()} == {"meta"}

    def count(m):
        return sum(p.numel() for p in m.parameters())

    # the trunk is pytorchvideo's detection SlowFast without its RoI head; the head is one
    # linear layer from the 2048 + 256 concatenated pathway channels to the 24 classes
    assert count(task.model.backbone) == count(hub.model)
    assert count(task.model.head) == (2048 + 256) * 24 + 24


def test_guided_training_and_figure(home, tmp_path):
    from pgg_zoo.study import demo

    out = demo("stad", out_dir=tmp_path / "demo", epochs=1, batch_size=4, limit_train=8,
               limit_test=12, log=lambda *a: None)
    assert set(out["results"]) == {"paste", "paste+pgg"}
    for metrics in out["results"].values():
        for key in ("frame_map@0.5[act]", "video_map@0.2[act]", "video_map@0.5:0.95[act]"):
            assert 0.0 <= metrics[key] <= 100.0
    assert out["figure"].stat().st_size > 1000
    saved = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert saved["task"] == "stad"


def test_bad_options():
    with pytest.raises(pgg_zoo.ConfigError, match="synthesizers"):
        pgg_zoo.build("stad", synthesizer="cutmix")
    with pytest.raises(pgg_zoo.ConfigError, match="annotations"):
        pgg_zoo.build("stad", data_root=".")
    with pytest.raises(pgg_zoo.ConfigError, match="head_context"):
        pgg_zoo.build("stad", head_context="local")
    with pytest.raises(pgg_zoo.ConfigError, match="divisible by 4"):
        pgg_zoo.build("stad", backbone="slowfast_r50", clip_len=6)
