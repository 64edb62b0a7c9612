"""`pgg-zoo study run` end to end on tiny decoy studies: the committed decoy-corner file against
the command that produced its record (`pgg-zoo demo`), resumability, two local workers at
once, and the Slurm path through submitit's local executor."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

import pgg_zoo
from pgg_zoo.cli.main import main as cli
from pgg_zoo.study.runner import run_study
from pgg_zoo.study.schema import load_study
from pgg_zoo.study.summary import read_summary

REPO = Path(__file__).resolve().parents[1]
TINY = {"epochs": 1, "limit_train": 64, "limit_test": 32, "batch_size": 32, "leakage_items": 32}


def write(root: Path, raw: dict) -> Path:
    folder = root / raw["name"]
    folder.mkdir(parents=True)
    (folder / "study.yaml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return folder / "study.yaml"


def two_variant_study(name: str, seeds: list[int]) -> dict:
    return {"name": name, "task": "decoy", "options": {"variant": "corner", **TINY},
            "variants": {"plain": {"guidance": False},
                         "pgg": {"guidance": True, "guidance_mask": "provenance"}},
            "baseline": "plain", "guided": "pgg", "test": {"seeds": seeds, "alpha": 1}}


def jobs(runs_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (runs_dir / "jobs.jsonl").read_text().splitlines()]


def test_decoy_corner_file_reproduces_the_demo_and_resumes(bench_home, tmp_path):
    """The committed decoy-corner study, made tiny (options and seeds only), gives per seed
    exactly the numbers of `pgg-zoo demo decoy --set variant=corner --alpha 1 --seed 0` (the
    command its record was produced with); run again, nothing is retrained."""
    raw = yaml.safe_load((REPO / "studies" / "decoy-corner" / "study.yaml").read_text())
    raw["options"].update(TINY)
    raw["selection"].update(alphas=[0, 1], seeds=[0])
    raw["test"]["seeds"] = [0]
    study = load_study(write(tmp_path / "studies", raw))
    runs_dir = tmp_path / "runs"
    summary = run_study(study, runs_dir=runs_dir, log=lambda *_: None)
    assert summary.chosen_alpha in (0.0, 1.0) and summary.selection_runs.keys() == {0.0, 1.0}
    assert set(summary.test_runs) == set(raw["variants"])

    demo = pgg_zoo.demo("decoy", out_dir=tmp_path / "demo", seed=0, alpha=1.0, log=lambda *_: None,
                        variant="corner", **TINY)["results"]
    for variant, metrics in demo.items():
        got = summary.test_runs[variant][0]
        for key in ("top1", "leakage"):
            assert got[key] == metrics[key], (variant, key)  # identical, not approximately

    first = jobs(runs_dir)
    assert len(first) == 7 and not any(j["reused"] for j in first)  # 2 selection + 5 test runs
    stamps = {p: p.stat().st_mtime_ns for p in runs_dir.rglob("metrics.json")}
    again = run_study(study, runs_dir=runs_dir, log=lambda *_: None)
    second = jobs(runs_dir)[len(first):]
    assert len(second) == 7 and all(j["reused"] for j in second)
    assert {p: p.stat().st_mtime_ns for p in runs_dir.rglob("metrics.json")} == stamps
    assert again.test_runs == summary.test_runs
    assert read_summary(study.summary_path).test_runs == summary.test_runs
    # the summary says how many torch threads its runs trained with; CPU results depend on
    # it, so continuing with another count is refused before anything runs
    assert read_summary(study.summary_path).threads == 1
    with pytest.raises(ValueError, match=r"1 torch thread\(s\) per run; continue with --threads 1"):
        run_study(study, runs_dir=runs_dir, threads=2, log=lambda *_: None)
    assert len(jobs(runs_dir)) == 14


def test_decoy_corner_file_reproduces_its_committed_numbers(bench_home, tmp_path):
    """Seed 0 of the committed decoy-corner study, full size, from its own file: plain and
    guided training give the committed summary's per-seed numbers to the last digit (the
    study's other variants, seeds and its selection are left out for time: 10 s)."""
    raw = yaml.safe_load((REPO / "studies" / "decoy-corner" / "study.yaml").read_text())
    committed = read_summary(REPO / "studies" / "decoy-corner" / "summary.json")
    assert committed.threads == 1 and committed.test_alpha == raw["test"]["alpha"]
    keep = ("plain", "pgg")
    raw["variants"] = {k: raw["variants"][k] for k in keep}
    raw["test"]["seeds"] = [0]
    for key in ("selection", "measures", "criteria", "claims"):
        raw.pop(key, None)
    study = load_study(write(tmp_path / "studies", raw))
    summary = run_study(study, runs_dir=tmp_path / "runs", threads=committed.threads,
                        log=lambda *_: None)
    for variant in keep:
        assert summary.test_runs[variant][0] == committed.test_runs[variant][0], variant


