"""The core's action tubes (pgg_zoo.video.tubes) and element-wise box IoU (pgg_zoo.vision.boxes):
golden values worked out by hand in the comments."""
import os
import pickle

import numpy as np
import pytest

from pgg_zoo.data import DatasetFormatError
from pgg_zoo.data.safe_pickle import UnsafePickleError
from pgg_zoo.video import (TubeAnnotations, load_tube_annotations, save_tube_annotations,
                           tube_box_at, tube_iou, tube_nms, validate_tube_annotations)
from pgg_zoo.vision.boxes import paired_box_iou


def tube(frames, box=(0, 0, 10, 10)):
    return np.array([[f, *box] for f in frames], dtype=np.float64)


# -- paired_box_iou ------------------------------------------------------------------------------
def test_paired_box_iou_conventions():
    a, b = [0, 0, 10, 10], [5, 5, 15, 15]
    # continuous: overlap 5 x 5 = 25, union 100 + 100 - 25 = 175
    assert paired_box_iou(a, b, plus_one=False) == pytest.approx(25 / 175)
    # inclusive pixels: overlap 6 x 6 = 36, areas 11 x 11 = 121, union 242 - 36 = 206
    assert paired_box_iou(a, b, plus_one=True) == pytest.approx(36 / 206)
    # disjoint, and two empty boxes (union 0) -> 0
    assert paired_box_iou(a, [20, 20, 30, 30], plus_one=False) == 0.0
    assert paired_box_iou([0, 0, 0, 0], [0, 0, 0, 0], plus_one=False) == 0.0
    # a single pixel box is one pixel under plus_one: IoU with itself 1
    assert paired_box_iou([3, 3, 3, 3], [3, 3, 3, 3], plus_one=True) == 1.0


def test_paired_box_iou_broadcasts_leading_shapes():
    a = np.array([[0, 0, 10, 10], [0, 0, 20, 20]], dtype=float)[:, None, :]   # (2, 1, 4)
    b = np.array([[0, 0, 10, 10], [0, 0, 5, 10], [30, 30, 40, 40]], dtype=float)[None]  # (1, 3, 4)
    got = paired_box_iou(a, b, plus_one=False)
    # row 0: same box 1; half of it 50/100; disjoint 0
    # row 1 (area 400): 100/400; 50/400; 0
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got, [[1.0, 0.5, 0.0], [0.25, 0.125, 0.0]])


# -- tube geometry -------------------------------------------------------------------------------
def test_tube_box_at():
    t = tube([2, 3, 5])
    t[1, 1:] = [1, 2, 3, 4]
    assert tube_box_at(t, 3).tolist() == [1, 2, 3, 4]
    assert tube_box_at(t, 1) is None and tube_box_at(t, 4) is None and tube_box_at(t, 6) is None


def test_tube_iou_temporal_and_spatial_conventions():
    a, b = tube([1, 2, 3, 4]), tube([3, 4, 5, 6])
    # frames: overlap 3..4 = 2 frames of 1..6 = 6 frames; same boxes -> 1/3
    assert tube_iou(a, b, temporal_plus_one=True) == pytest.approx(1 / 3)
    # as lengths: (4 - 3) / (6 - 1) = 1/5
    assert tube_iou(a, b, temporal_plus_one=False) == pytest.approx(1 / 5)
    # shifted box: spatial IoU 25/175 = 1/7 (continuous), 36/206 (inclusive)
    c = tube([3, 4, 5, 6], (5, 5, 15, 15))
    assert tube_iou(a, c) == pytest.approx(1 / 3 * 1 / 7)
    assert tube_iou(a, c, plus_one=True) == pytest.approx(1 / 3 * 36 / 206)
    # no temporal overlap, empty tube
    assert tube_iou(tube([1, 2]), tube([3, 4])) == 0.0
    assert tube_iou(np.zeros((0, 5)), a) == 0.0
    # rows in any order, an extra score column
    assert tube_iou(a[::-1], np.c_[b, np.ones(4)]) == pytest.approx(1 / 3)


def test_tube_iou_frame_missing_in_one_tube_counts_zero():
    # overlap 1..3 (temporal IoU 1); frame 2 only in the first tube: (1 + 0 + 1) / 3
    assert tube_iou(tube([1, 2, 3]), tube([1, 3]), plus_one=True) == pytest.approx(2 / 3)


