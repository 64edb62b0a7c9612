"""End to end: the STAD task on the embedded sprites benchmark, through the engine."""
import json

import numpy as np
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


def _frame_map_by_hand(preds, items, annotations, num_classes):
    """ACT frame-mAP@0.5 (%) of a model's predictions ``preds`` on ``items`` (test key
    frames), derived directly.

    The STAD protocols classify the given ground-truth person boxes, so a detection of class c
    on box b is a true positive exactly when b's own label is c (IoU 1 with its own box); AP is
    ACT's trapezoid area of the raw precision/recall curve from (R=0, P=1), with recall over
    every ground-truth box of class c on every frame of the evaluated videos."""
    scores = np.concatenate([p["scores"].double().numpy().reshape(len(p["boxes"]), -1)
                             for p in preds])
    labels = np.concatenate([np.asarray(it["labels"]).reshape(-1) for it in items])
    videos = {it["video"] for it in items}
    aps = []
    for c in range(num_classes):
        n_gt = sum(len(t) for v in videos for t in annotations.gttubes[v].get(c, []))
        if n_gt == 0:
            continue
        hit = labels[np.argsort(-scores[:, c], kind="stable")] == c
        tp = np.cumsum(hit)
        precision = np.concatenate([[1.0], tp / np.arange(1, len(hit) + 1)])
        recall = np.concatenate([[0.0], tp / n_gt])
        aps.append(float(np.sum(np.diff(recall) * (precision[1:] + precision[:-1]) / 2)))
    return 100.0 * float(np.mean(aps))


N_TEST = 21


def test_guided_training_and_figure(home, tmp_path, monkeypatch, drawn_figures, predict_items):
    from pgg_zoo.registry import TASKS
    from pgg_zoo.study import demo

    # keep the trained variants the demo draws its figure from, to score them here
    cls = TASKS.get("stad")
    drawn = {}
    figure = cls.demo_figure

    def recording(self, tasks, path, **kw):
        drawn.update(tasks)
        return figure(self, tasks, path, **kw)

    monkeypatch.setattr(cls, "demo_figure", recording)
    # keep the figure itself, to read what it drew
    import pgg_zoo_tasks.stad.figures as figures

    drawn_figures.watch(figures)
    # One key frame per test video: the test split lists 20 videos per class, class by class,
    # so a prefix of 21 spans two classes and frame-mAP depends on how each model ranks them
    # (a prefix of one class scores every model alike: all its boxes are hits).
    out = demo("stad", out_dir=tmp_path / "demo", epochs=1, batch_size=4, limit_train=8,
               limit_test=N_TEST, test_key_frame_step=16, leakage_items=4,
               log=lambda *a: None)
    assert set(out["results"]) == set(drawn) == {"paste", "paste+pgg"}
    # The two variants share data, initial weights and paste draws; only the guidance term
    # differs, so equal weights would mean the penalty never reached the optimizer.
    weights = [torch.cat([p.detach().flatten() for p in drawn[k].model.parameters()])
               for k in ("paste", "paste+pgg")]
    assert not torch.equal(*weights)
    # The engine's frame-mAP equals the one derived from each model's own predictions on the
    # same test key frames (the run evaluates a prefix of the test split).
    test = drawn["paste"].dataset("test")
    items = [test[i] for i in range(N_TEST)]
    assert len({it["video"].split("/")[0] for it in items}) == 2
    ann = test.ann
    for name, task in drawn.items():
        expected = _frame_map_by_hand(predict_items(task, items), items, ann, len(ann.labels))
        assert out["results"][name]["frame_map@0.5[act]"] == pytest.approx(expected, abs=1e-6), name
    # A tube linked from one key frame per video spans one frame, and every ground-truth tube
    # spans more than 5: temporal IoU < 0.2, so no detection matches at any threshold.
    spans = [len(t) for v in {it["video"] for it in items} for tl in ann.gttubes[v].values()
             for t in tl]
    assert min(spans) > 5
    for metrics in out["results"].values():
        for key in ("video_map@0.2[act]", "video_map@0.5[act]", "video_map@0.5:0.95[act]"):
            assert metrics[key] == 0.0, key
    # the figure: 4 key frames (columns) x (the frames + one gradient row per model); row 1's
    # titles are "true -> predicted" per box, the first model's predictions on those frames;
    # the two models' gradient maps differ (they are different models)
    assert out["figure"].is_file()
    # fig.axes runs row by row: (title, image) of each panel
    panels = [(ax.get_title(), ax.get_images()[0].get_array())
              for ax in drawn_figures[out["figure"].name].axes]
    assert len(panels) == 12
    titles = [title for title, _ in panels[:4]]
    model = drawn["paste"].model
    names = list(test.labels)
    idx = np.linspace(0, len(test) - 1, 4).astype(int)
    for title, i in zip(titles, idx):
        it = test[int(i)]
        boxes = torch.as_tensor(it["boxes"], dtype=torch.float32)
        with torch.no_grad():
            guess = model.predict(it["inputs"][None], {"boxes": [boxes]})[0]["labels"].tolist()
        want = "; ".join(f"{names[int(t)]}->{names[p]}" for t, p in zip(it["labels"], guess))
        assert title == want
    paste_maps = [img for _, img in panels[4:8]]
    guided_maps = [img for _, img in panels[8:12]]
    assert any(not np.array_equal(a, b) for a, b in zip(paste_maps, guided_maps))
    saved = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert saved["task"] == "stad"
    assert saved["results"]["paste+pgg"]["frame_map@0.5[act]"] == pytest.approx(
        out["results"]["paste+pgg"]["frame_map@0.5[act]"])


def test_bad_options():
    with pytest.raises(pgg_zoo.ConfigError, match="synthesizers"):
        pgg_zoo.build("stad", synthesizer="cutmix")
    with pytest.raises(pgg_zoo.ConfigError, match="annotations"):
        pgg_zoo.build("stad", data_root=".")
    with pytest.raises(pgg_zoo.ConfigError, match="head_context"):
        pgg_zoo.build("stad", head_context="local")
    with pytest.raises(pgg_zoo.ConfigError, match="divisible by 4"):
        pgg_zoo.build("stad", backbone="slowfast_r50", clip_len=6)
