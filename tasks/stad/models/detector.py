"""The STAD task model: a 3-D backbone and a person-box action head (AVA-style).

Interface with the engine (decided here, see docs/stad_model_paste.md): the model is called as
``model(inputs, batch)``. ``inputs`` is the clip the guidance differentiates; ``batch`` is the
(synthesized) batch dict that carries the person boxes of each clip's key frame::

    batch["boxes"]:      list of B tensors (n_b, 4) [x1, y1, x2, y2] in input pixels
    batch["box_labels"]: list of B tensors (n_b,) int64 class ids
                         (or (n_b, num_classes) multi-hot for multi-label training)

After a synthesizer ran, ``batch`` must be the *synthesized* one: the engine (or the STAD task)
merges ``SynthesizedBatch.extras`` over the loader batch (``{**batch, **extras}``); the
``video_paste`` synthesizer puts the new ``"boxes"`` and ``"box_labels"`` there.

Provenance slot ``l`` of clip ``b`` is box ``l`` of clip ``b`` (``L >= max n_b``; slots past
``n_b`` are padding with ``valid=False``).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pgg_zoo.provenance import Provenance

from ..roi import boxes_to_rois
from .backbones import VideoBackbone, build_backbone
from .head import RoIActionHead

__all__ = ["ActionDetector"]


class ActionDetector(nn.Module):
    """Backbone over the raw clip -> temporal mean -> RoIAlign on key-frame boxes -> logits.

    Losses: ``multilabel=False`` (default) is single-label softmax cross-entropy, right for
    UCF101-24 / JHMDB where each actor tube has exactly one action. ``multilabel=True`` is
    per-class sigmoid binary cross-entropy, right for AVA where a person does several things at
    once (pose + object + person interactions); multi-hot targets are read from
    ``batch["box_labels"]`` when they are 2-D, otherwise built from the provenance label ids.
    Either way the guided quantity is the raw logit of each box's own (provenance) class.

    Args:
        backbone: a name (``"slowfast_r50"``, ``"slow_r50"``, ``"tiny3d"`` or a registered
            plugin backbone) or a :class:`VideoBackbone` instance.
        num_classes: number of action classes.
        multilabel: sigmoid BCE instead of softmax CE (and sigmoid scores in ``predict``).
        backbone_options: keyword arguments of the backbone builder.
        head_resolution, sampling_ratio, head_pool, dropout, head_context: see
            :class:`RoIActionHead` (``head_context`` is its ``context``).
    """

    def __init__(
        self,
        backbone: str | VideoBackbone = "tiny3d",
        num_classes: int = 24,
        *,
        multilabel: bool = False,
        backbone_options: Mapping[str, Any] | None = None,
        head_resolution: int = 7,
        sampling_ratio: int = 2,
        head_pool: str = "max",
        dropout: float = 0.5,
        head_context: str = "none",
    ) -> None:
        super().__init__()
        self.backbone = build_backbone(backbone, **dict(backbone_options or {}))
        self.num_classes = int(num_classes)
        self.multilabel = bool(multilabel)
        self.head = RoIActionHead(
            self.backbone.out_channels,
            self.num_classes,
            spatial_scale=1.0 / self.backbone.spatial_stride,
            resolution=head_resolution,
            sampling_ratio=sampling_ratio,
            pool=head_pool,
            dropout=dropout,
            context=head_context,
        )

    # -- features ----------------------------------------------------------------------------
    def features(self, inputs: Tensor) -> Tensor:
        """``(B, 3, T, H, W)`` -> ``(B, C, H/stride, W/stride)``: each pathway's last map
        averaged over time, channels concatenated (SlowFast: 2048 slow + 256 fast)."""
        maps = self.backbone(inputs)
        return torch.cat([m.mean(dim=2) for m in maps], dim=1)

    @staticmethod
    def _boxes(batch: Mapping[str, Any] | None, n_clips: int) -> list[Tensor]:
        if batch is None or "boxes" not in batch:
            raise ValueError(
                "the STAD detector needs the key-frame person boxes: call model(inputs, batch) "
                "with batch['boxes'] = list of (n_b, 4) tensors [x1, y1, x2, y2] in input pixels"
            )
        boxes = list(batch["boxes"])
        if len(boxes) != n_clips:
            raise ValueError(f"batch['boxes'] has {len(boxes)} entries for {n_clips} clips")
        for b, bx in enumerate(boxes):
            if bx.numel() and (bx.dim() != 2 or bx.shape[1] != 4):
                raise ValueError(f"batch['boxes'][{b}] must be (n, 4), got {tuple(bx.shape)}")
        return boxes

    def forward(self, inputs: Tensor, batch: Mapping[str, Any] | None = None) -> dict[str, Tensor]:
        """Per-box action logits.

        Args:
            inputs: ``(B, 3, T, H, W)`` clips (the tensor the guidance differentiates).
            batch: dict with ``"boxes"``: ``B`` tensors ``(n_b, 4)`` of key-frame boxes.

        Returns:
            ``{"logits": (K, num_classes), "roi_batch_idx": (K,) int64, "num_boxes": (B,)
            int64}`` with ``K = sum n_b``; rows are clip 0's boxes in order, then clip 1's, ...
        """
        boxes = self._boxes(batch, inputs.shape[0])
        feats = self.features(inputs)
        rois = boxes_to_rois([bx.to(inputs.device) for bx in boxes]).to(inputs.device)
        logits = self.head(feats, rois)
        if rois.shape[0] == 0:
            # Keep the graph connected so losses and input gradients exist (as zeros).
            logits = logits + 0.0 * feats.sum()
        num = torch.tensor([int(bx.reshape(-1, 4).shape[0]) for bx in boxes], device=inputs.device)
        return {"logits": logits, "roi_batch_idx": rois[:, 0].long(), "num_boxes": num}

    # -- TaskModel -----------------------------------------------------------------------------
    @staticmethod
    def _slot_index(num_boxes: Tensor, n_slots: int) -> tuple[Tensor, Tensor]:
        """``(B, L)`` row of each slot in the logits and ``(B, L)`` bool "slot has a box"."""
        most = int(num_boxes.max()) if num_boxes.numel() else 0
        if most > n_slots:
            raise ValueError(
                f"a clip has {most} boxes but the provenance has only {n_slots} "
                "label slots; slot l of clip b must be box l of clip b"
            )
        starts = torch.cumsum(num_boxes, 0) - num_boxes  # (B,)
        slots = torch.arange(n_slots, device=num_boxes.device).view(1, -1)
        has_box = slots < num_boxes.view(-1, 1)
        rows = torch.where(has_box, starts.view(-1, 1) + slots, torch.zeros_like(slots))
        return rows, has_box

    def label_logits(
        self, outputs: Mapping[str, Tensor], provenance: Provenance, batch: Mapping[str, Any]
    ) -> Tensor:
        """``(B, L)``: slot ``(b, l)`` is box ``l`` of clip ``b``'s logit of its own class
        ``provenance.labels[b, l]``; 0 for slots without a box (they are invalid anyway)."""
        logits = outputs["logits"]
        rows, has_box = self._slot_index(outputs["num_boxes"], provenance.num_labels)
        if logits.shape[0] == 0:
            return logits.sum() * 0.0 + torch.zeros(rows.shape, device=logits.device, dtype=logits.dtype)
        # Padding slots point at row 0, class 0; real slots must carry a valid class id.
        labels = torch.where(has_box, provenance.labels.to(logits.device), 0)
        if bool(((labels < 0) | (labels >= self.num_classes)).any()):
            raise ValueError(f"provenance labels must lie in [0, {self.num_classes}), got "
                             f"{provenance.labels[has_box].unique().tolist()}")
        picked = logits[rows, labels]  # (B, L)
        return picked * has_box.to(picked.dtype)

    def task_loss(
        self, outputs: Mapping[str, Tensor], provenance: Provenance, batch: Mapping[str, Any]
    ) -> Tensor:
        """Mean over valid boxes of ``weight * loss(box)``.

        Single-label: softmax CE against ``provenance.labels``. Multi-label: sigmoid BCE
        (averaged over classes) against multi-hot ``batch["box_labels"]`` when 2-D, else
        one-hot provenance labels. Boxes with ``valid=False`` (padding, actors the paste
        occluded and marked) do not count.
        """
        logits = outputs["logits"]
        rows, has_box = self._slot_index(outputs["num_boxes"], provenance.num_labels)
        dev = logits.device
        use = has_box & provenance.valid.to(dev)  # (B, L)
        w = provenance.weights.to(dev).float() * use.float()
        if logits.shape[0] == 0 or not bool(use.any()):
            return logits.sum() * 0.0
        flat_rows, flat_use = rows[use], w[use]
        lab = provenance.labels.to(dev)[use]
        x = logits[flat_rows].float()
        if not self.multilabel:
            per_box = F.cross_entropy(x, lab, reduction="none")
        else:
            target = self._multihot(batch, outputs["num_boxes"], dev)
            if target is not None:
                target = target[flat_rows]
            else:
                target = F.one_hot(lab, self.num_classes).float()
            per_box = F.binary_cross_entropy_with_logits(x, target, reduction="none").mean(1)
        return (per_box * flat_use).sum() / use.sum().clamp(min=1).float()

    def _multihot(self, batch: Mapping[str, Any], num_boxes: Tensor, dev: torch.device) -> Tensor | None:
        """``(K, num_classes)`` multi-hot targets from 2-D ``batch["box_labels"]``, or None."""
        labs: Sequence[Tensor] | None = batch.get("box_labels") if batch is not None else None
        if labs is None or not all(t.dim() == 2 for t in labs if t.numel()):
            return None
        rows = [t.reshape(-1, self.num_classes).float().to(dev) for t in labs]
        out = torch.cat(rows, 0) if rows else torch.zeros(0, self.num_classes, device=dev)
        if out.shape[0] != int(num_boxes.sum()):
            raise ValueError("batch['box_labels'] rows do not match batch['boxes']")
        return out

    @torch.no_grad()
    def predict(self, inputs: Tensor, batch: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Per clip: ``{"boxes": (n_b, 4), "scores": (n_b, num_classes), "labels": (n_b,)}``.

        Scores are softmax probabilities (single-label) or sigmoid probabilities
        (multi-label); ``labels`` is the arg-max class. Boxes are the ones given in
        ``batch["boxes"]`` (ground-truth or detector person boxes: the STAD protocols classify
        given person boxes), on the CPU. Call ``model.eval()`` first.
        """
        out = self.forward(inputs, batch)
        logits = out["logits"].float()
        scores = torch.sigmoid(logits) if self.multilabel else logits.softmax(-1)
        res: list[dict[str, Any]] = []
        start = 0
        for bx, n in zip(batch["boxes"], out["num_boxes"].tolist()):
            s = scores[start : start + n].cpu()
            res.append({"boxes": bx.reshape(-1, 4).float().cpu(), "scores": s,
                        "labels": s.argmax(-1) if n else torch.zeros(0, dtype=torch.long)})
            start += n
        return res
