"""Task-independent data utilities (the corrupted-sample policy, validation carving)."""
from .generated import benchmark_home, ensure_generated
from .holdout import holdout_indices
from .policy import ON_ERROR_CHOICES, BadSampleWarning, SafeDataset, apply_on_error

__all__ = ["ON_ERROR_CHOICES", "BadSampleWarning", "SafeDataset", "apply_on_error", "holdout_indices",
           "benchmark_home", "ensure_generated"]
