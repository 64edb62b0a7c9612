"""A sampler and an epoch loop that resume mid-epoch exactly where a checkpoint was taken.

mmengine's ``EpochBasedTrainLoop`` restarts an interrupted epoch from its first batch, so a
checkpoint written every N *iterations* would replay (and retrain on) the batches already seen.
Here the epoch's sample order is a pure function of ``(seed, epoch)`` (mmengine's
``DefaultSampler``: one permutation per epoch, split across ranks by stride) and the loop tells
the sampler how many batches of the current epoch were already trained, so they are skipped
without being loaded.
"""
from __future__ import annotations

from typing import Iterator

import torch
from mmengine.dataset import DefaultSampler
from mmengine.runner import EpochBasedTrainLoop

from .distributed import rank_and_world
from .hooks import synthesis_seed


class ResumableSampler(DefaultSampler):
    """``DefaultSampler`` (per-epoch permutation, rank shard) that can skip a prefix once.

    ``skip(n)`` drops the first ``n`` indices of the *next* iteration only; later epochs start
    from the beginning again.
    """

    _skip = 0

    def skip(self, n: int) -> None:
        self._skip = max(0, int(n))

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        start, self._skip = self._skip, 0
        return iter(indices[start:])


class PGGEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` that, after a resume from an iteration checkpoint, continues the
    interrupted epoch at the next unseen batch (sample order, batch index and iteration count
    as in the uninterrupted run)."""

    def run_epoch(self) -> None:
        self.runner.call_hook("before_train_epoch")  # sets the sampler's epoch
        self.runner.model.train()
        loader = self.dataloader
        gen = getattr(loader, "generator", None)
        if isinstance(gen, torch.Generator):
            # DataLoader workers are seeded from this generator: a function of (seed, rank,
            # epoch), so a resumed epoch's workers get the same seeds as the original ones.
            gen.manual_seed(synthesis_seed(self.runner.seed, rank_and_world()[0],
                                           -1 - self._epoch))
        done = self._iter - self._epoch * len(loader)
        sampler = getattr(loader, "sampler", None)
        if done > 0 and isinstance(sampler, ResumableSampler):
            sampler.skip(done * int(loader.batch_size or 1))
        else:
            done = 0
        for idx, data_batch in enumerate(loader, start=done):
            self.run_iter(idx, data_batch)
        self.runner.call_hook("after_train_epoch")
        self._epoch += 1
