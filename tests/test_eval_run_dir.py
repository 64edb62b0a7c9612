"""A run folder is enough to evaluate its run (`pgg-zoo eval RUN_DIR`), and train() refuses the
options that were consumed when the model was built."""
from __future__ import annotations

import json

import pytest

import pgg_zoo
from pgg_zoo.cli.main import main as cli
from pgg_zoo.task import ConfigError, load_run


def _printed_metrics(text: str) -> dict[str, float]:
    lines = text.split("metrics (percent):", 1)[1].strip().splitlines()
    return {k.strip(): float(v) for k, v in (ln.split(":") for ln in lines if ":" in ln)}


def test_eval_run_dir_reproduces_the_run_from_its_folder(bench_home, tmp_path, capsys):
    run = tmp_path / "run"
    # non-default options, so a rebuild from defaults would not score the same
    assert cli(["train", "decoy", "--epochs", "2", "--seed", "3", "--work-dir", str(run),
                "--set", "limit_train=96", "--set", "limit_test=64", "--set", "lr=0.003",
                "--set", "variant=anywhere", "--set", "leakage_items=32"]) == 0
    capsys.readouterr()
    saved = json.loads((run / "metrics.json").read_text())
    assert cli(["eval", str(run)]) == 0
    printed = _printed_metrics(capsys.readouterr().out)
    assert printed["top1"] == pytest.approx(saved["metrics"]["top1"], abs=1e-3)
    # nothing written over the run: the evaluation lives in RUN_DIR/eval
    assert json.loads((run / "metrics.json").read_text()) == saved
    assert (run / "eval" / "metrics.json").is_file()
    task = load_run(run)
    assert task.options["variant"] == "anywhere" and task.run.seed == 3
    assert task.run.limit_test == 64 and task.run.lr == 0.003


def test_eval_run_dir_errors_name_the_folder(tmp_path, capsys):
    assert cli(["eval", str(tmp_path)]) == 2
    assert f"{tmp_path}: no run.json" in capsys.readouterr().err
    (tmp_path / "run.json").write_text(json.dumps({"task": "decoy", "config": {}}))
    assert cli(["eval", str(tmp_path)]) == 2
    assert "model.safetensors" in capsys.readouterr().err


def test_train_refuses_build_time_options(bench_home):
    task = pgg_zoo.build("wsol")
    with pytest.raises(ConfigError, match=r"\['data_root'\] are build-time options") as err:
        task.train(data_root="/data/CUB_200_2011")
    assert "pgg_zoo.build('wsol', data_root='/data/CUB_200_2011')" in str(err.value)
    with pytest.raises(ConfigError, match="seed"):
        task.train(seed=5)
    # the values it was built with are not a change
    assert task._run_overrides({"seed": 0, "data_root": None, "epochs": 1}) == {
        "seed": 0, "data_root": None, "epochs": 1}
