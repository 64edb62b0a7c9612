import importlib.util
import os
import tempfile
from pathlib import Path

import pytest
import torch

# Benchmarks and downloads go to a throw-away home, never to the user's ~/.cache/pgg_zoo.
os.environ["PGG_ZOO_HOME"] = tempfile.mkdtemp(prefix="pgg_zoo_test_home_")

# Keep CI on 2 cores predictable and quiet.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
os.environ.setdefault("PGG_ZOO_PROGRESS", "0")


@pytest.fixture
def pgg_home(tmp_path, monkeypatch):
    """An isolated $PGG_ZOO_HOME for a test."""
    home = tmp_path / "pgg_home"
    monkeypatch.setenv("PGG_ZOO_HOME", str(home))
    return home


@pytest.fixture(scope="module")
def bench_home(tmp_path_factory):
    """A fresh $PGG_ZOO_HOME for one test module (benchmarks generated there once)."""
    home = tmp_path_factory.mktemp("pgg_home")
    old = os.environ.get("PGG_ZOO_HOME")
    os.environ["PGG_ZOO_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("PGG_ZOO_HOME", None)
    else:
        os.environ["PGG_ZOO_HOME"] = old


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo_module():
    """Load a repository file that is not part of the package (``benchmarks/*.py``) as a
    module: ``repo_module("benchmarks/step_cost.py")``."""
    def load(relpath: str):
        path = REPO / relpath
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    return load


class DrawnFigures(dict):
    """``{file name: matplotlib figure}`` of the figures saved while a test runs."""

    def __init__(self, monkeypatch):
        super().__init__()
        self._monkeypatch = monkeypatch

    def watch(self, module) -> None:
        """Also keep what ``module`` saves through its own ``save_figure`` name (a module
        that imported it from ``pgg_zoo.viz`` before the test)."""
        save = module.save_figure

        def keep(fig, path, *args, **kwargs):
            from pathlib import Path

            self[Path(path).name] = fig
            return save(fig, path, *args, **kwargs)

        self._monkeypatch.setattr(module, "save_figure", keep)


@pytest.fixture
def drawn_figures(monkeypatch):
    """The figures saved through ``pgg_zoo.viz.save_figure`` (and, after ``.watch(module)``,
    a module's own import of it) while the test runs, by file name; they are saved as usual
    too. To read what a figure drew instead of only that a file exists."""
    import pgg_zoo.viz as viz

    drawn = DrawnFigures(monkeypatch)
    drawn.watch(viz)
    return drawn


@pytest.fixture
def predict_items():
    """``predict(task, items) -> predictions``: ``task``'s model in eval mode on ``items``
    (dataset items, collated as the engine does), without gradients; to derive a metric by
    hand from the model's own outputs."""
    import torch

    def predict(task, items):
        batch = task.collate(items)
        task.model.eval()
        with torch.no_grad():
            return task.model.predict(batch["inputs"], batch["data_samples"])

    return predict
