"""STAD data: decoding, UCF101-24 pickle and AVA CSV readers, skip policy, sprites benchmark."""
from __future__ import annotations

import json
import pickle
import warnings

import cv2
import numpy as np
import pytest
import torch

from pgg_zoo_tasks.stad.data import (
    AVADataset, BadSampleWarning, DatasetFormatError, SpritesSpec, TubeDataset, VideoDecodeError,
    ensure_stad_benchmark, generate_stad_benchmark, load_actor_masks, load_tube_annotations,
    parse_label_map, read_ava_csv, read_clip, stad_collate, stad_sprites_dataset, write_video,
)
from pgg_zoo_tasks.stad.data.benchmark import render_numbered_video
from pgg_zoo_tasks.stad.data.video import count_frames_in_folder, probe_video

N, H, W = 12, 32, 64


def frames_ramp(n=N, h=H, w=W):
    """Frame t is flat grey 20*t: decoded values identify the frame index."""
    return np.stack([np.full((h, w, 3), 20 * t, dtype=np.uint8) for t in range(n)])


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    write_video(d / "ok.mp4", frames_ramp())
    big = (np.random.default_rng(0).random((24, 32, 48, 3)) * 255).astype(np.uint8)
    write_video(d / "big.mp4", big)
    data = (d / "big.mp4").read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (d / "random.mp4").write_bytes(np.random.default_rng(1).bytes(4000))
    (d / "empty.mp4").write_bytes(b"")
    folder = d / "frames" / "vid"
    folder.mkdir(parents=True)
    for t, f in enumerate(frames_ramp()):
        cv2.imwrite(str(folder / f"{t + 1:05d}.jpg"), f)
    return d


# ---------------------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["decord", "pyav", "auto"])
def test_read_clip_video_file(media, backend):
    x = read_clip(media / "ok.mp4", [0, 5, 11, 5], backend=backend)
    assert x.shape == (4, H, W, 3) and x.dtype == np.uint8
    np.testing.assert_allclose(x.reshape(4, -1).mean(1), [0, 100, 220, 100], atol=3)
    # clamping repeats the edge frames; without clamp an index past the end raises
    y = read_clip(media / "ok.mp4", [-2, 20], backend=backend, clamp=True)
    np.testing.assert_allclose(y.reshape(2, -1).mean(1), [0, 220], atol=3)
    with pytest.raises(VideoDecodeError, match="ok.mp4"):
        read_clip(media / "ok.mp4", [3, 12], backend=backend)


def test_auto_backend_falls_back_to_pyav(tmp_path):
    # decord 0.6 fails on some sizes (48x32 here: "The size must exactly match"); auto decodes
    write_video(tmp_path / "odd.mp4", frames_ramp(4, 32, 48))
    x = read_clip(tmp_path / "odd.mp4", [1, 3], backend="auto")
    np.testing.assert_allclose(x.reshape(2, -1).mean(1), [20, 60], atol=3)


def test_read_clip_frame_folder(media, tmp_path):
    folder = media / "frames" / "vid"
    x = read_clip(folder, [0, 11])
    np.testing.assert_allclose(x.reshape(2, -1).mean(1), [0, 220], atol=3)
    assert count_frames_in_folder(folder) == N
    assert probe_video(folder)[0] == N and probe_video(media / "ok.mp4")[:2] == (N, 8.0)
    # mmaction2 naming is detected too
    other = tmp_path / "mm"
    other.mkdir()
    for t in range(3):
        cv2.imwrite(str(other / f"img_{t + 1:05d}.jpg"), frames_ramp()[t])
    assert read_clip(other, [2]).shape == (1, H, W, 3)
    with pytest.raises(VideoDecodeError, match="00013.jpg"):
        read_clip(folder, [12])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "00001.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(VideoDecodeError, match="00001.jpg"):
        read_clip(tmp_path / "bad", [0])


@pytest.mark.parametrize("backend", ["decord", "pyav", "auto"])
@pytest.mark.parametrize("name", ["truncated.mp4", "random.mp4", "empty.mp4", "missing.mp4"])
def test_corrupt_video_raises_naming_file(media, backend, name):
    with pytest.raises(VideoDecodeError) as ei:
        read_clip(media / name, [0, 1, 20], backend=backend)
    assert name in str(ei.value) and ei.value.path.endswith(name)
    assert isinstance(ei.value, ValueError)


