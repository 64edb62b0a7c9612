"""Procedural drawing shared by the embedded image benchmarks (wsol-shapes, waterbirds-shapes):
shape masks and two-tone textures as numpy arrays.

Both benchmarks' specifications name these shapes and texture families, and their stored
content hashes depend on every pixel drawn here: a change to this module changes both
benchmarks (their manifests then regenerate them), so change it only with a new benchmark
version.
"""
from __future__ import annotations

import numpy as np

__all__ = ["SHAPES", "PLUS_ARM_FRACTION", "shape_mask", "texture"]

#: Shapes :func:`shape_mask` draws.
SHAPES = ("disk", "square", "triangle", "plus")
#: Width of the plus's arms as a fraction of its side (recorded in wsol-shapes' spec).
PLUS_ARM_FRACTION = 1 / 3


def shape_mask(kind: str, side: int, *, plus_arm_fraction: float = PLUS_ARM_FRACTION) -> np.ndarray:
    """Binary ``(side, side)`` mask of a shape (one of :data:`SHAPES`) in its square frame,
    sampled at pixel centres."""
    c = (np.arange(side) + 0.5) - side / 2.0  # pixel-centre offsets from the frame centre
    u, v = np.meshgrid(c, c)  # u: x (columns), v: y (rows)
    if kind == "disk":
        return u**2 + v**2 <= (side / 2.0) ** 2
    if kind == "square":
        return np.ones((side, side), dtype=bool)
    if kind == "triangle":
        # apex at the top centre, base along the bottom edge: half-width grows from 0 to side/2
        depth = v + side / 2.0  # distance from the top edge
        return np.abs(u) <= depth / 2.0
    if kind == "plus":
        half = round(side * plus_arm_fraction) / 2.0
        return (np.abs(u) <= half) | (np.abs(v) <= half)
    raise ValueError(f"unknown shape {kind!r}; choose from {SHAPES}")


def texture(family: int, size: int, period: int, phase: tuple[int, int]) -> np.ndarray:
    """Binary ``(size, size)`` two-tone pattern of texture ``family`` (0 horizontal stripes,
    1 vertical stripes, 2 checkerboard, 3 dots; True = light tone), ``period`` pixels, shifted
    by ``phase`` = (rows, columns)."""
    r = (np.arange(size)[:, None] + phase[0]) % period
    c = (np.arange(size)[None, :] + phase[1]) % period
    half = period / 2.0
    if family == 0:  # horizontal stripes, each half a period thick
        return np.broadcast_to(r < half, (size, size))
    if family == 1:  # vertical stripes
        return np.broadcast_to(c < half, (size, size))
    if family == 2:  # checkerboard of half-period cells
        return (r < half) ^ (c < half)
    if family == 3:  # a dot of diameter half a period in every period x period cell
        return (r + 0.5 - half) ** 2 + (c + 0.5 - half) ** 2 <= (period / 4.0) ** 2
    raise ValueError(f"unknown texture family {family!r}; choose from 0, 1, 2, 3")
