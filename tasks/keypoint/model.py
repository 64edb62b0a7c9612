"""An SKP-style keypoint point-cloud network with the Pooling-Switching Trick.

Input ``(B, 3, M, T, V)``: x, y in [-1, 1] (image-normalized), keypoint score; a joint with
score 0 is missing and inert (its features are gated by ``s * [s > 0]``, whose derivative at
``s = 0`` is 0, so guidance sees no gradient on absent elements).

    per keypoint: pose relative to the person's score-weighted centre (divided by its RMS
    size), its velocity, the centre's velocity, the score
      -> joint-type-specific linear map, shared MLP, gated by the score
      -> max over the joints of each (person, frame)            [structured pooling, level 1]
      -> residual temporal convolution per person
      -> residual scene-context block: [own, max over the persons of the frame] -> linear
         (``context=True``; ``False``: own features only)
      -> residual temporal convolution: person-frame features h (B, M, T, W)
    every person-frame: linear -> person-frame logits (B, K, M, T)
    training:  log-mean-exp over persons and frames -> video logits        [levels 2-3]
    inference: the person-frame logits themselves                         [pooling switched]

Everything is twice differentiable (ReLU, max, convolutions; no BatchNorm), so the guidance
penalty's double backprop reaches every weight; samples never interact.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pgg_zoo.provenance import Provenance

__all__ = ["SKPNet", "skp_tiny", "skp_small", "box_from_keypoints"]

_EPS = 1e-6


class SKPNet(nn.Module):
    """Keypoint point-cloud action network (see the module docstring).

    Args:
        num_classes: K.
        width: feature width W.
        num_joints: V (17 for COCO).
        context: concatenate the frame's scene context (max over persons) to every person.
        temporal_kernel: frames of each temporal convolution (odd).
        loss: ``"bce"`` (default; every valid provenance label is present, multi-hot targets)
            or ``"ce"`` (softmax cross-entropy against the provenance label weights, the
            CutMix convention).
        pool_sharpness: ``r`` of the log-mean-exp pooling of person-frame logits into the
            video logit (large ``r``: max pooling; small: mean).
    """

    def __init__(self, num_classes: int, width: int = 32, num_joints: int = 17,
                 context: bool = True, temporal_kernel: int = 5,
                 loss: str = "bce", pool_sharpness: float = 4.0,
                 joint_pool: str = "sum") -> None:
        super().__init__()
        if loss not in ("bce", "ce"):
            raise ValueError(f"loss must be 'bce' or 'ce', got {loss!r}")
        if temporal_kernel % 2 != 1:
            raise ValueError(f"temporal_kernel must be odd, got {temporal_kernel}")
        self.num_classes = int(num_classes)
        self.num_joints = int(num_joints)
        self.context = bool(context)
        self.loss = loss
        self.pool_sharpness = float(pool_sharpness)
        if joint_pool not in ("sum", "max"):
            raise ValueError(f"joint_pool must be 'sum' or 'max', got {joint_pool!r}")
        self.joint_pool = joint_pool
        # Joint-type-aware first layer: every joint type maps its own 7 inputs with its own
        # weights (no bias, so the max over joints is decided by the pose, not by the type).
        self.joint_weight = nn.Parameter(torch.randn(num_joints, 7, width) / 7 ** 0.5)
        self.point_mlp = nn.Sequential(nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        pad = temporal_kernel // 2
        self.temporal1 = nn.Conv1d(width, width, temporal_kernel, padding=pad)
        self.fuse = nn.Linear(2 * width if context else width, width)
        self.temporal2 = nn.Conv1d(width, width, temporal_kernel, padding=pad)
        self.classifier = nn.Linear(width, num_classes)

    # -- features --------------------------------------------------------------------------
    def point_features(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, M, T, V, 7)`` per-keypoint inputs and the gate ``(B, M, T, V, 1)``
        (channels last: the point MLP is a matmul)."""
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(f"keypoint input must be (B, 3, M, T, V), got {tuple(x.shape)}")
        if x.shape[-1] != self.num_joints:
            raise ValueError(f"input has {x.shape[-1]} joints, the model {self.num_joints}")
        x = x.permute(0, 2, 3, 4, 1)  # (B, M, T, V, 3)
        xy, s = x[..., :2], x[..., 2:3]
        on = (s > 0).to(x.dtype)
        gate = s * on
        wsum = gate.sum(3, keepdim=True)
        centre = (xy * gate).sum(3, keepdim=True) / (wsum + _EPS)  # (B, M, T, 1, 2)
        rel = (xy - centre) * on
        # Scale-free pose: divide by the person-frame's RMS joint distance from the centre.
        scale = ((rel.pow(2).sum(-1, keepdim=True) * gate).sum(3, keepdim=True)
                 / (wsum + _EPS) + _EPS).sqrt()
        rel = rel / scale
        frame_on = (wsum > 0).to(x.dtype)  # (B, M, T, 1, 1)
        both = on[:, :, 1:] * on[:, :, :-1]
        vel = F.pad((rel[:, :, 1:] - rel[:, :, :-1]) * both, (0, 0, 0, 0, 1, 0)) * 3.0
        cboth = frame_on[:, :, 1:] * frame_on[:, :, :-1]
        cvel = F.pad((centre[:, :, 1:] - centre[:, :, :-1]) * cboth, (0, 0, 0, 0, 1, 0)) * 10.0
        v = x.shape[3]
        feats = torch.cat([rel, vel, cvel.expand(-1, -1, -1, v, -1), s], dim=-1)
        return feats, gate

    def _temporal(self, conv: nn.Conv1d, u: Tensor) -> Tensor:
        b, m, t, w = u.shape
        y = conv(u.reshape(b * m, t, w).transpose(1, 2)).transpose(1, 2)
        return y.reshape(b, m, t, -1)

    def forward(self, inputs: Tensor, batch: Mapping[str, Any] | None = None) -> dict[str, Tensor]:
        """``video_logits`` (B, K), ``frame_logits`` (B, K, M, T), ``present`` (B, M, T)."""
        feats, gate = self.point_features(inputs)
        present = (gate.detach() > 0).any(3)  # (B, M, T, 1)
        pres = present.to(feats.dtype)
        if self.joint_pool == "sum":
            # Joint-specific linear maps summed over the joints (missing joints add 0): a
            # linear map of the whole pose, then the shared MLP.
            u = torch.einsum("bmtvf,vfw->bmtw", feats * gate, self.joint_weight.to(feats.dtype))
            u = self.point_mlp(u) * pres
        else:
            first = torch.einsum("bmtvf,vfw->bmtvw", feats, self.joint_weight.to(feats.dtype))
            p = self.point_mlp(first) * gate  # (B, M, T, V, W)
            u = p.amax(3)  # max over the joints of a person-frame: (B, M, T, W)
        u = u + F.relu(self._temporal(self.temporal1, u)) * pres  # residual blocks
        if self.context:
            ctx = u.amax(1, keepdim=True).expand_as(u)  # max over the persons of each frame
            h = u + F.relu(self.fuse(torch.cat([u, ctx], dim=-1))) * pres
        else:
            h = u + F.relu(self.fuse(u)) * pres
        h = h + F.relu(self._temporal(self.temporal2, h)) * pres  # (B, M, T, W)
        frame = self.classifier(h).permute(0, 3, 1, 2)  # (B, K, M, T)
        # Video logit: a soft maximum (log-mean-exp, sharpness r) of the person-frame logits
        # of the present person-frames, so training and the switched inference score the same
        # quantity and the gradient reaches more than one person-frame.
        r = self.pool_sharpness
        on = present[..., 0][:, None]  # (B, 1, M, T)
        z = torch.where(on, frame * r, torch.full_like(frame, -1e4)).flatten(2)
        count = on.flatten(2).sum(-1).clamp(min=1).to(frame.dtype)
        video = (torch.logsumexp(z, -1) - count.log()) / r
        return {"video_logits": video, "frame_logits": frame, "present": present[..., 0]}

    # -- the TaskModel protocol ------------------------------------------------------------
    def label_logits(self, outputs: Mapping[str, Tensor], provenance: Provenance,
                     batch: Mapping[str, Any]) -> Tensor:
        """``(B, L)`` video logit of each provenance label (0 on invalid slots)."""
        logits = outputs["video_logits"]
        lab = provenance.labels.to(logits.device)
        valid = provenance.valid.to(logits.device)
        picked = logits.gather(1, torch.where(valid, lab, 0))
        return picked * valid.to(picked.dtype)

    def task_loss(self, outputs: Mapping[str, Tensor], provenance: Provenance,
                  batch: Mapping[str, Any]) -> Tensor:
        logits = outputs["video_logits"]
        dev = logits.device
        lab = provenance.labels.to(dev)
        valid = provenance.valid.to(dev)
        target = torch.zeros_like(logits)
        if self.loss == "bce":
            target.scatter_add_(1, torch.where(valid, lab, 0), valid.to(logits.dtype))
            return F.binary_cross_entropy_with_logits(logits, target.clamp(max=1.0))
        w = provenance.weights.to(dev).to(logits.dtype) * valid.to(logits.dtype)
        target.scatter_add_(1, torch.where(valid, lab, 0), w)
        target = target / target.sum(1, keepdim=True).clamp(min=_EPS)
        return -(target * F.log_softmax(logits, dim=1)).sum(1).mean()

    @torch.no_grad()
    def predict(self, inputs: Tensor, batch: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Per video: ``video_scores`` (K,), ``person_scores`` (M, T, K) sigmoid of the
        person-frame logits, ``present`` (M, T), ``boxes`` (M, T, 4) x1, y1, x2, y2 in
        original pixels (keypoint extents), ``frames`` (T,) 1-based original frame numbers,
        ``video`` and ``label``."""
        out = self(inputs, batch)
        video = torch.sigmoid(out["video_logits"].float()).cpu().numpy()
        frame = torch.sigmoid(out["frame_logits"].float()).permute(0, 2, 3, 1).cpu().numpy()
        present = out["present"].cpu().numpy()
        shapes = batch.get("img_shapes") or [(2, 2)] * inputs.shape[0]
        frames = batch.get("frame_inds")
        res = []
        for i in range(inputs.shape[0]):
            h, w = shapes[i]
            boxes = box_from_keypoints(inputs[i].float().cpu(), h, w).numpy()
            t = inputs.shape[3]
            fr = (frames[i].cpu().numpy() + 1) if frames is not None else torch.arange(1, t + 1).numpy()
            res.append({"video": (batch.get("videos") or [str(i)] * len(shapes))[i],
                        "label": int(batch["labels"][i]) if "labels" in batch else -1,
                        "video_scores": video[i], "person_scores": frame[i],
                        "present": present[i], "boxes": boxes, "frames": fr})
        return res


def box_from_keypoints(x: Tensor, height: int, width: int) -> Tensor:
    """``(M, T, 4)`` boxes (x1, y1, x2, y2, original pixels) of the present joints of each
    person-frame of ``x`` ``(3, M, T, V)``; 0 where no joint is present."""
    s = x[2]
    on = s > 0
    px = (x[0] + 1) / 2 * width
    py = (x[1] + 1) / 2 * height
    big = torch.tensor(float("inf"))
    x1 = torch.where(on, px, big).amin(-1)
    y1 = torch.where(on, py, big).amin(-1)
    x2 = torch.where(on, px, -big).amax(-1)
    y2 = torch.where(on, py, -big).amax(-1)
    box = torch.stack([x1, y1, x2, y2], -1)
    return torch.where(on.any(-1, keepdim=True), box, torch.zeros_like(box))


def skp_tiny(num_classes: int, **kw: Any) -> SKPNet:
    """Width 32: the embedded benchmark's model (trains in about a minute on 2 CPU cores)."""
    return SKPNet(num_classes, width=32, **kw)


def skp_small(num_classes: int, **kw: Any) -> SKPNet:
    """Width 128: for real skeleton data."""
    return SKPNet(num_classes, width=128, **kw)
