"""Keypoint plugin: PoseC3D/pyskl skeleton pickles, UCF101-24-style tubes, the embedded benchmark."""
import os
import pickle

import numpy as np
import pytest

from pgg_zoo.data.safe_pickle import UnsafePickleError
from pgg_zoo_tasks.keypoint.data import (KeypointDataset, SkeletonFormatError, load_gt_tubes,
                                         load_skeleton_pickle, sample_frames)


def pyskl_annotation(name, label, m=2, t=5, v=17, h=120, w=160, seed=0, dtype=np.float16):
    """One video the way pyskl's ``tools/data`` scripts write it (float16 keypoints)."""
    rng = np.random.default_rng(seed)
    kp = np.stack([rng.uniform(0, w, (m, t, v)), rng.uniform(0, h, (m, t, v))], -1)
    return {"frame_dir": name, "label": label, "img_shape": (h, w), "original_shape": (h, w),
            "total_frames": t, "keypoint": kp.astype(dtype),
            "keypoint_score": rng.uniform(0.3, 1, (m, t, v)).astype(dtype)}


def write_pyskl(path, anns, split=None):
    split = split or {"train": [a["frame_dir"] for a in anns[:-1]],
                      "test": [anns[-1]["frame_dir"]]}
    with open(path, "wb") as f:
        pickle.dump({"split": split, "annotations": anns}, f)
    return path


def test_reads_a_pickle_written_like_pyskl(tmp_path):
    anns = [pyskl_annotation(f"v{i}", i % 2, m=4 if i == 0 else 2, seed=i) for i in range(3)]
    anns[0]["keypoint_score"][3] = 0.05  # weakest person: dropped by max_persons=3
    anns[0]["keypoint"][0, 1, 4] = 0      # a missing joint, as pose estimators write it
    anns[0]["keypoint_score"][0, 1, 4] = 0
    sk = load_skeleton_pickle(write_pyskl(tmp_path / "ann.pkl", anns))
    assert sk.split == {"train": ["v0", "v1"], "test": ["v2"]}
    assert sk.num_classes == 2
    ds = KeypointDataset(sk, sk.videos("train"), max_persons=3)
    item = ds[0]
    x = item["inputs"].numpy()
    assert x.shape == (3, 3, 5, 17) and item["label"] == 0 and item["img_shape"] == (120, 160)
    a = sk.annotations["v0"]
    order = np.argsort(-a["keypoint_score"].mean(axis=(1, 2)), kind="stable")[:3]
    assert 3 not in order
    kp, sc = a["keypoint"][order], a["keypoint_score"][order]
    on = sc > 0
    np.testing.assert_allclose(x[0][on], kp[..., 0][on] / 160 * 2 - 1, atol=1e-6)
    np.testing.assert_allclose(x[1][on], kp[..., 1][on] / 120 * 2 - 1, atol=1e-6)
    np.testing.assert_allclose(x[2], sc)
    assert (x[:, ~on] == 0).all()  # missing joints are 0 in every channel
    # Fewer persons than max_persons: zero-padded (absent).
    assert (ds[1]["inputs"][:, 2] == 0).all()
    assert item["frame_inds"].tolist() == [0, 1, 2, 3, 4]


def test_sample_frames_uniform_segments():
    assert sample_frames(10, None, None).tolist() == list(range(10))
    assert sample_frames(10, 5, None).tolist() == [1, 3, 5, 7, 9]
    rng = np.random.default_rng(0)
    idx = sample_frames(100, 4, rng)
    assert all(25 * i <= k < 25 * (i + 1) for i, k in enumerate(idx))


def _bad_cases():
    def drop(key):
        def f(d):
            del d["annotations"][0][key]
        return f

    def setk(key, value):
        def f(d):
            d["annotations"][0][key] = value
        return f

    return {
        "no annotations": (lambda d: d.pop("annotations"), "missing key 'annotations'"),
        "no split": (lambda d: d.pop("split"), "missing key 'split'"),
        "no scores": (drop("keypoint_score"), "misses key(s) ['keypoint_score']"),
        "3 channels": (setk("keypoint", np.zeros((2, 5, 17, 3))), "keypoint' has shape"),
        "frames": (setk("total_frames", 7), "'total_frames' is 7"),
        "score shape": (setk("keypoint_score", np.zeros((2, 5, 16))), "keypoint_score' has shape"),
        "label": (setk("label", -1), "'label' must be a non-negative integer"),
        "img_shape": (setk("img_shape", (0, 5)), "'img_shape'"),
        "nan": (setk("keypoint", np.full((2, 5, 17, 2), np.nan)), "NaN"),
        "split name": (lambda d: d["split"].update(test=["nope"]), "lists 'nope'"),
        "duplicate": (lambda d: d["annotations"].append(dict(d["annotations"][0])),
                      "duplicate frame_dir"),
    }