# ---------------------------------------------------------------------------------------
# UCF101-24 pickle
# ---------------------------------------------------------------------------------------
def make_ann():
    # video "C/v1": 12 frames 32x64 (h x w), one tube of class 1 on frames 3..8; "C/v2": class 0, 1..12
    t1 = np.array([[f, 4, 2, 20, 30] for f in range(3, 9)], dtype=np.float64)
    t2 = np.array([[f, 0, 0, 47, 31] for f in range(1, 13)], dtype=np.float64)
    return {
        "labels": ["A", "B"],
        "gttubes": {"C/v1": {1: [t1]}, "C/v2": {0: [t2]}},
        "nframes": {"C/v1": N, "C/v2": N},
        "train_videos": [["C/v1", "C/v2"]],
        "test_videos": [["C/v2"]],
        "resolution": {"C/v1": (H, W), "C/v2": (H, W)},
    }


@pytest.fixture()
def ucf_root(tmp_path):
    root = tmp_path / "ucf"
    (root / "rgb-images" / "C" / "v1").mkdir(parents=True)
    for t, f in enumerate(frames_ramp()):
        cv2.imwrite(str(root / "rgb-images" / "C" / "v1" / f"{t + 1:05d}.jpg"), f)
    (root / "videos" / "C").mkdir(parents=True)
    write_video(root / "videos" / "C" / "v2.mp4", frames_ramp())
    with open(root / "GT.pkl", "wb") as f:
        pickle.dump(make_ann(), f, protocol=2)
    return root


def test_tube_dataset_items(ucf_root):
    ds = TubeDataset(ucf_root, "GT.pkl", "train", clip_len=4, stride=2, size=16,
                     mean=(0, 0, 0), std=(1, 1, 1))
    # key frames: v1 frames 3..8 (6) + v2 frames 1..12 (12)
    assert len(ds) == 18 and ds.num_classes == 2
    it = ds[0]  # v1, key frame 3, read from the frame folder
    assert it["inputs"].shape == (3, 4, 16, 16) and it["inputs"].dtype == torch.float32
    assert it["video"] == "C/v1" and it["frame"] == 3 and it["orig_size"] == (H, W)
    # clip frames 3 + (-2, -1, 0, 1) * 2 = -1, 1, 3, 5 -> clamped 1, 1, 3, 5
    assert it["frame_numbers"].tolist() == [1, 1, 3, 5]
    np.testing.assert_allclose(it["inputs"][0, :, 8, 8].numpy() * 255, [0, 0, 40, 80], atol=3)
    # box [4, 2, 20, 30] scaled by (16/64, 16/32)
    np.testing.assert_allclose(it["boxes"].numpy(), [[1, 1, 5, 15]], rtol=1e-5)
    assert it["labels"].tolist() == [1]
    # the tube has no box on frames 1 (twice) -> invalid there
    assert it["tube_valid"].tolist() == [[False, False, True, True]]
    it2 = ds[6]  # v2 from the mp4 file (source="auto": no frame folder)
    assert it2["video"] == "C/v2" and it2["labels"].tolist() == [0]
    batch = stad_collate([it, it2])
    assert batch["inputs"].shape == (2, 3, 4, 16, 16) and len(batch["boxes"]) == 2
    test = TubeDataset(ucf_root, "GT.pkl", "test", key_frames="all", key_frame_step=3)
    assert [s[1] for s in test.samples] == [1, 4, 7, 10]


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d.pop("resolution"), "missing key.*resolution"),
    (lambda d: d["gttubes"]["C/v1"].__setitem__(1, [np.zeros((3, 4))]),
     r"gttubes\['C/v1'\]\[1\]\[0\] has shape \(3, 4\)"),
    (lambda d: d["gttubes"]["C/v1"][1][0].__setitem__((0, 0), 13), "frame 13 outside 1..nframes=12"),
    (lambda d: d["gttubes"]["C/v1"][1][0].__setitem__((1, 3), 90), "outside the resolution"),
    (lambda d: d.__setitem__("train_videos", ["C/v1"]), "wrap it as"),
    (lambda d: d["gttubes"]["C/v1"].__setitem__(5, d["gttubes"]["C/v1"].pop(1)), "label key 5"),
    (lambda d: d["test_videos"][0].append("C/v9"), "'C/v9' which has no entry"),
])
def test_malformed_pickle(tmp_path, mutate, match):
    d = make_ann()
    mutate(d)
    p = tmp_path / "bad.pkl"
    p.write_bytes(pickle.dumps(d))
    with pytest.raises(DatasetFormatError, match=match) as ei:
        load_tube_annotations(p)
    assert "bad.pkl" in str(ei.value)


def test_not_a_pickle(tmp_path):
    p = tmp_path / "junk.pkl"
    p.write_bytes(b"\x00garbage")
    with pytest.raises(DatasetFormatError, match="junk.pkl.*not a readable pickle"):
        load_tube_annotations(p)


