"""Checkpoints and ``resume``: exact continuation, crash-safe writes, saved train state.

Uses the toy plugin of docs/examples (a 3-class 16x16 task, ToyNet without BatchNorm), CutMix
with provenance guidance, 24 training items in batches of 8: 3 iterations per epoch, 2 epochs.
"""
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import pgg_zoo
from pgg_zoo.engine import PGGModel
from pgg_zoo.engine.hooks import TrainStateHook
from pgg_zoo.config import parse_checkpoint_interval
from pgg_zoo.weights_io import checkpoint_globals

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


@pytest.fixture
def toy():
    """Register the example plugin's task directly; removed afterwards."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        import pgg_toy_plugin

        pgg_zoo.register_task("toy_blobs", replace=True)(pgg_toy_plugin.ToyBlobsTask)
        yield "toy_blobs"
    finally:
        if "toy_blobs" in pgg_zoo.TASKS:
            pgg_zoo.TASKS.remove("toy_blobs")
        sys.path.remove(str(EXAMPLES))
        sys.modules.pop("pgg_toy_plugin", None)


def _build(name, work_dir, **kw):
    cfg = dict(alpha=0.05, synthesizer="cutmix", batch_size=8, limit_train=24, limit_test=8,
               epochs=2, seed=3, work_dir=str(work_dir), checkpoint_interval=2)
    cfg.update(kw)
    # The toy model initializes from the global RNG: seed it so every run starts the same.
    torch.manual_seed(0)
    return pgg_zoo.build(name, **cfg)


def _load(path):
    with checkpoint_globals():
        return torch.load(path, map_location="cpu")


def test_crash_mid_write_keeps_last_good_checkpoint_and_resume_is_exact(toy, tmp_path,
                                                                        monkeypatch):
    # Reference: 6 iterations without interruption.
    ref = _build(toy, tmp_path / "ref")
    ref_metrics = ref.train()

    # Interrupted run: the second checkpoint write (iteration 4) dies half-way through.
    from mmengine.fileio.backends import LocalBackend

    real_put = LocalBackend.put
    calls = {"n": 0}

    def dying_put(self, obj, filepath):
        if str(filepath).endswith(".pth.tmp"):
            calls["n"] += 1
            if calls["n"] == 2:
                with open(filepath, "wb") as f:
                    f.write(obj[: len(obj) // 2])
                raise OSError("simulated crash during checkpoint write")
        return real_put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, "put", dying_put)
    run = tmp_path / "run"
    with pytest.raises(OSError, match="simulated crash"):
        _build(toy, run).train()
    monkeypatch.setattr(LocalBackend, "put", real_put)

    assert (run / "iter_2.pth").is_file()
    assert not (run / "iter_4.pth").exists()  # the half-written file never got the real name
    assert (run / "iter_4.pth.tmp").is_file()
    assert (run / "last_checkpoint").read_text().strip() == "iter_2.pth"  # folder-relative
    ckpt = _load(run / "iter_2.pth")
    assert ckpt["meta"]["iter"] == 2 and ckpt["meta"]["epoch"] == 0  # mid-epoch (3 per epoch)
    assert "pgg_train_state" in ckpt["meta"]

    # Resume from the last good checkpoint (iteration 2, inside epoch 0) and finish.
    resumed = _build(toy, run, resume=True)
    metrics = resumed.train()
    for (k, a), b in zip(ref.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), f"{k} differs after resume"
    assert metrics == ref_metrics
    # Pruning happens after a successful write only: the two newest are kept.
    assert sorted(p.name for p in run.glob("iter_*.pth")) == ["iter_4.pth", "iter_6.pth"]
    assert (run / "last_checkpoint").read_text().strip() == "iter_6.pth"
    final = _load(run / "iter_6.pth")
    ref_final = _load(tmp_path / "ref" / "iter_6.pth")
    # Optimizer and scheduler state match too.
    for a, b in zip(final["optimizer"]["state"].values(), ref_final["optimizer"]["state"].values()):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert final["param_schedulers"] == ref_final["param_schedulers"]
    # Per-evaluation history is appended (one line per evaluation).
    assert (run / "metrics.jsonl").read_text().count("\n") == 1


def test_resume_from_epoch_boundary_equals_uninterrupted(toy, tmp_path):
    """n = 3 steps (a whole epoch), stop, resume n more == 2n steps."""
    ref = _build(toy, tmp_path / "ref", checkpoint_interval="1e")
    ref.train()
    first = _build(toy, tmp_path / "run", checkpoint_interval="1e", epochs=2)
    # Stop after one epoch: train with the same schedule but interrupt after epoch 1.
    from pgg_zoo.engine.loops import PGGEpochBasedTrainLoop

    real = PGGEpochBasedTrainLoop.run_epoch

    def one_epoch_then_stop(self):
        real(self)
        if self._epoch == 1:
            raise KeyboardInterrupt

    PGGEpochBasedTrainLoop.run_epoch = one_epoch_then_stop
    try:
        with pytest.raises(KeyboardInterrupt):
            first.train()
    finally:
        PGGEpochBasedTrainLoop.run_epoch = real
    assert (tmp_path / "run" / "epoch_1.pth").is_file()
    resumed = _build(toy, tmp_path / "run", checkpoint_interval="1e",
                     resume=str(tmp_path / "run" / "epoch_1.pth"))
    resumed.train()
    for a, b in zip(ref.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_train_state_hook_restores_global_rngs_and_seeds_synthesis_per_rank():
    hook = TrainStateHook(seed=5)
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    ckpt: dict = {"meta": {}}

    class R:  # the little of a runner the hook reads
        model = PGGModel(torch.nn.Linear(2, 2), None, pgg_zoo.ProvenanceGuidance(alpha=0.0))
        iter = 7

    hook.before_save_checkpoint(R, ckpt)
    expect = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(2), np.random.seed(2), random.seed(2)
    hook.after_load_checkpoint(R, ckpt)
    hook.before_train(R)
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expect[0], got[0]) and np.array_equal(expect[1], got[1])
    assert expect[2] == got[2]
    hook.before_train_iter(R, 0)
    a = torch.rand(4, generator=R.model.generator)
    hook.before_train_iter(R, 0)
    assert torch.equal(a, torch.rand(4, generator=R.model.generator))  # reproducible per iter


def test_checkpoint_interval_parsing():
    assert parse_checkpoint_interval(None, 5) == (5, True)
    assert parse_checkpoint_interval(100, 5) == (100, False)
    assert parse_checkpoint_interval("100", 5) == (100, False)
    assert parse_checkpoint_interval("2e", 5) == (2, True)
    assert parse_checkpoint_interval("3 epochs", 5) == (3, True)
    with pytest.raises(ValueError):
        parse_checkpoint_interval("soon", 5)
    with pytest.raises(ValueError):
        parse_checkpoint_interval(0, 5)


def test_cli_flags_reach_the_config():
    import argparse

    from pgg_zoo.cli.run import _task_overrides, add_commands

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    args = parser.parse_args(["train", "wsol", "--launcher", "pytorch", "--resume",
                              "--accumulate", "2", "--sync-bn", "--checkpoint-interval", "2e",
                              "--on-error", "skip", "--log-backend", "json", "--amp", "bf16"])
    o = _task_overrides(args)
    assert o["launcher"] == "pytorch" and o["resume"] == "auto" and o["accumulate"] == 2
    assert o["sync_bn"] is True and o["checkpoint_interval"] == "2e"
    assert o["on_error"] == "skip" and o["log_backend"] == "json" and o["amp"] == "bf16"
