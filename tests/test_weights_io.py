"""Weight files: every format loads strictly, unreadable files fail in one line naming them."""
from __future__ import annotations

import os
import pickle

import pytest
import torch

import pgg_zoo
from pgg_zoo.cli.main import main as cli
from pgg_zoo.engine.model import PGGModel
from pgg_zoo.weights_io import (UnreadableWeightsError, WeightsMismatchError, load_weights_file,
                                read_weights_file, save_weights)


def mmengine_checkpoint(task, path):
    """What the engine's checkpoint hook writes: the wrapper's state dict plus run state.

    ``message_hub`` holds mmengine ``HistoryBuffer``s and numpy values, as real checkpoints do,
    so reading it exercises the weights_only allow-list.
    """
    from mmengine.logging import MessageHub

    hub = MessageHub.get_instance(f"ckpt-{os.getpid()}-{path.name}")
    hub.update_scalar("train/loss", 0.5)
    wrapper = PGGModel(task.model, task.synthesizer, task.guidance, seed=0)
    torch.save({"meta": {"epoch": 1, "seed": 0}, "state_dict": wrapper.state_dict(),
                "message_hub": hub.state_dict(), "optimizer": {}}, path)
    return path


@pytest.fixture(scope="module")
def tasks():
    return {
        "wsol": pgg_zoo.build("wsol"),
        "stad3": pgg_zoo.build("stad", num_classes=3),
        "stad5": pgg_zoo.build("stad", num_classes=5),
    }


def _params(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_mmengine_pth_and_plain_state_dict_load_exactly(tasks, tmp_path):
    src = tasks["stad3"]
    with torch.no_grad():
        for p in src.model.parameters():
            p.add_(torch.randn_like(p))
    want = _params(src.model)
    plain = tmp_path / "plain.pth"
    torch.save(src.model.state_dict(), plain)
    for path in (mmengine_checkpoint(src, tmp_path / "epoch_1.pth"), plain):
        fresh = pgg_zoo.build("stad", num_classes=3, seed=1)
        assert not all(torch.equal(v, want[k]) for k, v in fresh.model.state_dict().items())
        load_weights_file(fresh.model, path)
        got = fresh.model.state_dict()
        assert set(got) == set(want)
        assert all(torch.equal(got[k], want[k]) for k in want)


@pytest.mark.parametrize("src, dst, kinds", [
    ("wsol", "stad3", {"missing", "unexpected"}),      # another task
    ("stad5", "stad3", {"shapes"}),                      # another class count
])
def test_wrong_pth_is_refused_with_keys_listed(tasks, tmp_path, src, dst, kinds):
    path = mmengine_checkpoint(tasks[src], tmp_path / "epoch_1.pth")
    model = tasks[dst].model
    before = _params(model)
    with pytest.raises(WeightsMismatchError) as ei:
        tasks[dst].evaluate(checkpoint=str(path))
    err = ei.value
    msg = str(err)
    assert "\n" not in msg and str(path) in msg and "nothing was loaded" in msg
    assert bool(err.missing) == ("missing" in kinds) and bool(err.unexpected) == ("unexpected" in kinds)
    assert bool(err.shape_mismatches) == ("shapes" in kinds)
    if "shapes" in kinds:
        assert "checkpoint [5" in msg and "vs model [3" in msg
    if "missing" in kinds:
        assert f"missing keys ({len(err.missing)})" in msg
    # wrapper prefix stripped: keys are named as the task model names them
    assert not any(k.startswith("task_model.") for k in err.unexpected)
    after = model.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before)


def test_cli_eval_wrong_pth_one_line_nonzero(tasks, tmp_path, capsys):
    path = mmengine_checkpoint(tasks["wsol"], tmp_path / "epoch_1.pth")
    work = tmp_path / "eval"
    rc = cli(["eval", "stad", "--checkpoint", str(path), "--work-dir", str(work),
              "--set", "num_classes=3"])
    captured = capsys.readouterr()
    assert rc == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"pgg-zoo: error: {path} does not match")
    assert "missing keys" in lines[0] and "unexpected keys" in lines[0]
    assert "metrics" not in captured.out
    assert not (work / "metrics.json").exists()


def _unreadable_files(tmp_path):
    good = tmp_path / "good.pth"
    torch.save({"w": torch.zeros(64)}, good)
    data = good.read_bytes()
    files = {
        "truncated": data[: len(data) // 2],
        "garbage": bytes(range(256)) * 4,
        "empty": b"",
        "text": b"hello, not a checkpoint\n",
        "plain_pickle": pickle.dumps({"w": [1, 2, 3]}, protocol=2),
    }
    out = {}
    for name, content in files.items():
        p = tmp_path / f"{name}.pth"
        p.write_bytes(content)
        out[name] = p
    return out


def test_unreadable_pth_is_one_line_naming_the_file(tasks, tmp_path, capsys):
    for name, path in _unreadable_files(tmp_path).items():
        with pytest.raises(UnreadableWeightsError) as ei:
            read_weights_file(path)
        msg = str(ei.value)
        assert "\n" not in msg and msg.startswith(str(path)), (name, msg)
        assert "weights_only" not in msg, (name, msg)
        rc = cli(["eval", "wsol", "--checkpoint", str(path), "--work-dir", str(tmp_path / "w")])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and str(path) in err[0], (name, err)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pth_with_code_is_refused_unrun(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "x": _Evil(marker)}, path)
    with pytest.raises(UnreadableWeightsError, match=r"refusing to load.*system"):
        read_weights_file(path)
    assert not marker.exists()


def test_save_weights_follows_umask(tasks, tmp_path):
    old = os.umask(0o022)
    try:
        path = save_weights(tasks["stad3"].model, tmp_path / "model.safetensors")
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert not (tmp_path / "model.safetensors.tmp").exists()
    fresh = pgg_zoo.build("stad", num_classes=3, seed=3)
    load_weights_file(fresh.model, path)
    want = tasks["stad3"].model.state_dict()
    assert all(torch.equal(fresh.model.state_dict()[k], want[k]) for k in want)


def test_no_compatibility_re_exports_remain():
    """0.1 has no users to keep old paths for: each name has one home."""
    import importlib

    for gone in ("pgg_zoo_tasks.wsol.model", "pgg_zoo_tasks.wsol.localization",
                 "pgg_zoo.engine.config", "pgg_zoo.task.task"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(gone)
    import pgg_zoo.engine.runner as runner
    import pgg_zoo_tasks.wsol.backbones as wb
    import pgg_zoo_tasks.wsol.data as wd
    assert not hasattr(wb, "tiny_cam") and not hasattr(wd, "CUBDataset")
    assert "_mmengine_checkpoint_globals" not in vars(runner)
