"""The provenance-gradient core: the guidance penalty and its computation modes."""
from .exact import exact_penalty, label_input_gradients
from .guidance import MASK_KINDS, ProvenanceGuidance

__all__ = ["ProvenanceGuidance", "exact_penalty", "label_input_gradients", "MASK_KINDS"]
