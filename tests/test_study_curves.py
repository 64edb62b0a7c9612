"""Learning curves in study files: the ``curves`` phase, reach measures ("epochs to reach"),
their rules, the summary's curves block and the report, by hand and end to end on tiny decoy
runs. Expected values are worked out in the comments, not read from the code's output."""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import yaml

from pgg_zoo.cli.main import main as cli
from pgg_zoo.config import ConfigError
from pgg_zoo.study.criteria import RULES, render
from pgg_zoo.study.evaluation import evaluate
from pgg_zoo.study.reach import reach_values
from pgg_zoo.study.report import study_report
from pgg_zoo.study.runner import run_study
from pgg_zoo.study.schema import load_study
from pgg_zoo.study.summary import Summary, read_summary, write_summary


def pts(*pairs):
    return [(e, {"top1": v}) for e, v in pairs]


# Seed 0: plain ends at 53.0 (epoch 8) and first reaches it at 4 (53.5); pgg at 2 -> 2/4 = 0.5.
# Seed 1: plain ends at 46 and reaches it only at 8; pgg at 6 (47) -> 0.75.
# Seed 2: plain ends at 61.5, first reached at 6 (62); pgg tops out at 61.49: never -> inf.
# Seed 3: pgg only, left out. Ratios [0.5, 0.75, inf]: median 0.75; reached on 2 of 3.
CURVES = {
    "plain": {0: pts((2, 50.0), (4, 53.5), (6, 52.0), (8, 53.0)),
              1: pts((2, 40.0), (4, 45.0), (6, 44.0), (8, 46.0)),
              2: pts((2, 60.0), (4, 61.0), (6, 62.0), (8, 61.5))},
    "pgg": {0: pts((2, 53.0), (4, 40.0), (6, 60.0), (8, 50.0)),
            1: pts((2, 41.0), (4, 45.9), (6, 47.0), (8, 44.0)),
            2: pts((2, 50.0), (4, 55.0), (6, 61.49), (8, 61.0)),
            3: pts((2, 99.0), (4, 99.0))},
}


def test_reach_by_hand():
    r = reach_values("pgg", "plain", "top1", CURVES)
    assert r.seeds == (0, 1, 2)
    assert r.target == (53.0, 46.0, 61.5)
    assert r.a == (2, 6, None) and r.b == (4, 8, 6) and r.last == (8, 8, 8)
    assert r.ratios == (0.5, 0.75, math.inf) and r.median_ratio == 0.75 and r.reached == 2
    # a variant toward its own final value: E_a = E_b on every seed, ratio 1
    own = reach_values("plain", "plain", "top1", CURVES)
    assert own.a == own.b == (4, 8, 6) and own.median_ratio == 1.0
    assert reach_values("pgg", "plain", "top1", CURVES, seeds=[1]).a == (6,)
    assert reach_values("pgg", "plain", "leakage", CURVES) is None


@pytest.mark.parametrize("name, params, held, value", [
    ("median_reach_ratio_at_most", {"ratio": 0.75}, True, "0.75"),        # 0.75 <= 0.75
    ("median_reach_ratio_at_most", {"ratio": 0.7}, False, "0.75"),
    ("median_reach_ratio_at_most", {"ratio": 0.75, "every_seed": True}, False, "0.75"),  # 2 of 3
    ("median_reach_ratio_at_least", {"ratio": 0.75}, True, "0.75"),
    ("median_reach_ratio_at_least", {"ratio": 0.8}, False, "0.75"),
    # E_a [2, 6, never] before the last epoch 8: 2 seeds; before epoch 6: only the 2
    ("reached_before_on_at_least", {"k": 2}, True, "2 of 3"),
    ("reached_before_on_at_least", {"k": 3}, False, "2 of 3"),
    ("reached_before_on_at_least", {"k": 1, "epoch": 6}, True, "1 of 3"),
    ("reached_before_on_at_least", {"k": 2, "epoch": 6}, False, "1 of 3"),
    # E_b [4, 8, 6] before 8: seeds 0 and 2
    ("reached_before_on_at_least", {"k": 2, "of": "b"}, True, "2 of 3"),
    ("never_reached_on_at_least", {"k": 1}, True, "1 of 3"),
    ("never_reached_on_at_least", {"k": 2}, False, "1 of 3"),
])
def test_each_reach_rule_by_hand(name, params, held, value):
    out = RULES[name](measure="m", **params).evaluate(reach_values("pgg", "plain", "top1", CURVES),
                                                      {})
    assert (out.held, out.value) == (held, value)


