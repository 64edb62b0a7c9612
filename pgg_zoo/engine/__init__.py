"""Training and evaluation loop on mmengine (Runner, hooks, the guided model)."""
from .model import PGGModel
from .runner import build_runner, default_work_dir, evaluate, train

__all__ = ["PGGModel", "build_runner", "default_work_dir", "evaluate", "train"]
