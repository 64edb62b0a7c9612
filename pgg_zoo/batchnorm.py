"""BatchNorm state kept unchanged while a model is run again on the same batch.

Its own module because two layers need it and neither may import the other's internals: the
engine wraps the model re-runs of the approximate guidance modes in it, and those modes
(:mod:`pgg_zoo.guidance`) document it as the way to write their ``forward_fn``.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

from torch import nn

__all__ = ["frozen_running_stats"]


@contextlib.contextmanager
def frozen_running_stats(module: nn.Module) -> Iterator[None]:
    """Keep BatchNorm running statistics unchanged while the model is re-run.

    The approximate modes call ``forward_fn`` in train mode; without this each step would
    update ``running_mean/var`` (and ``num_batches_tracked``) once more with a (perturbed)
    copy of the batch, i.e. a faster effective momentum. Batch statistics, and therefore the
    penalty and its gradient, are unaffected. Wrap the body of ``forward_fn``::

        def forward_fn(z):
            with frozen_running_stats(model):
                return label_logits_of(model(z))
    """
    saved = []
    for mod in module.modules():
        if isinstance(mod, nn.modules.batchnorm._NormBase) and mod.track_running_stats:
            nbt = None if mod.num_batches_tracked is None else mod.num_batches_tracked.clone()
            saved.append((mod, mod.momentum, nbt))
            mod.momentum = 0.0  # running = (1 - 0) * running + 0 * batch
    try:
        yield
    finally:
        for mod, momentum, nbt in saved:
            mod.momentum = momentum
            if nbt is not None:
                mod.num_batches_tracked.copy_(nbt)
