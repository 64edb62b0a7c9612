"""``stad-scenes-v1`` writer: UCF layout read back by the STAD reader, scene/class correlation
per split, val carved by video, scene kept out of the actor boxes (docs/stad.md)."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from pgg_zoo_tasks.stad.data import TubeDataset, load_tube_annotations, read_clip
from pgg_zoo_tasks.stad.data.scenes import (SCENES_ANNOTATION_FILE, ScenesSpec,
                                            ensure_scenes_benchmark, val_carve)

#: Small enough to write in a second or two; p = 1 so the training share is exact.
SPEC = ScenesSpec(n_train_per_class=5, n_test_per_class=3, p_scene_train=1.0)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return ensure_scenes_benchmark(tmp_path_factory.mktemp("scenes"), SPEC)


def test_layout_read_back_by_the_stad_reader(bench):
    ann = load_tube_annotations(bench / SCENES_ANNOTATION_FILE)
    assert ann.labels == list(SPEC.classes)
    assert len(ann.videos("train")) == 5 * 3 and len(ann.videos("test")) == 3 * 3
    manifest = json.loads((bench / "manifest.json").read_text())
    assert manifest["name"] == "stad-scenes-v1" and manifest["seed"] == 0
    ds = TubeDataset(bench, SCENES_ANNOTATION_FILE, "test", clip_len=8, size=SPEC.size,
                     source="videos")
    item = ds[0]
    assert item["inputs"].shape == (3, 8, SPEC.size, SPEC.size)
    assert item["boxes"].shape == (1, 4) and item["tube_valid"].all()
    # one tube per video, spanning every frame
    for v in ann.videos("all"):
        (c, tubes), = ann.gttubes[v].items()
        assert len(tubes) == 1 and tubes[0][:, 0].tolist() == list(range(1, 9))
    # a second call reuses the folder (manifest matches)
    assert ensure_scenes_benchmark(bench.parent, SPEC) == bench


def test_scene_class_correlation_per_split(bench):
    ann = load_tube_annotations(bench / SCENES_ANNOTATION_FILE)
    meta = ann.extra["pgg_meta"]["videos"]
    by = {s: [m for m in meta.values() if m["split"] == s] for s in ("train", "val", "test")}
    assert len(by["val"]) == 3 and len(by["train"]) == 12 and len(by["test"]) == 9
    assert all(m["scene_aligned"] for m in by["train"])  # p_scene_train = 1
    # val and test draw the scene uniformly, independent of the class
    held = by["val"] + by["test"]
    assert np.mean([m["scene_aligned"] for m in held]) < 0.7
    assert not all(m["scene_aligned"] for m in by["val"])
    for m in meta.values():
        assert m["scene"] in [s[0] for s in SPEC.scenes]


def test_val_carved_by_video_disjoint_from_train(bench):
    ann = load_tube_annotations(bench / SCENES_ANNOTATION_FILE)
    val = ann.extra["pgg_meta"]["val_videos"]
    train = [v for v in ann.videos("train") if v not in set(val)]
    assert not set(val) & set(train) and len(set(val)) == len(val) == 3
    # stratified by class: 20 % of each class's 5 videos
    assert sorted(v.split("/")[0] for v in val) == sorted(SPEC.classes)
    assert len(val_carve(SPEC)) == 3


def test_scene_never_inside_the_actor_box(bench):
    ann = load_tube_annotations(bench / SCENES_ANNOTATION_FILE)
    v = ann.videos("train")[0]
    (c, (tube,)), = ann.gttubes[v].items()
    frames = read_clip(bench / "videos" / f"{v}.mp4", np.arange(8), backend="pyav")
    for t, x1, y1, x2, y2 in tube.astype(int):
        zone = frames[t - 1, y1:y2, x1:x2].astype(float)
        # the zone is grey (128) except the actor's pixels; its border rows are grey up to
        # the codec's ringing next to the scene
        assert np.abs(zone[0] - SPEC.zone_grey).mean() < 6
        outside = frames[t - 1].astype(float).copy()
        outside[y1:y2, x1:x2] = np.nan
        assert np.nanstd(outside) > 5  # the scene texture is around it


@pytest.mark.parametrize("zone", ["frame", "clip"])
def test_stad_task_splits(tmp_path, monkeypatch, zone):
    """The task builds the spec registered under its benchmark name, trains on train minus
    val and evaluates val on the carved videos alone."""
    import pgg_zoo
    from pgg_zoo_tasks.stad.task import STADTask

    monkeypatch.setenv("PGG_ZOO_HOME", str(tmp_path))
    name = f"stad-scenes-small-{zone}-test"
    small = pgg_zoo.register_benchmark(SPEC.variant(name, zone=zone))
    # The data side only: a full build (backbone registry, plugin discovery) takes seconds.
    task = object.__new__(STADTask)
    task.options = {**STADTask.default_options(), "benchmark": name}
    task.run = STADTask.default_run()
    assert task.native_val and task.image_size() == 32
    train, val = task.dataset("train"), task.dataset("val")
    tv = {v for v, _ in train.samples}
    vv = {v for v, _ in val.samples}
    assert len(tv) == 12 and len(vv) == 3 and not tv & vv
    assert task.num_classes() == 3
    assert train.root == tmp_path / "benchmarks" / name  # the registered spec: its bare name
    manifest = json.loads((train.root / "manifest.json").read_text())
    assert manifest["name"] == name and manifest["spec"]["n_train_per_class"] == 5
    assert manifest["spec"]["zone"] == zone == small.zone


def test_released_specs():
    import pgg_zoo
    from pgg_zoo.registry import DuplicateNameError

    v1, v2 = pgg_zoo.get_benchmark("stad-scenes-v1"), pgg_zoo.get_benchmark("stad-scenes-v2")
    assert v1 == ScenesSpec() and v1.n_train_per_class == 40 and v1.zone == "frame"
    # v2 changes the number of training videos and nothing else
    assert dataclasses.replace(v2, name=v1.name, n_train_per_class=40) == v1
    assert v2.n_train_per_class == 120
    assert v1.folder_name() == "stad-scenes-v1" and v2.folder_name() == "stad-scenes-v2"
    # a variant under a released name gets a folder of its own, and cannot be registered
    assert ScenesSpec(zone="clip").folder_name().startswith("stad-scenes-v1-")
    with pytest.raises(DuplicateNameError, match="stad-scenes-v1"):
        pgg_zoo.register_benchmark(ScenesSpec(zone="clip"))
    assert pgg_zoo.get_benchmark("stad-scenes-v1") == ScenesSpec()


def test_clip_zone_is_the_union_of_the_frame_zones():
    import numpy as _np

    from pgg_zoo_tasks.stad.data.scenes import render_scene_video

    frame_spec = ScenesSpec()
    clip_spec = ScenesSpec(zone="clip")
    for cls in range(3):
        _, per_frame, _ = render_scene_video(cls, 0, frame_spec, _np.random.default_rng([7, cls]))
        frames, static, _ = render_scene_video(cls, 0, clip_spec, _np.random.default_rng([7, cls]))
        # the same actor (same draws); one static zone covering every frame's tight zone
        want = [per_frame[:, 1].min(), per_frame[:, 2].min(), per_frame[:, 3].max(),
                per_frame[:, 4].max()]
        assert (static[:, 1:] == _np.asarray(want)).all()
        assert static[:, 0].tolist() == list(range(1, 9))
        x1, y1, x2, y2 = (int(v) for v in want)
        # the zone's margin rows hold grey plus at most 5 % of the actor's colour (pixels below
        # the 0.05 coverage that defines the tight box) on every frame: no scene in the zone.
        # With per-frame zones the same rect shows scene on some frame.
        def margin_dev(video):
            zone = video[:, y1:y2, x1:x2].astype(float)
            rows = _np.concatenate([zone[:, 0], zone[:, -1]], axis=1)
            return _np.abs(rows - frame_spec.zone_grey).max()

        assert margin_dev(frames) <= 0.05 * 255 + 1
        moving, _, _ = render_scene_video(cls, 0, frame_spec, _np.random.default_rng([7, cls]))
        assert margin_dev(moving) > 20
    with pytest.raises(ValueError, match="zone"):
        render_scene_video(0, 0, ScenesSpec(zone="tube"), _np.random.default_rng(0))
