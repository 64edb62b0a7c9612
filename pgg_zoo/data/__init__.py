"""Task-independent data utilities (the corrupted-sample policy)."""
from .policy import ON_ERROR_CHOICES, BadSampleWarning, SafeDataset, apply_on_error

__all__ = ["ON_ERROR_CHOICES", "BadSampleWarning", "SafeDataset", "apply_on_error"]
