"""The synthesizer contract: a batch in, a synthesized batch with its Provenance out."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from ..provenance import Provenance


@dataclass
class SynthesizedBatch:
    """What a synthesizer returns.

    Attributes:
        inputs: ``(B, C, *grid)`` the synthesized inputs.
        provenance: masks, label ids and label weights for ``inputs``.
        extras: synthesizer-specific facts (pairing, boxes, ...), for figures and tests.
    """

    inputs: Tensor
    provenance: Provenance
    extras: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Synthesizer(Protocol):
    """A batch-level synthesizer.

    ``batch`` holds at least ``"inputs"`` ``(B, C, *grid)`` and ``"labels"`` ``(B,)`` (tasks
    with richer targets, such as person boxes, add their own keys). Randomness comes only from
    ``generator`` so a seeded generator reproduces the batch.
    """

    def __call__(
        self, batch: Mapping[str, Any], generator: torch.Generator | None = None
    ) -> SynthesizedBatch: ...


def rand_uniform(n: int, generator: torch.Generator | None) -> Tensor:
    """``n`` uniform draws in [0, 1) on the CPU from ``generator``."""
    return torch.rand(n, generator=generator)


def rand_beta(n: int, alpha: float, generator: torch.Generator | None) -> Tensor:
    """``n`` draws of Beta(alpha, alpha), reproducible from ``generator``.

    torch's Beta sampler takes no generator, so a seed is drawn from ``generator`` and handed
    to NumPy's Beta sampler.
    """
    if alpha <= 0:
        raise ValueError(f"Beta parameter must be > 0, got {alpha}")
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.beta(alpha, alpha, size=n)).float()
