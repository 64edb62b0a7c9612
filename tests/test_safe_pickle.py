"""The restricted unpickler: data pickles load, pickles that name code are refused unrun."""
from __future__ import annotations

import collections
import os
import pickle
import struct

import numpy as np
import pytest

from pgg_zoo.data.safe_pickle import UnsafePickleError, load_pickle


class _Evil:
    """Unpickling this calls os.system(cmd)."""

    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def _evil_ann(marker) -> dict:
    return {"labels": _Evil(f"touch {marker}"), "gttubes": {}, "nframes": {},
            "train_videos": [[]], "test_videos": [[]], "resolution": {}}


def _ucf_like() -> dict:
    tube = np.array([[f, 4, 2, 20, 30] for f in range(3, 9)], dtype=np.float64)
    return {
        "labels": ["A", "B"],
        "gttubes": {"C/v1": {1: [tube]}},
        "nframes": {"C/v1": 12},
        "train_videos": [["C/v1"]],
        "test_videos": [["C/v1"]],
        "resolution": {"C/v1": (32, 64)},
    }


def test_payload_is_real(tmp_path):
    # guards the refusal test below: a plain pickle.load really runs this payload
    marker = tmp_path / "plain_ran"
    pickle.loads(pickle.dumps(_evil_ann(marker)))
    assert marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_os_system_refused_and_not_run(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_evil_ann(marker), protocol=protocol))
    with pytest.raises(UnsafePickleError) as ei:
        load_pickle(path)
    assert not marker.exists()
    refused = f"{os.system.__module__}.system"  # posix.system on Linux
    assert ei.value.global_name == refused
    assert str(path) in str(ei.value) and refused in str(ei.value)
    assert isinstance(ei.value, ValueError)


def test_tube_annotations_refuse_code(tmp_path):
    from pgg_zoo_tasks.stad.data.ucf24 import load_tube_annotations
    marker = tmp_path / "pwned"
    path = tmp_path / "UCF101v2-GT.pkl"
    path.write_bytes(pickle.dumps(_evil_ann(marker), protocol=2))
    with pytest.raises(UnsafePickleError, match="system"):
        load_tube_annotations(path)
    assert not marker.exists()


@pytest.mark.parametrize("obj", [eval, getattr, np.load, collections.namedtuple])
def test_other_callables_refused(tmp_path, obj):
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"f": obj}))
    with pytest.raises(UnsafePickleError, match=obj.__name__):
        load_pickle(path)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_ucf_style_pickle_loads(tmp_path, protocol):
    from pgg_zoo_tasks.stad.data.ucf24 import load_tube_annotations
    path = tmp_path / "GT.pkl"
    path.write_bytes(pickle.dumps(_ucf_like(), protocol=protocol))
    ann = load_tube_annotations(path)
    tube = ann.gttubes["C/v1"][1][0]
    np.testing.assert_array_equal(tube, _ucf_like()["gttubes"]["C/v1"][1][0])
    assert ann.labels == ["A", "B"] and ann.resolution["C/v1"] == (32, 64)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_dtypes_and_containers_roundtrip(tmp_path, protocol):
    obj = {
        "f32": np.linspace(0, 1, 7, dtype=np.float32).reshape(7, 1),
        "i64": np.arange(-3, 9, dtype=np.int64).reshape(3, 4).T,  # non-contiguous
        "bool": np.array([True, False, True]),
        "scalars": (np.float32(1.5), np.int64(-7), np.bool_(True)),
        "set": {1, 2}, "fz": frozenset({"a"}), "bytes": b"\x00\xff", "c": 1 + 2j,
        "od": collections.OrderedDict(b=1, a=2), "dd": collections.defaultdict(list, {"k": [1]}),
        "none": None,
    }
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    got = load_pickle(path)
    for k in ("f32", "i64", "bool"):
        assert got[k].dtype == obj[k].dtype and got[k].shape == obj[k].shape
        np.testing.assert_array_equal(got[k], obj[k])
    assert [type(s) for s in got["scalars"]] == [np.float32, np.int64, np.bool_]
    assert got["scalars"] == obj["scalars"]
    for k in ("set", "fz", "bytes", "c", "none"):
        assert got[k] == obj[k]
    assert list(got["od"]) == ["b", "a"] and got["dd"]["k"] == [1]
    assert got["dd"].default_factory is list


def _py2_pickle(values) -> bytes:
    """A dict written as Python 2 + numpy 1.x do: ``{'tube': float64 array, 'tags': set}``.

    Hand-assembled opcodes (no Python 2 here): py2 ``str`` (SHORT_BINSTRING) holds the array
    buffer, globals are spelled ``numpy.core.multiarray`` and ``__builtin__``.
    """
    def s(b: bytes) -> bytes:
        return b"U" + bytes([len(b)]) + b
    raw = struct.pack(f"<{len(values)}d", *values)
    array = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
             b"K\x00\x85" + s(b"b") + b"\x87R"
             b"(K\x01K" + bytes([len(values)]) + b"\x85"
             b"cnumpy\ndtype\n" + s(b"f8") + b"K\x00K\x01\x87R"
             b"(K\x03" + s(b"<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
             b"\x89" + s(raw) + b"tb")
    tags = b"c__builtin__\nset\n](" + s(b"x") + s(b"y") + b"e\x85R"
    return b"\x80\x02}(" + s(b"tube") + array + s(b"tags") + tags + b"u."


def test_python2_numpy1_pickle_loads(tmp_path):
    path = tmp_path / "py2.pkl"
    path.write_bytes(_py2_pickle([1.0, 2.5, -3.0]))
    got = load_pickle(path)
    assert got["tags"] == {"x", "y"}
    assert got["tube"].dtype == np.float64
    np.testing.assert_array_equal(got["tube"], [1.0, 2.5, -3.0])


def test_truncated_pickle_is_not_unsafe(tmp_path):
    path = tmp_path / "t.pkl"
    path.write_bytes(pickle.dumps(_ucf_like(), protocol=4)[:40])
    with pytest.raises(Exception) as ei:
        load_pickle(path)
    assert not isinstance(ei.value, UnsafePickleError)
