"""RoIAlign that is differentiable twice, built on :func:`torch.nn.functional.grid_sample`.

Why this exists: provenance guidance differentiates the input gradient of each box's logit
with respect to the weights (double backpropagation). Every weight below the RoI head sees that
second derivative *through* the RoI operator's backward. ``torchvision.ops.roi_align`` (and
mmcv's RoIAlign) implement their backward as a custom kernel with no derivative of its own
("double backwards on roi_align not supported", pytorch/vision#1982), so guidance through a
person-box head breaks there. ``F.grid_sample`` has a full autograd formula for its backward, so
an RoIAlign expressed as bilinear ``grid_sample`` calls is differentiable to any order with
respect to the features.

Semantics follow ``torchvision.ops.roi_align(..., aligned=True, sampling_ratio=s)`` with a
fixed ``s > 0`` exactly (tested to 1e-5):

* a box ``[x1, y1, x2, y2]`` in input pixels maps to ``[x1 * scale - 0.5, x2 * scale - 0.5]``
  in feature-pixel-centre coordinates (``aligned=True`` removes the half-pixel misalignment);
* each of the ``PH x PW`` bins averages ``s x s`` regularly spaced bilinear samples;
* a sample further than one pixel outside the map (``y < -1`` or ``y > H``, same for ``x``)
  counts as 0; one within that margin is clamped to the border (``padding_mode="border"``).

The adaptive ``sampling_ratio=0`` of torchvision (``ceil(roi_size / bin)`` samples, a different
number per box) is not supported: it would need one ``grid_sample`` call per box.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["roi_align", "RoIAlign", "boxes_to_rois"]


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return v, v
    a, b = v
    return int(a), int(b)


def boxes_to_rois(boxes: Sequence[Tensor]) -> Tensor:
    """Per-image boxes to the ``(K, 5)`` RoI format ``[batch_idx, x1, y1, x2, y2]``.

    Args:
        boxes: ``B`` tensors of shape ``(n_b, 4)`` ``[x1, y1, x2, y2]`` (any ``n_b >= 0``).

    Returns:
        ``(sum n_b, 5)`` in the dtype of the boxes (float32 when all are empty).
    """
    out = []
    for b, bx in enumerate(boxes):
        bx = bx.reshape(-1, 4)
        if not bx.is_floating_point():
            bx = bx.float()
        idx = torch.full((bx.shape[0], 1), float(b), dtype=bx.dtype, device=bx.device)
        out.append(torch.cat([idx, bx], dim=1))
    if not out:
        return torch.zeros(0, 5)
    dtype = torch.promote_types(torch.float32, out[0].dtype) if out else torch.float32
    return torch.cat([o.to(dtype) for o in out], dim=0)


def roi_align(
    features: Tensor,
    rois: Tensor,
    output_size: int | Sequence[int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = 2,
) -> Tensor:
    """RoIAlign (``aligned=True``) by bilinear ``grid_sample``; differentiable twice.

    Args:
        features: ``(B, C, H, W)`` feature maps.
        rois: ``(K, 5)`` ``[batch_idx, x1, y1, x2, y2]`` in input pixels (``batch_idx`` a
            float holding an integer in ``[0, B)``). Not differentiated.
        output_size: ``PH`` or ``(PH, PW)`` bins per box.
        spatial_scale: feature pixels per input pixel (``1/16`` for a stride-16 map).
        sampling_ratio: ``s > 0`` bilinear samples per bin side; the bin value is the mean of
            the ``s * s`` samples.

    Returns:
        ``(K, C, PH, PW)`` in the dtype of ``features``. Rows follow the order of ``rois``.
    """
    if features.dim() != 4:
        raise ValueError(f"roi_align expects features (B, C, H, W), got {tuple(features.shape)}")
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise ValueError(f"rois must be (K, 5) [batch_idx, x1, y1, x2, y2], got {tuple(rois.shape)}")
    if int(sampling_ratio) <= 0:
        raise ValueError(
            f"sampling_ratio must be > 0 (the adaptive sampling_ratio=0 is not supported), "
            f"got {sampling_ratio}"
        )
    ph, pw = _pair(output_size)
    s = int(sampling_ratio)
    b, c, h, w = features.shape
    k = rois.shape[0]
    if k == 0:
        return features.new_zeros((0, c, ph, pw))  # (before the float32 cast: keeps dtype)
    # Sample coordinates need at least float32 (in bfloat16 a 224-pixel frame has 1-pixel
    # resolution), so half-precision features are sampled in float32 and cast back; float64
    # stays float64 (gradcheck). Coordinates carry no gradient: the operator is
    # differentiated w.r.t. the features only.
    out_dtype = features.dtype
    work = torch.promote_types(features.dtype, torch.float32)
    features = features.to(work)
    r = rois.detach().to(device=features.device, dtype=work)
    bidx = r[:, 0].round().long()
    if (bidx < 0).any() or (bidx >= b).any():
        raise ValueError(f"roi batch indices must lie in [0, {b}), got {bidx.unique().tolist()}")
    x1 = r[:, 1] * spatial_scale - 0.5
    y1 = r[:, 2] * spatial_scale - 0.5
    roi_w = r[:, 3] * spatial_scale - 0.5 - x1
    roi_h = r[:, 4] * spatial_scale - 0.5 - y1
    bin_w = roi_w / pw
    bin_h = roi_h / ph
    # Sample offsets inside the image: bin p, sample i -> start + p * bin + (i + 0.5) * bin / s.
    pos_y = (torch.arange(ph, dtype=r.dtype, device=r.device).view(ph, 1)
             + (torch.arange(s, dtype=r.dtype, device=r.device).view(1, s) + 0.5) / s).reshape(-1)
    pos_x = (torch.arange(pw, dtype=r.dtype, device=r.device).view(pw, 1)
             + (torch.arange(s, dtype=r.dtype, device=r.device).view(1, s) + 0.5) / s).reshape(-1)
    ys = y1.view(k, 1) + pos_y.view(1, -1) * bin_h.view(k, 1)  # (K, PH*s)
    xs = x1.view(k, 1) + pos_x.view(1, -1) * bin_w.view(k, 1)  # (K, PW*s)
    # torchvision returns 0 for samples beyond one pixel outside the map.
    inside = ((ys >= -1.0) & (ys <= h)).view(k, -1, 1) & ((xs >= -1.0) & (xs <= w)).view(k, 1, -1)
    # align_corners=True: -1 and +1 are the centres of the first and last pixel.
    gy = 2.0 * ys / max(h - 1, 1) - 1.0
    gx = 2.0 * xs / max(w - 1, 1) - 1.0
    grid = torch.stack(
        [gx.view(k, 1, -1).expand(k, ph * s, pw * s), gy.view(k, -1, 1).expand(k, ph * s, pw * s)],
        dim=-1,
    )  # (K, PH*s, PW*s, 2) as (x, y)

    # One grid_sample per image with all its boxes stacked along the grid's height: no copy
    # of the feature map per box (a SlowFast map is 2304 channels).
    out = features.new_zeros((k, c, ph * s, pw * s))
    for bi in torch.unique(bidx).tolist():
        sel = (bidx == bi).nonzero(as_tuple=True)[0]
        g = grid[sel].reshape(1, sel.numel() * ph * s, pw * s, 2)
        samp = F.grid_sample(
            features[bi : bi + 1], g, mode="bilinear", padding_mode="border", align_corners=True
        )  # (1, C, n*PH*s, PW*s)
        samp = samp.view(c, sel.numel(), ph * s, pw * s).transpose(0, 1)
        out = out.index_copy(0, sel, samp)
    out = out * inside.unsqueeze(1).to(out.dtype)
    return out.view(k, c, ph, s, pw, s).mean(dim=(3, 5)).to(out_dtype)


class RoIAlign(nn.Module):
    """Module form of :func:`roi_align` (``aligned=True``, fixed ``sampling_ratio``)."""

    def __init__(
        self, output_size: int | Sequence[int], spatial_scale: float = 1.0, sampling_ratio: int = 2
    ) -> None:
        super().__init__()
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)

    def forward(self, features: Tensor, rois: Tensor) -> Tensor:
        """``(B, C, H, W)``, ``(K, 5)`` -> ``(K, C, PH, PW)``."""
        return roi_align(features, rois, self.output_size, self.spatial_scale, self.sampling_ratio)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, aligned=True")
