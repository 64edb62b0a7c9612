"""WSOL datasets: CUB-200-2011 in its own layout, the clovaai/wsolevaluation metadata layout
(CUB, ILSVRC, OpenImages), and the embedded ``wsol-shapes-v1`` benchmark (written in CUB layout
and read back by :class:`CUBDataset`).

The CUB reader and the dataset errors are shared with the classification plugin and live in
the core (:mod:`pgg_zoo.vision.cub`, :mod:`pgg_zoo.data.errors`); import them from there.
Importing this package has no side effects (nothing is generated or registered); the WSOL task
plugin registers these readers.
"""
from .files import collate_wsol
from .benchmark import (
    BENCHMARK_NAME,
    SPEC,
    SPEC_V1,
    SPEC_V2,
    SHAPES_V1,
    SHAPES_V2,
    ShapesSpec,
    default_benchmark_root,
    ensure_shapes_benchmark,
    read_shapes_attributes,
    write_shapes_benchmark,
)
from .wsoleval import WSOLEvalDataset

__all__ = [
    "WSOLEvalDataset", "collate_wsol", "SPEC", "SPEC_V1", "SPEC_V2", "ShapesSpec", "SHAPES_V1", "SHAPES_V2",
    "BENCHMARK_NAME", "write_shapes_benchmark",
    "ensure_shapes_benchmark", "default_benchmark_root", "read_shapes_attributes",
]
