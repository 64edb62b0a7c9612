"""`pgg-zoo report --markdown` over `pgg-zoo demo | ablate` folders: means over seeds, paired
differences, the guidance term's share and the alpha figure (what scripts/summarize_runs.py
wrapped until it was removed)."""
import json
from pathlib import Path

import pytest

from pgg_zoo.cli.main import main as cli


def summarize(argv: list[str]) -> None:
    """``pgg-zoo report --markdown ARGV``; a non-zero exit status raises SystemExit."""
    code = cli(["report", "--markdown", *argv])
    if code:
        raise SystemExit(code)


def _run(path: Path, seed: int, cutmix: float, pgg: float) -> str:
    path.mkdir()
    payload = {
        "task": "wsol", "seed": seed,
        "variants": {"cutmix": {"synthesizer": "cutmix", "guidance": False},
                     "cutmix+pgg": {"synthesizer": "cutmix", "guidance": True,
                                    "guidance_mask": "provenance", "alpha": 0.05}},
        "results": {"cutmix": {"top1": cutmix, "maxboxacc_v2": 60.0, "train_minutes": 1.0},
                    "cutmix+pgg": {"top1": pgg, "maxboxacc_v2": 61.0, "train_minutes": 2.0}},
    }
    (path / "metrics.json").write_text(json.dumps(payload))
    return str(path)


def test_means_paired_differences_and_alpha_figure(tmp_path, capsys, drawn_figures):
    runs = [_run(tmp_path / "s0", 0, 30.0, 31.0), _run(tmp_path / "s1", 1, 40.0, 43.0)]
    fig = tmp_path / "alpha.png"
    summarize(["--paired-to", "cutmix", "--alpha-figure", str(fig), *runs])
    out = capsys.readouterr().out
    assert "| cutmix | 35.00 ± 7.07 [30.0, 40.0]" in out
    # per-seed differences +1 and +3: mean +2, sample std 1.41
    assert "| cutmix+pgg | +2.00 ± 1.41 [+1.0, +3.0] | +1.00 ± 0.00 [+1.0, +1.0]" in out
    # the figure: each metric's mean over the 2 seeds at alpha 0 (cutmix) and 0.05 (guided)
    assert fig.is_file()
    lines = {(tuple(map(float, ln.get_xdata())), tuple(map(float, ln.get_ydata())))
             for ln in drawn_figures["alpha.png"].axes[0].lines}
    assert ((0.0, 0.05), (35.0, 37.0)) in lines  # top1: (30+40)/2, (31+43)/2
    assert ((0.0, 0.05), (60.0, 61.0)) in lines  # maxboxacc_v2


def test_paired_to_unknown_variant_is_a_clear_error(tmp_path, capsys):
    runs = [_run(tmp_path / "s0", 0, 30.0, 31.0)]
    with pytest.raises(SystemExit) as exc:
        summarize(["--paired-to", "no-mix", *runs])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "'no-mix'" in err and "'cutmix', 'cutmix+pgg'" in err


def test_penalty_share_reads_the_latest_training_log(tmp_path, capsys):
    run = _run(tmp_path / "s0", 0, 30.0, 31.0)
    for stamp, pgg in (("20260101_000000", 0.5), ("20260102_000000", 0.01)):
        logs = tmp_path / "s0" / "cutmix_pgg" / stamp / "vis_data"
        logs.mkdir(parents=True)
        lines = [{"loss": 1.0, "loss_task": 1.0 - pgg, "loss_pgg": pgg, "iter": 10},
                 {"loss": 2.0, "loss_task": 2.0 - 3 * pgg, "loss_pgg": 3 * pgg, "iter": 20},
                 {"top1": 50.0, "step": 2}]  # evaluation lines carry no loss
        (logs / "scalars.json").write_text("\n".join(json.dumps(x) for x in lines))
    summarize(["--penalty-share", run])
    out = capsys.readouterr().out
    # latest log only: shares 1 % and 1.5 %, mean 1.25 %; the unguided run has no log
    assert "| cutmix+pgg | 1.25 |" in out and "| cutmix |" not in out.split("share")[-1]


def test_a_variant_only_some_seeds_have_is_paired_on_those_seeds(tmp_path, capsys):
    runs = [_run(tmp_path / "s0", 0, 30.0, 31.0), _run(tmp_path / "s1", 1, 40.0, 43.0)]
    extra = json.loads((tmp_path / "s1" / "metrics.json").read_text())
    extra["results"]["clean"] = {"top1": 50.0, "maxboxacc_v2": 70.0}  # seed 1 only
    (tmp_path / "s1" / "metrics.json").write_text(json.dumps(extra))
    summarize(["--paired-to", "cutmix", *runs])
    out = capsys.readouterr().out
    # clean - cutmix on seed 1 alone: 50 - 40 = +10 (not against seed 0's cutmix)
    assert "| clean | +10.00 | +10.00 |" in out
    assert "| cutmix+pgg | +2.00 ± 1.41 [+1.0, +3.0]" in out