def test_reach_placeholders():
    r = reach_values("pgg", "plain", "top1", CURVES)
    text = render("{r}; {r:ratios}; {r:a} vs {r:b}; {r:reached}; {r:target}; {r:b_early}",
                  {"r": r}, {}, {})
    assert text == ("0.75; [0.50, 0.75, never]; [2, 6, never] vs [4, 8, 6]; 2 of 3; "
                    "[53.00, 46.00, 61.50]; 2 of 3")


# ---------------------------------------------------------------- the study file

TINY = {"epochs": 3, "limit_train": 64, "limit_test": 32, "batch_size": 32, "leakage_items": 32}
CURVED = {
    "name": "curved", "task": "decoy", "options": {"variant": "corner", **TINY},
    "variants": {"plain": {"guidance": False},
                 "pgg": {"guidance": True, "guidance_mask": "provenance"},
                 "random-mask": {"guidance": True, "guidance_mask": "random"}},
    "baseline": "plain", "guided": "pgg", "test": {"seeds": [0], "alpha": 1},
    "curves": {"variants": ["plain", "pgg"], "every": 1},
    "measures": {"gain": {"a": "pgg", "b": "plain", "metric": "top1"},
                 "reach": {"kind": "reach", "a": "pgg", "b": "plain", "metric": "top1"},
                 "own": {"kind": "reach", "a": "plain", "b": "plain", "metric": "top1"}},
    "criteria": {"faster": {"rule": "median_reach_ratio_at_most", "measure": "reach",
                            "ratio": 0.5, "every_seed": True},
                 "early": {"rule": "reached_before_on_at_least", "measure": "reach", "k": 1}},
    "claims": [{"claim": "convergence",
                "verdict": [{"when": {"faster": True}, "text": "**reproduced**"},
                            {"text": "**not reproduced**"}],
                "numbers": "median E_g/E_c {reach} (E_g {reach:a}, E_c {reach:b})"}],
}


def write(root: Path, raw: dict) -> Path:
    folder = root / raw["name"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "study.yaml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return folder / "study.yaml"


def changed(edit) -> dict:
    raw = copy.deepcopy(CURVED)
    edit(raw)
    return raw


@pytest.mark.parametrize("edit, message", [
    (lambda r: r["curves"]["variants"].append("no-such"),
     "option curves.variants[2]: 'no-such' is not one of the variants"),
    (lambda r: r["curves"].update(options={"eval_interval": 2}),
     "option curves.options.eval_interval: set by the curves phase"),
    (lambda r: r["curves"].update(every=0), "option curves.every"),
    (lambda r: r["measures"].update(r2={"kind": "reach", "a": "random-mask", "b": "plain",
                                        "metric": "top1"}),
     "option measures.r2.a: a reach measure reads learning curves; 'random-mask' is not one of "
     "curves.variants (plain, pgg)"),
    (lambda r: r["criteria"].update(x={"rule": "median_reach_ratio_at_most", "measure": "gain"}),
     "option criteria.x.measure: rule median_reach_ratio_at_most reads a measure of kind reach; "
     "'gain' is of kind difference"),
    (lambda r: r["criteria"].update(x={"rule": "mean_above", "measure": "reach"}),
     "option criteria.x.measure: rule mean_above reads a measure of kind difference; 'reach' is "
     "of kind reach"),
    (lambda r: r["claims"][0].update(numbers="{reach:mean_std}"),
     "placeholder {reach:mean_std}: unknown field; known: median, ratios"),
    (lambda r: r["measures"]["reach"].update(kind="speed"), "option measures.reach.kind"),
])
def test_curves_sections_are_checked(tmp_path, edit, message):
    with pytest.raises(ConfigError, match="curved/study.yaml: ") as info:
        load_study(write(tmp_path, changed(edit)))
    assert message in str(info.value)


def test_summary_keeps_curves_and_names_a_malformed_one(tmp_path):
    s = Summary(study="curved", threads=1, curve_every=2, curve_alpha=1.0,
                curve_runs={v: dict(runs) for v, runs in CURVES.items()})
    path = write_summary(tmp_path / "summary.json", s)
    raw = json.loads(path.read_text())
    assert raw["curves"]["runs"]["pgg"]["1"] == {"epochs": [2, 4, 6, 8],
                                                 "top1": [41.0, 45.9, 47.0, 44.0]}
    back = read_summary(path)
    assert back.curve_runs == s.curve_runs and back.curve_every == 2
    raw["curves"]["runs"]["pgg"]["1"]["top1"] = [41.0]
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match=r"summary.json: curves.runs.pgg.1.top1: expected 4 "
                                          r"values \(one per epoch\)"):
        read_summary(path)
    raw["curves"]["runs"]["pgg"]["1"] = {"epochs": [4, 2], "top1": [1.0, 2.0]}
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="curves.runs.pgg.1.epochs: expected ascending"):
        read_summary(path)


