"""`pgg-zoo alpha`: alpha is chosen on validation runs that never touch the test split."""
import json

import pytest

import pgg_zoo
from pgg_zoo.cli.main import main
from pgg_zoo_tasks.decoy.task import DecoyTask


def test_selection_never_reads_test(bench_home, tmp_path, monkeypatch, drawn_figures):
    requested = []
    original = DecoyTask.build_dataset

    def spy(self, split):
        requested.append((split, self.run.eval_split, self.guidance.alpha))
        return original(self, split)

    monkeypatch.setattr(DecoyTask, "build_dataset", spy)
    out = pgg_zoo.alpha_study("decoy", out_dir=tmp_path / "a", seeds=(0,), alphas=(1.0,),
                              test_seeds=(0,), epochs=1, log=lambda *_: None, leakage_items=32)
    selection = [r for r in requested if r[1] == "val"]
    assert selection and all(split in ("train", "val") for split, _, _ in selection)
    # Every run evaluated on test came after the choice, with the chosen alpha or none.
    test_runs = [r for r in requested if r[1] == "test"]
    assert {a for _, _, a in test_runs} <= {0.0, out["chosen_alpha"]}
    first_test = requested.index(test_runs[0])
    assert all(r[1] == "test" for r in requested[first_test:])
    saved = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert saved["chosen_alpha"] == out["chosen_alpha"]
    assert set(saved["validation"]) == {"0", "1"}
    # the figure draws the validation numbers: top-1 (left axis) and leakage (right) at alpha 1,
    # and their no-guidance levels as horizontal lines
    assert (tmp_path / "a" / "alpha.png").is_file()
    val = saved["validation"]
    for ax, key in zip(drawn_figures["alpha.png"].axes[:2], ("top1", "leakage")):
        points = {(tuple(map(float, ln.get_xdata())), tuple(map(float, ln.get_ydata())))
                  for ln in ax.lines}
        assert ((1.0,), (val["1"][0][key],)) in points, key
        assert ((0.0, 1.0), (val["0"][0][key],) * 2) in points, key
    table = (tmp_path / "a" / "alpha.md").read_text()
    assert "(chosen)" in table and "Test, chosen alpha" in table


def test_cli_alpha_help_lists_grid(capsys):
    with pytest.raises(SystemExit):
        main(["alpha", "--help"])
    assert "1e-3 1e-2 1e-1 1 10 100 1000" in capsys.readouterr().out
