"""A run folder belongs to one run, end to end through the command line: a second writer is
refused while the first runs, a lock left by a dead process is taken over, copied and moved
folders resume from their own checkpoints, and ``--resume`` with other options is refused.

Uses the toy plugin of docs/examples (see test_resume.py): 24 training items, batch 8.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pgg_zoo.cli.main import main
from pgg_zoo.engine.run_folder import LOCK_FILE
from test_resume import EXAMPLES, toy  # noqa: F401  (fixture: registers the toy task)

ROOT = Path(__file__).resolve().parents[1]


def _args(toy: str, run: Path, *extra: str) -> list[str]:
    return ["train", toy, "--work-dir", str(run), "--batch-size", "8", "--seed", "3",
            "--set", "limit_train=24", "--set", "limit_test=8", *extra]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _cli_in_child(toy: str, argv: list[str]) -> subprocess.Popen:
    """``pgg-zoo ARGV`` in another process, with the toy task registered there too."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(EXAMPLES)!r})
        import pgg_zoo, pgg_toy_plugin
        pgg_zoo.register_task({toy!r}, replace=True)(pgg_toy_plugin.ToyBlobsTask)
        from pgg_zoo.cli.main import main
        sys.exit(main({argv!r}))
    """)
    env = {**os.environ, "PGG_ZOO_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_a_second_train_into_a_running_folder_is_refused(toy, tmp_path, capsys):
    run = tmp_path / "run"
    first = _cli_in_child(toy, _args(toy, run, "--epochs", "60", "--lr", "0.01"))
    lock = run / LOCK_FILE
    deadline = time.time() + 120
    while not (lock.is_file() and lock.read_text().startswith("pid ")):
        assert first.poll() is None, first.communicate()
        assert time.time() < deadline, "the first run never took its folder"
        time.sleep(0.1)
    holder = lock.read_text().strip()
    assert holder.startswith(f"pid {first.pid} ")
    rc = main(_args(toy, run, "--epochs", "1", "--lr", "0.5"))
    err = capsys.readouterr().err.strip()
    assert first.poll() is None, "the first run ended before the second tried: nothing shown"
    assert rc == 2 and len(err.splitlines()) == 1
    assert err.startswith("pgg-zoo: error: work dir") and "in use by another run" in err
    assert holder in err
    out, child_err = first.communicate(timeout=300)
    assert first.returncode == 0, child_err
    # The folder describes the first run only: its options, one final evaluation.
    saved = json.loads((run / "run.json").read_text())
    assert saved["run"]["lr"] == 0.01 and saved["run"]["epochs"] == 60
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 1 and lines[0]["epoch"] == 60
    assert lock.read_text() == ""  # released cleanly


def test_a_lock_left_by_a_dead_process_is_taken_over(toy, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    # A process that takes the folder and dies without releasing it (os._exit: no cleanup).
    code = ("import os, sys; from pathlib import Path; "
            "from pgg_zoo.engine.run_folder import RunFolderLock; "
            f"RunFolderLock(Path({str(run)!r})).acquire(); os._exit(0)")
    dead = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert dead.returncode == 0, dead.stderr
    left = (run / LOCK_FILE).read_text().strip()
    assert left.startswith("pid ")
    rc = main(_args(toy, run, "--epochs", "1"))
    err = capsys.readouterr().err
    assert rc == 0
    assert f"the run that held this folder ({left}) ended without releasing it" in err
    assert (run / "model.safetensors").is_file()


def _train_and_checkpoint(toy: str, run: Path, capsys) -> float:
    assert main(_args(toy, run, "--epochs", "2", "--set", "checkpoint_interval=2")) == 0
    capsys.readouterr()
    return json.loads((run / "metrics.json").read_text())["metrics"]["top1"]


def _resume(toy: str, run: Path, capsys) -> tuple[int, str, str]:
    rc = main(_args(toy, run, "--epochs", "2", "--set", "checkpoint_interval=2", "--resume"))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_a_copied_folder_resumes_from_its_own_checkpoint(toy, tmp_path, capsys):
    original, copy = tmp_path / "original", tmp_path / "copy"
    top1 = _train_and_checkpoint(toy, original, capsys)
    assert (original / "last_checkpoint").read_text().strip() == "iter_6.pth"
    shutil.copytree(original, copy)
    # The original's checkpoint is now garbage: a copy that read it would fail.
    (original / "iter_6.pth").write_bytes(b"not a checkpoint")
    rc, out, err = _resume(toy, copy, capsys)
    assert rc == 0, err
    assert "had already finished training (2/2 epochs)" in err
    assert f"top1: {top1:.3f}" in out
    # A folder written before names were relative (an absolute path to the original).
    (copy / "last_checkpoint").write_text(str(original / "iter_6.pth"))
    rc, out, err = _resume(toy, copy, capsys)
    assert rc == 0, err
    assert f"top1: {top1:.3f}" in out


def test_a_moved_folder_resumes_from_its_own_checkpoint(toy, tmp_path, capsys):
    before, after = tmp_path / "old_name", tmp_path / "new_name"
    top1 = _train_and_checkpoint(toy, before, capsys)
    (before / "last_checkpoint").write_text(str(before / "iter_6.pth"))  # the old absolute form
    before.rename(after)
    rc, out, err = _resume(toy, after, capsys)
    assert rc == 0, err
    assert f"top1: {top1:.3f}" in out and "can not be found" not in err


def test_resume_with_other_options_is_refused_naming_each(toy, tmp_path, capsys):
    run = tmp_path / "run"
    _train_and_checkpoint(toy, run, capsys)
    before = _snapshot(run)
    rc = main(_args(toy, run, "--epochs", "2", "--set", "checkpoint_interval=2", "--resume",
                    "--lr", "0.5", "--seed", "9"))
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "cannot resume the run in" in err and "2 option(s) differ" in err
    assert "lr=0.5 (saved 0.01)" in err and "seed=9 (saved 3)" in err
    assert "--config" in err and "nothing was changed" in err
    assert _snapshot(run) == before
    # Where and how it runs may change: more loader processes are no other run.
    rc, _, err = _resume(toy, run, capsys)
    assert rc == 0, err


def test_an_unwritable_work_dir_is_one_line(toy, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    rc = main(_args(toy, blocker / "run", "--epochs", "1"))
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "a file is in the way" in err and str(blocker / "run") in err
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        rc = main(_args(toy, ro / "run", "--epochs", "1"))
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1 and "cannot create it" in err
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("extra, message", [
    (["--set", "epochs=1e99"], "option epochs: must be <= 1e+06"),
    (["--data-root", os.fsdecode(b"data_\xff")], "option data_root: the path"),
])
def test_bad_options_are_one_line_and_leave_no_folder(toy, tmp_path, capsys, extra, message):
    run = tmp_path / "run"
    rc = main(_args(toy, run, *extra))
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and message in err
    assert not run.exists()


def test_a_config_file_that_is_not_utf8_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_bytes(b"task: decoy\nrun: {epochs: 1}\n# caf\xe9\n")
    rc = main(["train", "--config", str(cfg), "--work-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert str(cfg) in err and "not UTF-8" in err
    assert not (tmp_path / "run").exists()


def test_a_full_disk_during_training_is_one_line(toy, tmp_path, capsys, monkeypatch):
    """ENOSPC while writing the final weights: one line naming the file, exit 1, and the
    checkpoints already written are still there."""
    import errno

    from pgg_zoo.engine import runner

    def full(model, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(runner, "save_weights", full)
    run = tmp_path / "run"
    rc = main(_args(toy, run, "--epochs", "1"))
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1
    assert err.startswith(f"pgg-zoo: error: {run / 'model.safetensors'}: No space left")
    saved = (run / "last_checkpoint").read_text().strip()
    assert (run / saved).is_file() and (run / "config.yaml").is_file()


def test_train_takes_allow_unverified(monkeypatch):
    """`pgg-zoo train --allow-unverified` reaches pgg_zoo.build (unverified upstream cards
    through weights= or pretrained= need it)."""
    from pgg_zoo.cli import run as cli_run

    seen = {}

    class Stop(Exception):
        pass

    def fake_build(task, **kw):
        seen.update(kw)
        raise Stop

    monkeypatch.setattr(cli_run, "build", fake_build)
    with pytest.raises(Stop):
        main(["train", "decoy", "--allow-unverified", "--epochs", "1"])
    assert seen["allow_unverified"] is True and seen["epochs"] == 1
