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


@pytest.fixture
def drawn_figures(monkeypatch):
    """``{file name: matplotlib figure}`` of every figure saved through
    ``pgg_zoo.viz.save_figure`` while the test runs (saved as usual too), to read what a figure
    drew instead of only that a file exists."""
    import pgg_zoo.viz as viz

    drawn = {}
    save = viz.save_figure

    def keep(fig, path, *args, **kwargs):
        from pathlib import Path

        drawn[Path(path).name] = fig
        return save(fig, path, *args, **kwargs)

    monkeypatch.setattr(viz, "save_figure", keep)
    return drawn
