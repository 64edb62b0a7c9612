"""Runs as data: the typed run configuration (RunConfig), the config.yaml every training run
writes, ``pgg-zoo train --config``, and `pgg-zoo new-card` reading a run folder."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import pgg_zoo
from pgg_zoo.cli.main import main as cli
from pgg_zoo.config import (CONFIG_FILE, RunConfig, parse_config_text, read_config_file,
                                   run_option_names)
from pgg_zoo.task import ConfigError, build_from_config, load_config
from test_wsol_data import make_cub

ROOT = Path(__file__).resolve().parents[1]


def _printed_metrics(text: str) -> dict[str, float]:
    lines = text.split("metrics (percent):", 1)[1].strip().splitlines()
    return {k.strip(): float(v) for k, v in (ln.split(":") for ln in lines if ":" in ln)}


# -- the typed run configuration ----------------------------------------------------------------
def test_run_config_is_typed_and_checked():
    rc = RunConfig.from_mapping({"epochs": "3", "lr": 0.5, "optimizer": "SGD"})
    assert rc.epochs == 3 and rc.lr == 0.5 and rc.optimizer == "sgd"
    assert rc.batch_size == RunConfig().batch_size  # missing keys take the engine's defaults
    assert RunConfig.from_mapping(rc.to_dict()) == rc
    assert list(rc.to_dict()) == list(run_option_names())
    # null keeps meaning "the default" for the named choices, as before the typed config
    assert RunConfig.from_mapping({"launcher": None, "resume": None}).launcher == "none"
    for values, message in [
        ({"epochs": "ten"}, "option epochs: expected an integer, got 'ten'"),
        ({"optimizer": "lion"}, "option optimizer: expected one of sgd, adam, adamw, got 'lion'"),
        ({"sync_bn": "yes"}, "option sync_bn: expected true or false, got 'yes'"),
        ({"schedule": "poly"}, "option schedule: expected one of cosine, step, constant"),
        ({"checkpoint_interval": "2x"}, "option checkpoint_interval: '2x' is not N"),
        ({"epoch": 3}, "unknown run option 'epoch' (did you mean 'epochs'?)"),
    ]:
        with pytest.raises(ConfigError) as exc:
            RunConfig.from_mapping(values, source="run.yaml")
        assert str(exc.value).startswith("run.yaml: ") and message in str(exc.value)


def test_task_keeps_task_and_run_options_apart():
    task = pgg_zoo.build("decoy", epochs=2, alpha=0.5)
    rc = task.run
    assert isinstance(rc, RunConfig) and rc.epochs == 2 and rc.optimizer == "adam"  # decoy's
    assert task.options["alpha"] == 0.5 and "epochs" not in task.options
    assert not set(task.options) & set(run_option_names())
    # every run option is a train() setting now, except the build-time ones
    assert task._run_overrides({"optimizer": "sgd", "schedule": "step"}) == {
        "optimizer": "sgd", "schedule": "step"}
    with pytest.raises(ConfigError, match="option schedule"):
        task.train(schedule="poly")
    assert task.run.schedule == "cosine"  # a refused value changes nothing


# -- config.yaml: written by train, read by train --config and eval RUN_DIR ----------------------
@pytest.fixture(scope="module")
def cub_run(tmp_path_factory, bench_home):
    """A tiny wsol run on a CUB-layout folder (so data_root is a real path)."""
    base = tmp_path_factory.mktemp("cfg")
    cub = make_cub(base / "CUB_200_2011")
    run = base / "run"
    rc = cli(["train", "wsol", "--data-root", str(cub), "--work-dir", str(run), "--epochs", "1",
              "--alpha", "0.07", "--batch-size", "2", "--seed", "2",
              "--set", "image_size=32", "--set", "optimizer=sgd", "--set", "leakage_items=0"])
    assert rc == 0
    return base, cub, run


def test_train_writes_config_yaml(cub_run):
    _, cub, run = cub_run
    saved = yaml.safe_load((run / CONFIG_FILE).read_text())
    assert saved["task"] == "wsol"
    assert saved["task_options"]["backbone"] == "tiny_cam"
    assert saved["task_options"]["alpha"] == 0.07
    assert saved["task_options"]["image_size"] == 32
    assert saved["run"]["data_root"] == str(cub)
    assert saved["run"]["seed"] == 2 and saved["run"]["optimizer"] == "sgd"
    assert saved["run"]["resume"] is False
    assert set(saved["run"]) == set(run_option_names())
    assert (run / "run.json").is_file()  # still there for report and older readers


def test_train_from_config_recreates_the_config(cub_run, capsys):
    base, _, run = cub_run
    again = base / "again"
    capsys.readouterr()
    assert cli(["train", "--config", str(run / CONFIG_FILE), "--work-dir", str(again)]) == 0
    a = yaml.safe_load((run / CONFIG_FILE).read_text())
    b = yaml.safe_load((again / CONFIG_FILE).read_text())
    assert b["run"].pop("work_dir") == str(again)
    a["run"].pop("work_dir")
    assert a == b
    # same configuration, same seed: the same run
    first = json.loads((run / "metrics.json").read_text())["metrics"]
    second = json.loads((again / "metrics.json").read_text())["metrics"]
    assert second["top1"] == pytest.approx(first["top1"])
    # flags and --set win over the file
    task = build_from_config(run / CONFIG_FILE, alpha=0.01, epochs=3)
    assert task.options["alpha"] == 0.01 and task.run.epochs == 3
    assert task.run.optimizer == "sgd"


def test_eval_run_dir_uses_the_saved_config(cub_run, capsys):
    _, _, run = cub_run
    saved = json.loads((run / "metrics.json").read_text())["metrics"]
    (run / "run.json").rename(run / "run.json.away")  # config.yaml alone is enough
    try:
        capsys.readouterr()
        assert cli(["eval", str(run)]) == 0
        printed = _printed_metrics(capsys.readouterr().out)
    finally:
        (run / "run.json.away").rename(run / "run.json")
    assert printed["top1"] == pytest.approx(saved["top1"], abs=1e-3)
    assert printed["maxboxacc_v2"] == pytest.approx(saved["maxboxacc_v2"], abs=1e-3)


def test_new_card_reads_the_run_folder(cub_run, capsys):
    base, _, run = cub_run
    cards = base / "cards" / "wsol"
    assert cli(["new-card", str(run), "--name", "wsol_cfg_test", "--out-dir", str(cards)]) == 0
    assert capsys.readouterr().out.strip() == str(cards / "wsol_cfg_test.yaml")
    card = yaml.safe_load((cards / "wsol_cfg_test.yaml").read_text())
    assert card["task"] == "wsol" and card["backbone"] == "tiny_cam"
    assert card["guidance"]["alpha"] == 0.07
    assert card["training_data"] == ["CUB_200_2011"]
    assert card["input"]["size"] == [32, 32] and card["num_classes"] == 2
    # the recipe is the command that recreates the run, nothing retyped by the user
    assert card["recipe"].startswith("pgg-zoo train wsol ")
    assert "--set alpha=0.07" in card["recipe"] and "--set optimizer=\"sgd\"" in card["recipe"]
    saved = json.loads((run / "metrics.json").read_text())["metrics"]
    got = card["metrics"]["CUB_200_2011"]
    assert got["maxboxacc_v2[wsoleval]"] == pytest.approx(saved["maxboxacc_v2"], abs=1e-3)
    # the card is valid (the schema check of pgg-zoo card)
    from pgg_zoo.cards import read_card

    assert read_card(cards / "wsol_cfg_test.yaml").name == "wsol_cfg_test"


# -- bad files: the file and the option are named, nothing is built -----------------------------
@pytest.mark.parametrize("text, message", [
    ("task: decoy\nrun: {epochs: 2\n", "not valid YAML (line 3"),
    ("- decoy\n", "expected a mapping"),
    ("task: decoy\nrnu: {}\n", "unknown top-level option 'rnu' (did you mean 'run'?)"),
    ("task: decoy\nrun:\n  epoch: 2\n", "unknown run option 'epoch' (did you mean 'epochs'?)"),
    ("task: decoy\nrun:\n  epochs: two\n", "option epochs: expected an integer, got 'two'"),
    ("task: decoy\nrun:\n  lr: [1]\n", "option lr: expected a number, got [1]"),
    ("task: decoy\nrun:\n  amp: fp8\n", "option amp: expected one of bf16, fp16, got 'fp8'"),
    ("task: decoy\ntask_options:\n  alpah: 1\n",
     "unknown decoy task option 'alpah' (did you mean 'alpha'?)"),
    ("task: decoy\ntask_options:\n  alpha: lots\n", "option alpha: expected a number"),
    ("task: decoy\ntask_options:\n  epochs: 3\n", "['epochs'] are run options; put them under run"),
    ("task: decoi\n", "option task: "),
    ("task: decoy\nrun: 3\n", "run: expected a mapping"),
])
def test_bad_config_files_name_the_file_and_the_option(tmp_path, monkeypatch, capsys, text,
                                                       message):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "run.yaml"
    path.write_text(text)
    rc = cli(["train", "--config", str(path)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert f"pgg-zoo: error: {path}: " in err and message in err, err
    assert not (tmp_path / "work_dirs").exists()


def test_config_file_errors_without_the_cli(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such configuration file"):
        read_config_file(tmp_path / "missing.yaml")
    cf = parse_config_text("task: wsol\nrun: {epochs: 3}\n", "x.yaml")
    assert cf.run == {"epochs": 3} and cf.task_options == {}
    assert load_config(cf) is cf
    with pytest.raises(ConfigError, match="describes task 'wsol', not 'decoy'"):
        build_from_config(cf, task="decoy")
    # a value the task itself refuses names the file it came from
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: wsol\ntask_options: {image_size: 8}\n")
    with pytest.raises(ConfigError, match=rf"image_size.*\(configuration from {bad}\)"):
        build_from_config(bad)