def test_two_workers_train_two_runs_at_once(bench_home, tmp_path):
    path = write(tmp_path / "studies", two_variant_study("two-workers", [0, 1]))
    runs_dir = tmp_path / "runs"
    assert cli(["study", "run", str(path), "--workers", "2", "--runs-dir", str(runs_dir)]) == 0
    done = jobs(runs_dir)
    assert len(done) == 4 and not any(j["error"] for j in done)
    assert all(j["pid"] != os.getpid() for j in done)
    overlapping = [(a, b) for i, a in enumerate(done) for b in done[i + 1:]
                   if a["pid"] != b["pid"] and a["started"] < b["ended"]
                   and b["started"] < a["ended"]]
    assert overlapping, "no two runs were training at the same time"
    summary = read_summary(path.parent / "summary.json")
    assert {v: sorted(r) for v, r in summary.test_runs.items()} == {"plain": [0, 1],
                                                                     "pgg": [0, 1]}


def test_the_slurm_path_through_submitits_local_executor(bench_home, tmp_path):
    pytest.importorskip("submitit")
    path = write(tmp_path / "studies", two_variant_study("submitit-local", [0]))
    runs_dir = tmp_path / "runs"
    assert cli(["study", "run", str(path), "--executor", "submitit-local", "--workers", "1",
                "--runs-dir", str(runs_dir), "--executor-option", "timeout_min=20"]) == 0
    done = jobs(runs_dir)
    assert sorted(j["name"] for j in done) == ["pgg", "plain"]
    assert not any(j["error"] for j in done) and all(j["pid"] != os.getpid() for j in done)
    # --workers 1: one job at a time (submitit's local executor alone would start both)
    first, second = sorted(done, key=lambda j: j["started"])
    assert first["pid"] != second["pid"] and second["started"] >= first["ended"]
    assert any((runs_dir / "submitit").iterdir())  # submitit's own job files
    summary = read_summary(path.parent / "summary.json")
    assert set(summary.test_runs) == {"plain", "pgg"}
    for variant in ("plain", "pgg"):
        saved = json.loads((runs_dir / "test" / "s0" / variant / "metrics.json").read_text())
        assert summary.test_runs[variant][0] == saved["metrics"]


def test_the_test_phase_needs_a_recorded_or_chosen_alpha(tmp_path, capsys):
    raw = two_variant_study("no-alpha", [0])
    del raw["test"]["alpha"]
    raw["selection"] = {"alphas": [0, 1], "seeds": [0], "metric": "top1"}
    path = write(tmp_path / "studies", raw)
    assert cli(["study", "run", str(path), "--phase", "test",
                "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "option test.alpha: not recorded and no finished selection chose it" in err
    assert not (tmp_path / "runs" / "test").exists()


def test_an_edited_study_file_neither_reads_old_runs_nor_regenerates_claims(bench_home, tmp_path,
                                                                            capsys):
    """Runs are kept with the options they were trained with: after an edit of the study
    file, a finished run with other options is refused, not read as the new one, and the
    claims table is not regenerated from the old summary; adding a variant is fine."""
    from pgg_zoo.config import ConfigError
    from pgg_zoo.study.claims import claims_table
    from pgg_zoo.study.declared import stale_runs

    raw = two_variant_study("edited", [0])
    path = write(tmp_path / "studies", raw)
    runs_dir = tmp_path / "runs"
    summary = run_study(load_study(path), runs_dir=runs_dir, log=lambda *_: None)
    saved = json.loads(path.with_name("summary.json").read_text())
    # what each variant was trained with, beside its numbers (no seed, no folder)
    assert saved["test"]["options"]["pgg"] == {
        "alpha": 1, "batch_size": 32, "epochs": 1, "eval_split": "test", "guidance": True,
        "guidance_mask": "provenance", "leakage_items": 32, "limit_test": 32, "limit_train": 64,
        "variant": "corner"}
    assert read_summary(path.with_name("summary.json")).test_options == saved["test"]["options"]

    # another variant: the old runs still are what the file declares
    raw["variants"]["random-mask"] = {"guidance": True, "guidance_mask": "random"}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert stale_runs(load_study(path), summary) == []

    # another recipe for every run: the summary is stale, the finished folders are refused
    raw["options"]["epochs"] = 2
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    study = load_study(path)
    assert stale_runs(study, summary) == [
        "test: variant 'plain': epochs 2 (its runs: 1)",
        "test: variant 'pgg': epochs 2 (its runs: 1)"]
    raw["claims"] = [{"claim": "shortcut", "recorded": {"verdict": "as recorded"}}]
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(ConfigError, match=r"summary.json: its runs are not the ones .* declares "
                                          r"now \(test: variant 'plain': epochs 2 \(its runs: "
                                          r"1\); 1 more\): run the study again"):
        claims_table([load_study(path)], {"shortcut": "a claim"})
    stamp = (runs_dir / "test" / "s0" / "plain" / "metrics.json").read_bytes()
    assert cli(["study", "run", str(path), "--runs-dir", str(runs_dir)]) == 1
    err = capsys.readouterr()
    assert "holds a finished run trained with other options than the study file declares: " \
           "epochs 2 (trained with 1)" in err.out + err.err
    assert (runs_dir / "test" / "s0" / "plain" / "metrics.json").read_bytes() == stamp
