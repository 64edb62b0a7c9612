"""Task-independent data utilities (the corrupted-sample policy, validation carving, generated
benchmark folders and their content hash, the dataset errors readers raise)."""
from .errors import DatasetFormatError, MissingFileError
from .generated import benchmark_home, content_hash, content_hash_update, ensure_generated
from .holdout import holdout_indices, stratified_sample
from .labels import dataset_labels
from .policy import ON_ERROR_CHOICES, BadSampleWarning, SafeDataset, apply_on_error

__all__ = ["ON_ERROR_CHOICES", "BadSampleWarning", "SafeDataset", "apply_on_error", "holdout_indices", "stratified_sample", "dataset_labels",
           "benchmark_home", "ensure_generated", "content_hash", "content_hash_update",
           "DatasetFormatError", "MissingFileError"]