@pytest.mark.parametrize("case", sorted(_bad_cases()))
def test_malformed_pickles_name_the_file_and_the_key(tmp_path, case):
    anns = [pyskl_annotation(f"v{i}", 0, seed=i) for i in range(2)]
    raw = {"split": {"train": ["v0"], "test": ["v1"]}, "annotations": anns}
    edit, message = _bad_cases()[case]
    edit(raw)
    path = tmp_path / "bad.pkl"
    with open(path, "wb") as f:
        pickle.dump(raw, f)
    with pytest.raises(SkeletonFormatError) as err:
        load_skeleton_pickle(path)
    assert str(path) in str(err.value) and message in str(err.value)
    assert err.value.path == str(path)


def test_not_a_pickle_and_unsafe_pickle(tmp_path):
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(SkeletonFormatError, match="not a readable pickle"):
        load_skeleton_pickle(junk)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    evil = tmp_path / "evil.pkl"
    with open(evil, "wb") as f:
        pickle.dump({"split": {}, "annotations": [Evil()]}, f)
    with pytest.raises(UnsafePickleError, match="evil.pkl"):
        load_skeleton_pickle(evil)


def test_gt_tubes_reader(tmp_path):
    tube = np.array([[1, 0, 0, 10, 10], [2, 1, 1, 11, 11]], dtype=np.float64)
    raw = {"labels": ["a", "b"], "gttubes": {"v0": {1: [tube]}}, "nframes": {"v0": 5},
           "train_videos": [["v0"]], "test_videos": [[]], "resolution": {"v0": (20, 20)}}
    path = tmp_path / "gt.pkl"
    path.write_bytes(pickle.dumps(raw))
    gt = load_gt_tubes(path)
    assert gt.labels == ["a", "b"] and gt.gttubes["v0"][1][0].shape == (2, 5)
    raw["gttubes"]["v0"][1] = [tube[::-1]]
    path.write_bytes(pickle.dumps(raw))
    with pytest.raises(SkeletonFormatError, match=r"gttubes\['v0'\]\[1\]\[0\]: frames"):
        load_gt_tubes(path)
    raw.pop("resolution")
    path.write_bytes(pickle.dumps(raw))
    with pytest.raises(SkeletonFormatError, match="resolution"):
        load_gt_tubes(path)


def test_benchmark_written_in_pyskl_format_and_read_back(bench_home):
    from pgg_zoo_tasks.keypoint.benchmark import (SKELETON_FILE, SPEC, TUBES_FILE,
                                                  ensure_benchmark)

    root = ensure_benchmark()
    assert ensure_benchmark() == root  # cached: same spec, not regenerated
    sk = load_skeleton_pickle(root / SKELETON_FILE)
    gt = load_gt_tubes(root / TUBES_FILE)
    per = SPEC["train_per_class"]
    assert len(sk.split["train"]) == 4 * per and len(sk.split["test"]) == 4 * SPEC["test_per_class"]
    assert gt.labels == SPEC["classes"]
    h, w = SPEC["img_shape"]
    actor_slots = set()
    for name in sk.split["train"][:40] + sk.split["test"][:40]:
        a = sk.annotations[name]
        assert a["keypoint"].shape == (3, SPEC["frames"], 17, 2)
        tubes = gt.gttubes[name]
        n_actors = sum(len(v) for v in tubes.values())
        test_index = int(name[-3:])
        coactor = name in sk.split["test"] and test_index % 2 == 1
        assert n_actors == (2 if coactor else 1)
        assert a["label"] in tubes
        for tl in tubes.values():
            for t in tl:
                assert (t[:, 1] >= 0).all() and (t[:, 3] <= w).all() and (t[:, 4] <= h).all()
                assert SPEC["segment_frames"][0] <= len(t) <= SPEC["segment_frames"][1]
        # The actor is the person whose clean-joint box matches the tube: find its slot.
        t0 = tubes[a["label"]][0]
        f = int(t0[0, 0]) - 1
        sc = a["keypoint_score"][:, f]
        boxes = [np.r_[a["keypoint"][m, f][sc[m] > 0].min(0), a["keypoint"][m, f][sc[m] > 0].max(0)]
                 for m in range(3)]
        actor_slots.add(int(np.argmin([np.abs(b - t0[0, 1:]).sum() for b in boxes])))
    assert len(actor_slots) > 1  # the actor is not always person 0