def test_phase_curves_needs_a_curves_section(tmp_path, capsys):
    raw = changed(lambda r: (r.pop("curves"), r.update(measures={}, criteria={}, claims=[])))
    path = write(tmp_path, raw)
    assert cli(["study", "run", str(path), "--phase", "curves",
                "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "--phase curves: the study file has no curves section" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def _raw_curve(run_dir: Path) -> list[tuple[int, float]]:
    """(epoch, top1) straight from the run's own records, not through the library."""
    return [(rec["epoch"], rec["metrics"]["top1"]) for rec in
            map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())]


def test_curves_phase_end_to_end(bench_home, tmp_path):
    """The curve runs are the test runs evaluated along the way: each ends exactly where its
    test run did; the reach numbers are those of the runs' own metrics.jsonl; run again,
    nothing is retrained."""
    study = load_study(write(tmp_path / "studies", CURVED))
    runs_dir = tmp_path / "runs"
    summary = run_study(study, runs_dir=runs_dir, log=lambda *_: None)
    assert set(summary.test_runs) == {"plain", "pgg", "random-mask"}
    assert set(summary.curve_runs) == {"plain", "pgg"}
    curves = {}
    for v in ("plain", "pgg"):
        run_dir = runs_dir / "curves" / "s0" / v
        curves[v] = _raw_curve(run_dir)
        assert [e for e, _ in curves[v]] == [1, 2, 3]  # every epoch, the last one included
        assert [(e, m["top1"]) for e, m in summary.curve_runs[v][0]] == curves[v]
        last = summary.curve_runs[v][0][-1][1]
        for key in ("top1", "leakage"):  # identical, not approximately
            assert last[key] == summary.test_runs[v][0][key], (v, key)
    level = curves["plain"][-1][1]
    e_g = next((e for e, v in curves["pgg"] if v >= level), None)
    e_c = next(e for e, v in curves["plain"] if v >= level)
    ev = evaluate(study, read_summary(study.summary_path))
    assert ev.measures["reach"].a == (e_g,) and ev.measures["reach"].b == (e_c,)
    assert ev.measures["own"].a == ev.measures["own"].b == (e_c,)
    faster = e_g is not None and e_g / e_c <= 0.5
    assert ev.outcomes["faster"].held is faster
    row = ev.rows[0]
    assert row.origin == "run"
    assert row.verdict == ("**reproduced**" if faster else "**not reproduced**")
    assert f"E_g [{'never' if e_g is None else e_g}], E_c [{e_c}]" in row.numbers

    report = study_report(study, read_summary(study.summary_path))
    assert "## Learning curves (test split, evaluated every 1 epoch(s), alpha 1)" in report
    assert "Curve runs ending at their test run's values: 2 of 2." in report

    # the figure: one line per (variant, seed) with the curve's values, and plain's final
    # level (the one pgg has to reach) as a horizontal line
    from pgg_zoo.study.curves_figure import draw_curves

    ax = draw_curves(study, read_summary(study.summary_path)).axes[0]
    drawn = [(list(line.get_xdata()), list(line.get_ydata())) for line in ax.lines]
    for v in ("plain", "pgg"):
        assert ([e for e, _ in curves[v]], [y for _, y in curves[v]]) in drawn
    assert ([0, 1], [level, level]) in drawn
    assert len(drawn) == 3

    n = len((runs_dir / "jobs.jsonl").read_text().splitlines())
    assert n == 5  # 3 test runs + 2 curve runs
    again = run_study(study, runs_dir=runs_dir, log=lambda *_: None)
    rerun = [json.loads(x) for x in (runs_dir / "jobs.jsonl").read_text().splitlines()][n:]
    assert len(rerun) == 5 and all(j["reused"] for j in rerun)
    assert again.curve_runs == summary.curve_runs