def test_tube_nms():
    same, later = tube([1, 2, 3]), tube([10, 11, 12])
    # tube 1 (0.9) is kept first; tube 0 is the same tube (IoU 1 > 0.3): suppressed; tube 2
    # does not overlap in time: kept
    assert tube_nms([same, same, later], [0.8, 0.9, 0.5], 0.3).tolist() == [1, 2]
    # IoU 1/3 (see above) is not > 0.5: both kept, by score
    assert tube_nms([tube([1, 2, 3, 4]), tube([3, 4, 5, 6])], [0.1, 0.2], 0.5).tolist() == [1, 0]
    assert tube_nms([], [], 0.3).tolist() == []


# -- the annotation pickle -----------------------------------------------------------------------
def raw_annotations():
    return {"labels": ["run", "jump"],
            "gttubes": {"a/v1": {1: [tube([1, 2, 3])]}, "a/v2": {0: [tube([2, 3], (1, 1, 8, 8))]}},
            "nframes": {"a/v1": 3, "a/v2": 4},
            "train_videos": [["a/v1"]], "test_videos": [["a/v2"]],
            "resolution": {"a/v1": (12, 16), "a/v2": (12, 16)},
            "note": "kept as extra"}


def test_validate_save_load_roundtrip(tmp_path):
    ann = validate_tube_annotations(raw_annotations())
    assert isinstance(ann, TubeAnnotations)
    assert ann.labels == ["run", "jump"] and ann.nframes == {"a/v1": 3, "a/v2": 4}
    assert ann.videos("train") == ["a/v1"] and ann.videos("test") == ["a/v2"]
    assert ann.videos("all") == ["a/v1", "a/v2"] and ann.extra == {"note": "kept as extra"}
    assert ann.gttubes["a/v1"][1][0].dtype == np.float64
    path = tmp_path / "gt.pkl"
    save_tube_annotations(ann, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gt.pkl"]  # no temporary left
    back = load_tube_annotations(path)
    assert back.path == str(path) and back.resolution == {"a/v1": (12, 16), "a/v2": (12, 16)}
    np.testing.assert_array_equal(back.gttubes["a/v2"][0][0], tube([2, 3], (1, 1, 8, 8)))


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.pop("nframes"), "missing key(s) ['nframes']"),
    (lambda d: d["gttubes"]["a/v1"][1][0].__setitem__((0, 0), 4), "frame 4 outside 1..nframes=3"),
    (lambda d: d["gttubes"]["a/v1"].__setitem__(1, [tube([2, 1])]),
     "gttubes['a/v1'][1][0]: frames must be strictly increasing"),
    (lambda d: d["gttubes"]["a/v1"].__setitem__(5, []), "label key 5 is not an index in 0..1"),
    (lambda d: d.__setitem__("train_videos", ["a/v1"]), "wrap it as [names]"),
    (lambda d: d["gttubes"]["a/v1"][1][0].__setitem__((2, 3), 21), "outside the resolution"),
])
def test_malformed_names_the_file_and_the_key(tmp_path, edit, message):
    raw = raw_annotations()
    edit(raw)
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(raw))
    with pytest.raises(DatasetFormatError) as err:
        load_tube_annotations(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_box_tolerance():
    raw = raw_annotations()
    raw["gttubes"]["a/v1"][1][0][0, 3] = 20  # x2 = 20 on a 16 px wide frame: 4 px out
    validate_tube_annotations(raw)  # within the default tolerance of 4 px
    raw["gttubes"]["a/v1"][1][0][0, 3] = 21
    with pytest.raises(DatasetFormatError, match="box_tolerance=4.0"):
        validate_tube_annotations(raw)
    validate_tube_annotations(raw, box_tolerance=None)  # the check skipped


def test_callers_error_class(tmp_path):
    class PluginError(ValueError):
        def __init__(self, message, path=None):
            super().__init__(message)
            self.path = path

    raw = raw_annotations()
    raw.pop("labels")
    with pytest.raises(PluginError, match=r"^<annotations>: missing key") as err:
        validate_tube_annotations(raw, error=PluginError)
    assert err.value.path is None
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(PluginError, match="junk.pkl: not a readable pickle") as err:
        load_tube_annotations(junk, error=PluginError)
    assert err.value.path == str(junk)


def test_unsafe_and_missing_files(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"labels": [Evil()]}))
    with pytest.raises(UnsafePickleError, match="evil.pkl"):
        load_tube_annotations(evil)
    with pytest.raises(FileNotFoundError):
        load_tube_annotations(tmp_path / "none.pkl")
