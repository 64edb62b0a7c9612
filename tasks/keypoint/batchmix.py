"""BatchMix with provenance: the keypoint sets of several videos of a batch in one sample.

SKP (Hachiuma et al., CVPR 2023) treats a video's keypoints as a point cloud, so the point clouds
of several videos can simply be united: the persons of ``k`` videos, aligned frame by frame, form
one training sample labelled with all ``k`` video-level labels. Every (person, frame, keypoint)
element of the result comes from exactly one video; that is its provenance.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import Tensor

from pgg_zoo.provenance import Provenance, check_provenance_level
from pgg_zoo.synthesizers import SynthesizedBatch

__all__ = ["BatchMix"]


def _uniform(n: int, generator: torch.Generator | None) -> Tensor:
    return torch.rand(n, generator=generator)


@dataclass
class BatchMix:
    """Unite the persons of ``num_sources`` videos of the batch into each sample.

    Input ``(B, C, M, T, V)`` (channels x, y, score; a person slot whose scores are all 0 is
    empty). Sample ``b`` keeps its own persons (source 0) and receives the persons of videos
    ``perm_1[b], ..., perm_{k-1}[b]`` (independent random permutations of the batch); the
    ``k * M`` person slots of the result are shuffled per sample (the model is invariant to the
    order, and the random-mask control then gets masks unrelated to the true ones). With
    probability ``1 - prob`` a sample is left unmixed: the other sources' slots are empty and
    their label slots invalid, and the host owns every element.

    Provenance: masks ``(B, k, k*M, T, V)``, ``masks[b, l]`` = 1 on every element of the
    person slots that came from source ``l``; labels ``(B, k)`` the sources' video labels;
    weights ``(B, k)`` each source's share of the present keypoints (score > 0) of the
    sample (the SKP point-ratio label weights; they sum to 1). ``provenance="label"`` (default)
    merges the slots of sources that carry the same class (:meth:`Provenance.label_level`),
    so a sample mixed from two videos of one class owns all its elements and gets no
    penalty; ``"source"`` keeps one slot per video.

    ``extras``: ``sources`` (B, k) batch indices of the sources, ``slot_source`` (B, k*M)
    source index of every output person slot, ``slot_person`` (B, k*M) the person index within
    that source, ``mixed`` (B,) bool.

    Args:
        num_sources: videos per sample (``k >= 2``).
        prob: probability that a sample is mixed.
        provenance: ``"label"`` or ``"source"``.
        shuffle_persons: shuffle the person slots of each sample (default True).
    """

    num_sources: int = 2
    prob: float = 1.0
    provenance: str = "label"
    shuffle_persons: bool = True

    def __post_init__(self) -> None:
        check_provenance_level(self.provenance)
        if int(self.num_sources) < 2:
            raise ValueError(f"BatchMix needs num_sources >= 2, got {self.num_sources}")
        if not 0.0 <= float(self.prob) <= 1.0:
            raise ValueError(f"prob must lie in [0, 1], got {self.prob}")

    def __call__(self, batch: Mapping[str, Any], generator: torch.Generator | None = None
                 ) -> SynthesizedBatch:
        x: Tensor = batch["inputs"]
        labels: Tensor = batch["labels"].long()
        if x.dim() != 5:
            raise ValueError(f"BatchMix expects keypoints (B, C, M, T, V), got {tuple(x.shape)}")
        b, c, m, t, v = x.shape
        k = int(self.num_sources)
        dev = x.device
        perms = [torch.arange(b)] + [torch.randperm(b, generator=generator) for _ in range(k - 1)]
        sources = torch.stack(perms, dim=1)  # (B, k)
        mixed = _uniform(b, generator) < float(self.prob)
        if self.shuffle_persons:
            order = torch.argsort(torch.rand(b, k * m, generator=generator), dim=1)
        else:
            order = torch.arange(k * m).expand(b, k * m)
        slot_source = order // m  # (B, kM): which source each output slot holds
        slot_person = order % m
        src_batch = sources.gather(1, slot_source)  # (B, kM) batch index of the source video
        keep = mixed[:, None] | (slot_source == 0)  # unmixed samples: other sources empty
        src_d, per_d, keep_d = src_batch.to(dev), slot_person.to(dev), keep.to(dev)
        out = x[src_d, :, per_d]  # (B, kM, C, T, V)
        out = out * keep_d[:, :, None, None, None].to(out.dtype)
        out = out.permute(0, 2, 1, 3, 4).contiguous()  # (B, C, kM, T, V)

        onehot = (slot_source.to(dev)[:, None, :] == torch.arange(k, device=dev)[None, :, None])
        # An unmixed sample is its own video only: the host owns every element (its empty
        # slots included).
        onehot[:, 0] |= ~mixed.to(dev)[:, None]
        masks = onehot[:, :, :, None, None].expand(b, k, k * m, t, v).float().contiguous()
        present = (out[:, -1] > 0).float()  # (B, kM, T, V) score channel
        counts = (masks * present[:, None]).flatten(2).sum(2)  # (B, k)
        total = counts.sum(1, keepdim=True)
        valid = torch.cat([torch.ones(b, 1, dtype=torch.bool), mixed[:, None].expand(b, k - 1)],
                          dim=1).to(dev)
        even = valid.float() / valid.float().sum(1, keepdim=True)
        weights = torch.where(total > 0, counts / total.clamp(min=1), even) * valid.float()
        lab = labels.to(dev)[sources.to(dev)]
        prov = Provenance(masks, lab, weights, input_shape=out.shape, valid=valid)
        if self.provenance == "label":
            prov = prov.label_level()
        return SynthesizedBatch(out, prov, {"sources": sources, "slot_source": slot_source,
                                            "slot_person": slot_person, "mixed": mixed})
