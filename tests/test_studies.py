"""Studies for every task: the variants each task declares, and `pgg-zoo ablate` / `modes` run
end to end (tiny settings) for stad, classification and decoy (wsol: tests/test_wsol_e2e.py)."""
from __future__ import annotations

import json

import pytest

import pgg_zoo
from pgg_zoo.cli.main import main as cli
from pgg_zoo.study import alpha_sweep
from pgg_zoo.task import ConfigError, Task
from pgg_zoo.task.variants import MODE_VARIANTS, guided_variant_name, is_guided, unguided

TINY = {
    "stad": ["--set", "limit_train=4", "--set", "limit_test=2", "--set", "batch_size=4",
             "--set", "clip_len=4", "--set", "image_size=32"],
    "classification": ["--set", "limit_train=16", "--set", "limit_test=8",
                       "--set", "batch_size=8"],
    "decoy": ["--set", "limit_train=64", "--set", "limit_test=32", "--set", "batch_size=32"],
}
COMMON = ["--epochs", "1", "--set", "leakage_items=32"]


@pytest.mark.parametrize("name", ["wsol", "stad", "classification", "decoy", "keypoint"])
def test_every_task_declares_an_ablation_with_its_own_synthesis(name):
    cls = pgg_zoo.TASKS.get(name)
    ablation = cls.study_variants("ablate")
    guided = cls.guided_variant()
    synth = cls.default_options()["synthesizer"]
    # the guided variant uses the task's synthesis (not CutMix for every task)...
    assert guided.get("synthesizer", synth) == synth and is_guided(guided)
    # ...its unguided twin and both mask controls are in the ablation
    assert cls.unguided_variant() in ablation.values()
    for mask in ("random", "none"):
        assert {**guided, "guidance_mask": mask} in ablation.values()
    # modes vary only the guidance computation of the guided variant
    modes = cls.study_variants("modes")
    assert list(modes) == list(MODE_VARIANTS)
    assert all(unguided(v) == unguided(guided) for v in modes.values())
    assert modes["exact"]["guidance_mode"] == "exact" and not modes["no-guidance"]["guidance"]


def test_declared_variants_replace_the_defaults_and_hooks_have_defaults(tmp_path):
    class Declared(Task):
        defaults = {"synthesizer": "cutmix"}
        ablation_variants = {"a": {"guidance": False}, "a+pgg": {"guidance": True}}
        mode_variants = {"exact": {"guidance_mode": "exact"}}

    assert list(Declared.study_variants("ablate")) == ["a", "a+pgg"]
    assert Declared.guided_variant() == {"guidance": True}
    assert Declared.study_variants("modes") == {"exact": {"guidance": True,
                                                          "guidance_mode": "exact"}}
    assert list(Declared.study_variants("demo")) == ["cutmix", "cutmix+pgg"]
    # optional hooks are declared members with defaults, not probed attributes
    assert Task.demo_figure(object(), {}, tmp_path / "f.png") is None  # type: ignore[arg-type]
    assert Task.ablation_figures(object(), {}, tmp_path) == []  # type: ignore[arg-type]
    assert Task.summary_metrics == () and Task.selection_metric is None
    with pytest.raises(ValueError, match="unknown study"):
        Declared.study_variants("sweep")


def test_an_ablation_without_guided_twin_is_refused():
    with pytest.raises(ConfigError, match="no guided variant"):
        guided_variant_name({"a": {"guidance": False}})
    with pytest.raises(ConfigError, match="without guidance"):
        guided_variant_name({"a+pgg": {"synthesizer": "x", "guidance": True},
                             "b": {"synthesizer": "y", "guidance": False}})


def test_alpha_sweep_follows_the_guided_variant_not_cutmix():
    variants = {"paste": {"synthesizer": "video_paste", "guidance": False},
                "paste+pgg": {"synthesizer": "video_paste", "guidance": True,
                              "guidance_mask": "provenance", "alpha": 0.05},
                "paste+no-mask": {"synthesizer": "video_paste", "guidance": True,
                                  "guidance_mask": "none", "alpha": 0.05},
                "paste+pgg a=0.5": {"synthesizer": "video_paste", "guidance": True,
                                    "guidance_mask": "provenance", "alpha": 0.5},
                "no-mix": {"synthesizer": "none", "guidance": False}}
    results = {k: {"m": float(i)} for i, k in enumerate(variants)}
    assert alpha_sweep(variants, results) == {0.0: {"m": 0.0}, 0.05: {"m": 1.0},
                                              0.5: {"m": 3.0}}


