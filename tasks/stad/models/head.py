"""The per-box action head: RoIAlign on the time-pooled feature map, pool, (optional whole-frame
context), dropout, linear."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..roi import RoIAlign


#: What a box's logit sees besides the box's own pooled features.
CONTEXTS = ("none", "global")


class RoIActionHead(nn.Module):
    """AVA-style box head (as in SlowFast's ``ResNetRoIHead``), twice differentiable.

    ``(B, C, h, w)`` time-pooled features and ``(K, 5)`` RoIs -> RoIAlign ``(K, C, R, R)`` ->
    spatial max (or average) pool ``(K, C)`` -> dropout -> linear ``(K, num_classes)`` logits.

    Args:
        in_channels: ``C``.
        num_classes: number of action classes (no background class: every RoI is a person).
        spatial_scale: feature pixels per input pixel (``1 / backbone.spatial_stride``).
        resolution: RoIAlign output size ``R`` (7 in SlowFast's AVA config).
        sampling_ratio: RoIAlign samples per bin side (fixed; see :mod:`..roi`).
        pool: ``"max"`` (SlowFast's AVA head) or ``"avg"``.
        dropout: dropout rate before the classifier.
        context: ``"none"`` (the box's features only) or ``"global"``: the box's pooled
            features concatenated with its clip's whole-frame average ``(C,)``, as actor-context
            detectors do (the classifier then takes ``2C`` inputs). The context is a path from
            every pixel of the frame to every box's logit that is separate from the box's own
            features, so a penalty on reading outside the box can close it without blinding
            the box features (docs/stad.md).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        spatial_scale: float,
        resolution: int = 7,
        sampling_ratio: int = 2,
        pool: str = "max",
        dropout: float = 0.5,
        context: str = "none",
    ) -> None:
        super().__init__()
        if pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
        if context not in CONTEXTS:
            raise ValueError(f"context must be one of {CONTEXTS}, got {context!r}")
        self.context = context
        self.roi_align = RoIAlign(resolution, spatial_scale, sampling_ratio)
        self.pool = nn.AdaptiveMaxPool2d(1) if pool == "max" else nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        width = 2 * in_channels if context == "global" else in_channels
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, features: Tensor, rois: Tensor) -> Tensor:
        """``(B, C, h, w)``, ``(K, 5)`` -> ``(K, num_classes)`` logits."""
        x = self.roi_align(features, rois)  # (K, C, R, R)
        x = self.pool(x).flatten(1)  # (K, C)
        if self.context == "global":
            frame = features.mean(dim=(2, 3))  # (B, C)
            x = torch.cat([x, frame[rois[:, 0].long()]], dim=1)  # (K, 2C)
        return self.classifier(self.dropout(x))
