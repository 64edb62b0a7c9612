import os

import pytest
import torch

# Keep CI on 2 cores predictable and quiet.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
os.environ.setdefault("PGG_ZOO_PROGRESS", "0")


@pytest.fixture
def pgg_home(tmp_path, monkeypatch):
    """An isolated $PGG_ZOO_HOME for a test."""
    home = tmp_path / "pgg_home"
    monkeypatch.setenv("PGG_ZOO_HOME", str(home))
    return home