@pytest.mark.parametrize("name,alphas", [("stad", ["0", "0.5"]), ("classification", ["0"]),
                                         ("decoy", ["0"])])
def test_cli_ablate_tiny(name, alphas, bench_home, tmp_path, drawn_figures):
    out = tmp_path / "ablate"
    assert cli(["ablate", name, "--out-dir", str(out), "--alphas", *alphas,
                *COMMON, *TINY[name]]) == 0
    payload = json.loads((out / "metrics.json").read_text())
    cls = pgg_zoo.TASKS.get(name)
    guided = guided_variant_name(cls.study_variants("ablate"))
    swept = {f"{guided} a={a}" for a in alphas if float(a) > 0}
    assert set(payload["results"]) == set(cls.study_variants("ablate")) | swept
    for name_a in swept:
        assert payload["variants"][name_a]["alpha"] == 0.5
    for variant, metrics in payload["results"].items():
        assert cls.summary_metrics[0] in metrics
        # leakage is measured wherever the synthesis gives provenance
        spec = payload["variants"][variant]
        assert ("leakage" in metrics) == (spec.get("synthesizer") != "none"), variant
    table = (out / "ablation.md").read_text()
    assert all(f"| {v} |" in table for v in payload["results"])
    # alpha.png draws the sweep's runs: the first summary metric at each alpha (0: the same
    # synthesis without guidance), in order
    assert (out / "alpha.png").is_file()
    fig = drawn_figures["alpha.png"]
    sweep = alpha_sweep(payload["variants"], payload["results"])
    col = cls.summary_metrics[0]
    lines = {(tuple(map(float, ln.get_xdata())), tuple(map(float, ln.get_ydata())))
             for ln in fig.axes[0].lines}
    assert (tuple(sorted(sweep)), tuple(sweep[a][col] for a in sorted(sweep))) in lines
    assert len(sweep) == 1 + len(swept) + 1  # alpha 0, the base alpha, the swept ones


@pytest.mark.parametrize("name", ["stad", "classification", "decoy"])
def test_cli_modes_tiny(name, bench_home, tmp_path):
    out = tmp_path / "modes"
    assert cli(["modes", name, "--out-dir", str(out), "--modes", "exact", "lazy4[one_label]",
                *COMMON, *TINY[name]]) == 0
    payload = json.loads((out / "metrics.json").read_text())
    assert set(payload["results"]) == {"exact", "lazy4[one_label]"}
    guided = pgg_zoo.TASKS.get(name).guided_variant()
    for variant in payload["variants"].values():
        assert unguided(variant) == unguided(guided)  # the task's synthesis, not CutMix
    assert payload["variants"]["lazy4[one_label]"]["guidance_options"]["inner"] == "one_label"


def test_run_paired_writes_the_demo_layout_and_resumes(bench_home, tmp_path, monkeypatch):
    from pgg_zoo.study import run_paired

    variants = {"plain": {"guidance": False}, "pgg": {"guidance": True}}
    common = dict(variant="corner", epochs=1, limit_train=64, leakage_items=32)
    first = run_paired("decoy", variants, tmp_path, [0, 1], common, log=lambda *_: None)
    for seed in (0, 1):
        saved = json.loads((tmp_path / f"s{seed}" / "metrics.json").read_text())
        assert saved["task"] == "decoy" and saved["seed"] == seed
        assert saved["variants"]["pgg"] == {**common, "guidance": True}
        assert saved["results"]["pgg"]["top1"] == pytest.approx(first[seed]["pgg"]["top1"])
    # A finished run folder is read, not retrained: nothing may be built a second time.
    monkeypatch.setattr(pgg_zoo.study.runs, "build", lambda *a, **k: pytest.fail("retrained"))
    again = run_paired("decoy", variants, tmp_path, [0, 1], common, log=lambda *_: None)
    assert again[1]["plain"]["top1"] == pytest.approx(first[1]["plain"]["top1"])
