"""Run folders: the default folder depends on the data, a reused folder is refused, resuming a
finished run says so, and metrics.json names the split that was evaluated.

Uses the toy plugin of docs/examples (see test_resume.py): 24 training items, batch 8.
"""
import json
from pathlib import Path

import pytest

import pgg_zoo
from pgg_zoo.cli.main import main
from pgg_zoo.config import RunConfig
from pgg_zoo.engine.run_folder import RunFolderError, data_identity, default_work_dir
from test_resume import toy  # noqa: F401  (fixture: registers the toy task)


def _build(name, **kw):
    cfg = dict(batch_size=8, limit_train=24, limit_test=8, epochs=1, seed=3)
    cfg.update(kw)
    return pgg_zoo.build(name, **cfg)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_default_work_dir_depends_on_the_data(toy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "A").mkdir(), (tmp_path / "B").mkdir()
    emb = default_work_dir(_build(toy))
    a = default_work_dir(_build(toy, data_root="A"))
    a_abs = default_work_dir(_build(toy, data_root=str(tmp_path / "A")))
    b = default_work_dir(_build(toy, data_root="B"))
    assert emb.parts[:3] == ("work_dirs", toy, "embedded")
    assert len({emb, a, b}) == 3 and a == a_abs  # the resolved folder counts, not its spelling
    assert a.parts[2].startswith("A-") and b.parts[2].startswith("B-")
    # same folder name, different places: still different data
    (tmp_path / "x" / "A").mkdir(parents=True)
    a_run, xa_run = RunConfig(data_root="A"), RunConfig(data_root="x/A")
    assert data_identity({}, xa_run) != data_identity({}, a_run)
    # wsolevaluation metadata: the metadata set is part of the identity
    assert (data_identity({"metadata_root": "m", "dataset": "CUB"}, a_run)
            != data_identity({"metadata_root": "m", "dataset": "ILSVRC"}, a_run))
    assert default_work_dir(pgg_zoo.build("wsol")).parts[2] == "embedded-wsol-shapes-v2"


def test_resume_on_other_data_does_not_resume_the_embedded_run(toy, tmp_path, monkeypatch,
                                                               capsys):
    monkeypatch.chdir(tmp_path)
    first = _build(toy)
    first.train()
    emb_dir = default_work_dir(first)
    assert (emb_dir / "last_checkpoint").is_file()
    (tmp_path / "B").mkdir()
    capsys.readouterr()
    other = _build(toy, data_root="B", resume=True)
    metrics = other.train()
    err = capsys.readouterr().err
    assert "no checkpoint to resume" in err and "training from the start" in err
    assert metrics and "top1" in metrics  # it trained and evaluated
    b_dir = default_work_dir(other)
    assert b_dir != emb_dir and (b_dir / "last_checkpoint").is_file()
    assert json.loads((b_dir / "run.json").read_text())["data"].startswith("B-")


def test_reused_folder_is_refused_and_nothing_is_touched(toy, tmp_path, capsys):
    run = tmp_path / "run"
    _build(toy, work_dir=str(run)).train()
    before = _snapshot(run)
    assert {"run.json", "last_checkpoint", "model.safetensors", "metrics.jsonl"} <= set(before)
    with pytest.raises(RunFolderError) as exc:
        _build(toy, work_dir=str(run)).train()
    msg = str(exc.value)
    assert str(run) in msg and "--resume" in msg and "--work-dir" in msg
    assert _snapshot(run) == before
    # the command line: one line, exit status 2, nothing written
    rc = main(["train", toy, "--work-dir", str(run), "--epochs", "1", "--batch-size", "8"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("pgg-zoo: error: work dir") and "--resume" in err
    assert _snapshot(run) == before


def test_resume_of_a_finished_run_says_so_and_evaluates_again(toy, tmp_path, capsys):
    run = tmp_path / "run"
    done = _build(toy, work_dir=str(run)).train()
    capsys.readouterr()
    again = _build(toy, work_dir=str(run), resume=True).train()
    err = capsys.readouterr().err
    assert "had already finished training (1/1 epochs)" in err and "nothing was trained" in err
    assert again == done and again  # the same final weights, scored the same
    rc = main(["train", toy, "--work-dir", str(run), "--epochs", "1", "--batch-size", "8",
               "--set", "limit_train=24", "--set", "limit_test=8", "--seed", "3", "--resume"])
    out = capsys.readouterr().out
    assert rc == 0 and f"top1: {done['top1']:.3f}" in out


def test_resume_refuses_a_run_on_other_data(toy, tmp_path):
    run = tmp_path / "run"
    _build(toy, work_dir=str(run)).train()
    (tmp_path / "B").mkdir()
    with pytest.raises(RunFolderError, match="cannot resume.*embedded"):
        _build(toy, work_dir=str(run), data_root=str(tmp_path / "B"), resume=True).train()


def test_metrics_json_names_the_evaluated_split(toy, tmp_path):
    run = tmp_path / "run"
    _build(toy, work_dir=str(run)).train()
    assert json.loads((run / "metrics.json").read_text())["split"] == "test"
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["split"] for x in lines] == ["test"]
