"""Checkpoints are data: no route that loads one (evaluation, resume) runs code from the file.

mmengine's checkpoints pickle ``HistoryBuffer.min`` as ``getattr(HistoryBuffer, "min")``. With
the builtin ``getattr`` on the allow-list a file could walk to ``builtins`` and run code (the
chain below did, before the allow-list was narrowed); now only methods defined on
``HistoryBuffer`` are looked up. The hostile pickles are written opcode by opcode, so the test
does not depend on how pickle would serialize anything.
"""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

import pgg_zoo
from pgg_zoo.weights_io import UnreadableWeightsError, checkpoint_globals, torch_load_weights
from test_resume import toy  # noqa: F401 - fixture: the docs/examples plugin's task, registered

GETATTR = b"c__builtin__\ngetattr\n"  # protocol-2 GLOBAL, as torch.save writes it
HISTORY_BUFFER = b"cmmengine.logging.history_buffer\nHistoryBuffer\n"


def _str(text: str) -> bytes:
    data = text.encode()
    return b"X" + len(data).to_bytes(4, "little") + data  # BINUNICODE


def _getattr(obj: bytes, name: str) -> bytes:
    return GETATTR + obj + _str(name) + b"\x86R"  # TUPLE2, REDUCE


def _write_torch_file(path: Path, pickle_bytes: bytes) -> Path:
    """A torch zip checkpoint whose ``data.pkl`` is ``pickle_bytes``."""
    torch.save({"x": 1}, path)
    with zipfile.ZipFile(path) as z:
        items = [(info, z.read(info.filename)) for info in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for info, data in items:
            z.writestr(info, pickle_bytes if info.filename.endswith("data.pkl") else data)
    return path


def _builtins_chain(marker: Path) -> bytes:
    """builtins = getattr(getattr, "__self__"); builtins.__dict__["type"] = builtins.eval; then
    torch's SETITEM check calls type(<string>) on the next target, which evals it."""
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    return (b"\x80\x02" + _getattr(GETATTR, "__self__") + b"q\x01"  # BINPUT 1
            + GETATTR + b"h\x01" + _str("__dict__") + b"\x86R"
            + _str("type") + GETATTR + b"h\x01" + _str("eval") + b"\x86R" + b"s"
            + _str(code) + _str("k") + _str("v") + b"s.")


def test_getattr_chain_to_builtins_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = _write_torch_file(tmp_path / "evil.pth", _builtins_chain(marker))
    # In a child process: if the chain ever worked again it would rebind builtins.type.
    code = ("import sys\nfrom pgg_zoo.weights_io import torch_load_weights\n"
            "try:\n    torch_load_weights(sys.argv[1], mmengine=True)\n"
            "except ValueError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, timeout=120, check=True).stdout.strip()
    assert not marker.exists()
    assert out.startswith(f"{path}: refusing to load") and "\n" not in out
    assert "__self__" in out and "weights_only" not in out


@pytest.mark.parametrize("target, name", [
    (GETATTR, "__self__"),                # the way to builtins
    (HISTORY_BUFFER, "__init__"),         # a function, and through it its __globals__
    (HISTORY_BUFFER, "_set_default_statistics"),
    (HISTORY_BUFFER, "__class__"),
    (b"cnumpy\nndarray\n", "tofile"),     # other allowed classes are not looked into
    (_str("text"), "format"),
])
def test_getattr_outside_history_buffer_methods_is_refused(tmp_path, target, name):
    path = _write_torch_file(tmp_path / "probe.pth", b"\x80\x02" + _getattr(target, name) + b".")
    with pytest.raises(UnreadableWeightsError) as err:
        torch_load_weights(path, mmengine=True)
    msg = str(err.value)
    assert msg.startswith(f"{path}: refusing to load") and name in msg
    assert "\n" not in msg and "weights_only" not in msg


def test_history_buffer_methods_still_load(tmp_path):
    from mmengine.logging.history_buffer import HistoryBuffer

    path = _write_torch_file(tmp_path / "ok.pth",
                             b"\x80\x02" + _getattr(HISTORY_BUFFER, "mean") + b".")
    assert torch_load_weights(path, mmengine=True) is HistoryBuffer.mean


class _Evil:
    """Unpickling this calls os.system(touch marker)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("route", ["resume", "evaluate"])
def test_hostile_pth_is_refused_by_resume_and_eval_and_runs_nothing(toy, tmp_path, route):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "meta": _Evil(marker)}, evil)
    opts = dict(batch_size=8, limit_train=8, limit_test=8, epochs=1, seed=0,
                work_dir=str(tmp_path / "run"))
    with pytest.raises(UnreadableWeightsError) as err:
        if route == "resume":
            pgg_zoo.build(toy, resume=str(evil), **opts).train()
        else:
            pgg_zoo.build(toy, **opts).evaluate(checkpoint=str(evil))
    msg = str(err.value)
    assert not marker.exists()
    assert msg.startswith(f"{evil}: refusing to load") and "system" in msg
    assert "\n" not in msg and "weights_only" not in msg


def test_unpickling_errors_not_from_torch_load_pass_through():
    import pickle

    with pytest.raises(pickle.UnpicklingError, match="from a data file"):
        with checkpoint_globals():
            raise pickle.UnpicklingError("from a data file")
