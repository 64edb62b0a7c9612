"""The provenance-gradient core: the guidance penalty and its computation modes.

Importing this package registers every built-in mode in ``GUIDANCE_MODES``: ``"exact"``,
``"finite_difference"``, ``"one_label"`` and ``"lazy"`` (docs/performance.md compares them).
Measuring it: :func:`gradient_leakage` (the share outside the provenance) and
:func:`region_split` (the squared input gradient split over named regions).
"""
from .exact import exact_penalty, label_input_gradients
from ..batchnorm import frozen_running_stats  # the modes' forward_fn needs it (re-export)
from .finite_difference import directional_surrogate, finite_difference_penalty
from .guidance import MASK_KINDS, ProvenanceGuidance
from .leakage import LeakageMeter, LocalizingModel, gradient_leakage, gradient_mass, map_leakage
from .lazy import LazySchedule, lazy_penalty
from .regions import OWN_OTHER_PARTS, RegionSplit, own_other_regions, region_split
from .sampling import label_probabilities, one_label_penalty

__all__ = [
    "ProvenanceGuidance", "exact_penalty", "label_input_gradients", "MASK_KINDS",
    "finite_difference_penalty", "directional_surrogate", "frozen_running_stats",
    "one_label_penalty", "label_probabilities", "lazy_penalty", "LazySchedule",
    "gradient_leakage", "gradient_mass", "LeakageMeter", "LocalizingModel", "map_leakage",
    "region_split", "RegionSplit", "own_other_regions", "OWN_OTHER_PARTS",
]
