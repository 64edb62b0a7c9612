"""The per-box action head: RoIAlign on the time-pooled feature map, pool, dropout, linear."""
from __future__ import annotations

from torch import Tensor, nn

from ..roi import RoIAlign


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
    ) -> None:
        super().__init__()
        if pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
        self.roi_align = RoIAlign(resolution, spatial_scale, sampling_ratio)
        self.pool = nn.AdaptiveMaxPool2d(1) if pool == "max" else nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(in_channels, num_classes)

    def forward(self, features: Tensor, rois: Tensor) -> Tensor:
        """``(B, C, h, w)``, ``(K, 5)`` -> ``(K, num_classes)`` logits."""
        x = self.roi_align(features, rois)  # (K, C, R, R)
        x = self.pool(x).flatten(1)  # (K, C)
        return self.classifier(self.dropout(x))
