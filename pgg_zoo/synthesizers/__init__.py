"""Modality synthesizers: each returns the synthesized batch and its Provenance."""
from .base import SynthesizedBatch, Synthesizer
from .cutmix import CutMix, NoMix, box_masks, random_boxes
from .recorded import RecordedProvenance
from .resizemix import ResizeMix

__all__ = ["SynthesizedBatch", "Synthesizer", "CutMix", "NoMix", "box_masks", "random_boxes",
           "ResizeMix", "RecordedProvenance"]