def test_skip_policy(ucf_root):
    # corrupt v2's video: raise stops; skip reports and moves on to the next good sample
    (ucf_root / "videos" / "C" / "v2.mp4").write_bytes(b"\x00" * 100)
    ds = TubeDataset(ucf_root, "GT.pkl", "train", clip_len=2, size=16)
    with pytest.raises(VideoDecodeError, match="v2.mp4"):
        ds[6]
    ds = TubeDataset(ucf_root, "GT.pkl", "train", clip_len=2, size=16, on_error="skip")
    with pytest.warns(BadSampleWarning, match="v2.mp4"):
        it = ds[6]
    assert it["video"] == "C/v1"  # wrapped around to the first good sample
    assert len(ds.bad_samples) == 1 and ds.bad_samples[0]["video"] == "C/v2"
    assert ds.bad_samples[0]["path"].endswith("v2.mp4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # known bad video: skipped without a second decode
        assert ds[7]["video"] == "C/v1"
    with pytest.raises(ValueError):
        TubeDataset(ucf_root, "GT.pkl", on_error="ignore")


# ---------------------------------------------------------------------------------------
# AVA
# ---------------------------------------------------------------------------------------
PBTXT = '''item {
  name: "bend/bow (at the waist)"
  id: 1
  label_type: PERSON_MOVEMENT
}
item {
  name: "talk to (e.g., self, a person, a group)"
  id: 79
}
item { name: "stand" id: 12 }
'''


def test_ava_reader_and_dataset(tmp_path):
    lm = tmp_path / "ava_action_list_v2.2.pbtxt"
    lm.write_text(PBTXT)
    labels = parse_label_map(lm)
    assert list(labels) == [1, 12, 79] and labels[1].label_type == "PERSON_MOVEMENT"
    assert labels[79].name.startswith("talk to")
    csvp = tmp_path / "ava_train_v2.2.csv"
    csvp.write_text(
        "vidA,0902,0.1,0.2,0.5,0.9,12,0\n"
        "vidA,0902,0.1,0.2,0.5,0.9,79,0\n"  # same person, second action -> multi-label
        "vidA,0902,0.6,0.1,0.9,0.8,1,1\n"
        "vidA,0902,0.6,0.1,0.9,0.8,40,1\n"  # action 40 not in the label map -> dropped
        "vidA,0903,0.0,0.0,1.0,1.0,12,0\n")
    ann = read_ava_csv(csvp, label_map=labels)
    assert list(ann) == [("vidA", 902), ("vidA", 903)]
    p0, p1 = ann[("vidA", 902)]
    assert p0.actions == [12, 79] and p1.actions == [1] and p0.person_id == 0
    frames = tmp_path / "rawframes" / "vidA"
    frames.mkdir(parents=True)
    for t in range(90):  # 3 s at 30 fps from second 900 -> second 902 is 0-based frame 60
        cv2.imwrite(str(frames / f"img_{t + 1:05d}.jpg"), np.full((20, 30, 3), t, np.uint8))
    ds = AVADataset(tmp_path, csvp.name, label_map=lm.name, clip_len=4, stride=5, size=16,
                    mean=(0, 0, 0), std=(1, 1, 1))
    it = ds[0]
    assert it["inputs"].shape == (3, 4, 16, 16) and it["frame"] == 61
    assert it["labels"].tolist() == [[0, 1, 1], [1, 0, 0]]
    np.testing.assert_allclose(it["boxes"][0].numpy(), [1.6, 3.2, 8.0, 14.4], rtol=1e-5)
    # clip frames 60 + (-2..1) * 5 = 50, 55, 60, 65 (0-based) -> grey levels of those frames
    np.testing.assert_allclose(it["inputs"][0, :, 8, 8].numpy() * 255, [50, 55, 60, 65], atol=3)
    # 903 -> frame 90 is past the 90 extracted frames: clamped to the last
    assert ds[1]["frame_numbers"].max().item() == 90


@pytest.mark.parametrize("row,match", [
    ("vidA,0902,0.1,0.2,0.5\n", ":1: expected 7 or 8 columns"),
    ("vidA,0902,0.1,0.2,0.5,0.9,12,0\nvidA,abc,0.1,0.2,0.5,0.9,12,0\n", ":2: non-numeric"),
    ("vidA,0902,0.1,0.2,1.5,0.9,12,0\n", ":1: box .* not normalized"),
    ("vidA,0902,0.5,0.2,0.1,0.9,12,0\n", ":1: box .* x2 < x1"),
])
def test_ava_malformed_csv(tmp_path, row, match):
    p = tmp_path / "bad.csv"
    p.write_text(row)
    with pytest.raises(DatasetFormatError, match=match) as ei:
        read_ava_csv(p)
    assert "bad.csv" in str(ei.value)


def test_ava_bad_label_map(tmp_path):
    p = tmp_path / "x.pbtxt"
    p.write_text("item { name: \"a\" id: 1 }\nitem { name: \"b\" }\n")
    with pytest.raises(DatasetFormatError, match="x.pbtxt:2: .*lacks 'id'"):
        parse_label_map(p)
    p.write_text("nothing here")
    with pytest.raises(DatasetFormatError, match="no 'item"):
        parse_label_map(p)


# ---------------------------------------------------------------------------------------
# sprites benchmark
# ---------------------------------------------------------------------------------------
SMALL = SpritesSpec(n_train_per_class=2, n_test_per_class=1)


def test_benchmark_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("PGG_ZOO_HOME", str(tmp_path / "home"))
    folder = ensure_stad_benchmark(spec=SMALL)
    assert folder.parent == tmp_path / "home" / "benchmarks"
    assert folder.name.startswith("stad-sprites-v1-")  # non-default spec gets a hash suffix
    info = json.loads((folder / "SPEC.json").read_text())
    assert info["num_videos"] == 9
    stamp = (folder / "SPEC.json").stat().st_mtime_ns
    assert ensure_stad_benchmark(spec=SMALL) == folder  # cached: not regenerated
    assert (folder / "SPEC.json").stat().st_mtime_ns == stamp
    assert not [p for p in folder.parent.iterdir() if ".tmp-" in p.name]

    ann = load_tube_annotations(folder / "STAD-Sprites-GT.pkl")
    assert ann.labels == ["jump", "walk", "wave"]
    assert len(ann.videos("train")) == 6 and len(ann.videos("test")) == 3
    meta = ann.extra["pgg_meta"]["videos"]
    v = ann.videos("train")[0]
    (c, tubes), = ann.gttubes[v].items()
    masks = load_actor_masks(folder, v)
    assert masks.shape[0] == len(tubes) and masks.shape[1:] == (16, 64, 64)
    for m, t in zip(masks, tubes):  # the GT box is the tight box of the actor mask
        for row in t:
            ys, xs = np.nonzero(m[int(row[0]) - 1])
            assert row[1:].tolist() == [xs.min(), ys.min(), xs.max(), ys.max()]
    # the decoded video matches the rendering (same rng stream as the generator)
    tex, frames, _, _, _ = render_numbered_video(SMALL, 0, c, SMALL.p_bias_train)
    assert tex == meta[v]["texture"]
    dec = read_clip(folder / "videos" / f"{v}.mp4", range(16))
    assert np.abs(dec.astype(float) - frames).mean() < 3.0
    # read back by the same UCF101-24 reader
    ds = stad_sprites_dataset("test", spec=SMALL, clip_len=8)
    it = ds[0]
    assert it["inputs"].shape == (3, 8, 64, 64) and it["labels"].numel() == it["boxes"].shape[0]


def test_benchmark_deterministic_and_biased(tmp_path):
    a = generate_stad_benchmark(tmp_path / "a", SMALL)
    b = generate_stad_benchmark(tmp_path / "b", SMALL)
    pa = pickle.loads((a / "STAD-Sprites-GT.pkl").read_bytes())
    pb = pickle.loads((b / "STAD-Sprites-GT.pkl").read_bytes())
    assert pa["pgg_meta"] == pb["pgg_meta"]
    for v in pa["gttubes"]:
        for c in pa["gttubes"][v]:
            for x, y in zip(pa["gttubes"][v][c], pb["gttubes"][v][c]):
                np.testing.assert_array_equal(x, y)
    # texture/class alignment of the full default spec (rendering 180 videos takes ~2 s)
    spec = SpritesSpec()
    aligned = {"train": [], "test": []}
    n = 0
    for split, per, p in (("train", spec.n_train_per_class, spec.p_bias_train),
                          ("test", spec.n_test_per_class, spec.p_bias_test)):
        for c in range(3):
            for _ in range(per):
                tex = render_numbered_video(spec, n, c, p)[0]
                aligned[split].append(tex == spec.textures[c])
                n += 1
    # p = 0.9 in train (120 videos); independent (1/3) in test (60 videos)
    assert 0.8 < np.mean(aligned["train"]) < 0.97
    assert 0.15 < np.mean(aligned["test"]) < 0.55
