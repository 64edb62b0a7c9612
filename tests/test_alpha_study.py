"""`pgg-zoo alpha`: alpha is chosen on validation runs that never touch the test split."""
import json

import pytest

import pgg_zoo
from pgg_zoo.cli.main import main
from pgg_zoo_tasks.decoy.task import DecoyTask


def test_selection_never_reads_test(bench_home, tmp_path, monkeypatch):
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
    assert (tmp_path / "a" / "alpha.png").stat().st_size > 0
    table = (tmp_path / "a" / "alpha.md").read_text()
    assert "(chosen)" in table and "Test, chosen alpha" in table


def test_cli_alpha_help_lists_grid(capsys):
    with pytest.raises(SystemExit):
        main(["alpha", "--help"])
    assert "1e-3 1e-2 1e-1 1 10 100 1000" in capsys.readouterr().out
