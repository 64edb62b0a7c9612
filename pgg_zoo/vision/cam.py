"""CAM classifier: backbone -> global average pooling -> linear head; CAMs give boxes.

Shared by the image plugins (wsol localizes with its CAMs, classification reads its logits).
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pgg_zoo.provenance import Provenance

from .backbones import Features


def soft_target_cross_entropy(logits: Tensor, provenance: Provenance) -> Tensor:
    """Cross-entropy against the synthesized targets: ``sum_l w_l * CE(logits, y_l)``.

    Args:
        logits: ``(B, K)``.
        provenance: labels ``(B, L)``, weights ``(B, L)``, valid ``(B, L)``.

    Returns:
        Scalar, mean over the batch.
    """
    logp = F.log_softmax(logits.float(), dim=1)
    nll = -logp.gather(1, provenance.labels)  # (B, L)
    w = provenance.weights.float() * provenance.valid.float()
    return (nll * w).sum(1).mean()


def soft_target_binary_cross_entropy(logits: Tensor, provenance: Provenance) -> Tensor:
    """Binary cross-entropy against the synthesized targets (timm's BCE with CutMix): each
    logit is a one-vs-rest detector whose target is the summed weight of its label's slots,
    clipped to [0, 1]; no softmax makes one source's evidence negative evidence for another.

    Args:
        logits: ``(B, K)``.
        provenance: labels ``(B, L)``, weights ``(B, L)``, valid ``(B, L)``.

    Returns:
        Scalar: the per-class losses summed, then the mean over the batch.
    """
    logits = logits.float()
    target = torch.zeros_like(logits)
    w = provenance.weights.float() * provenance.valid.float()
    target.scatter_add_(1, provenance.labels, w)
    return F.binary_cross_entropy_with_logits(logits, target.clamp(0, 1),
                                              reduction="none").sum(1).mean()


#: The classifier's task losses (``loss``) and how its logits pool the feature map (``logits``).
LOSSES = {"ce": soft_target_cross_entropy, "bce": soft_target_binary_cross_entropy}
LOGIT_POOLS = ("gap", "relu_mean")


class CAMClassifier(nn.Module):
    """Image classifier whose class activation maps localize objects (Zhou et al., CVPR 2016).

    Args:
        features: the backbone (``(B, 3, H, W) -> (B, C, h, w)``).
        num_classes: number of classes ``K``.
        cam_method: the localization map :meth:`predict` returns: ``"cam"`` (the head's
            weights on the feature map) or ``"gradcam"`` (Grad-CAM; for this head it equals
            ``ReLU(CAM) / (h w)``, see :mod:`.localization`).
        loss: the task loss on the synthesized targets: ``"ce"`` (softmax cross-entropy) or
            ``"bce"`` (one-vs-rest binary cross-entropy), :data:`LOSSES`.
        logit_pool: ``"gap"`` (the head on the globally averaged features, the CAM form) or
            ``"relu_mean"`` (the mean of each class's ReLU'd map, CAM + bias: a label's
            gradient then lives only where its own map is positive).
    """

    def __init__(self, features: Features, num_classes: int, *, cam_method: str = "cam",
                 loss: str = "ce", logit_pool: str = "gap") -> None:
        super().__init__()
        from .localization import CAM_METHODS

        for key, value, allowed in (("cam_method", cam_method, CAM_METHODS),
                                    ("loss", loss, tuple(LOSSES)),
                                    ("logit_pool", logit_pool, LOGIT_POOLS)):
            if value not in allowed:
                raise ValueError(f"{key} must be one of {tuple(allowed)}, got {value!r}")
        self.features = features
        self.fc = nn.Linear(features.out_channels, num_classes)
        self.num_classes = num_classes
        self.cam_method = cam_method
        self.loss = loss
        self.logit_pool = logit_pool

    def forward(self, inputs: Tensor, batch: Mapping[str, Any] | None = None) -> dict[str, Tensor]:
        """``{"logits": (B, K), "features": (B, C, h, w)}``."""
        feats = self.features(inputs)
        if self.logit_pool == "relu_mean":
            maps = torch.einsum("kc,bchw->bkhw", self.fc.weight, feats)
            logits = F.relu(maps + self.fc.bias[None, :, None, None]).mean(dim=(2, 3))
        else:
            logits = self.fc(feats.mean(dim=(2, 3)))
        return {"logits": logits, "features": feats}

    # -- TaskModel ---------------------------------------------------------------------
    def label_logits(self, outputs: Mapping[str, Tensor], provenance: Provenance,
                     batch: Mapping[str, Any]) -> Tensor:
        """``(B, L)``: the logit of each provenance label."""
        return outputs["logits"].gather(1, provenance.labels)

    def task_loss(self, outputs: Mapping[str, Tensor], provenance: Provenance,
                  batch: Mapping[str, Any]) -> Tensor:
        return LOSSES[self.loss](outputs["logits"], provenance)

    def label_maps(self, outputs: Mapping[str, Tensor], provenance: Provenance,
                   batch: Mapping[str, Any]) -> Tensor:
        """``(B, L, H, W)``: ReLU of each provenance label's CAM, bilinearly upsampled to the
        input's grid (what ``cam_leakage`` measures; :class:`pgg_zoo.guidance.LocalizingModel`)."""
        maps = self.feature_cams(outputs["features"].float(), provenance.labels).clamp_min(0.0)
        size = tuple(provenance.masks.shape[-2:])
        return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)

    def cams(self, features: Tensor, classes: Tensor, size: tuple[int, int]) -> Tensor:
        """Class activation maps of ``classes`` upsampled to ``size``.

        Args:
            features: ``(B, C, h, w)``.
            classes: ``(B,)`` class per input.
            size: output ``(H, W)``.

        Returns:
            ``(B, H, W)`` raw (unnormalized) CAMs; metrics min-max normalize per image.
        """
        return _upsample(self.feature_cams(features, classes), size)

    def feature_cams(self, features: Tensor, classes: Tensor) -> Tensor:
        """Raw CAMs of ``classes`` at the feature resolution (not upsampled): ``(B, h, w)`` for
        ``classes`` of shape ``(B,)``, ``(B, L, h, w)`` for ``(B, L)``."""
        w = self.fc.weight[classes]  # (B, C) or (B, L, C)
        return torch.einsum("b...c,bchw->b...hw", w, features)

    def localization_maps(self, inputs: Tensor, classes: Tensor, size: tuple[int, int] | None = None,
                          method: str | None = None) -> Tensor:
        """Localization maps of ``classes`` by ``method`` (default ``self.cam_method``).

        Args:
            inputs: ``(B, 3, H, W)``.
            classes: ``(B,)``.
            size: output ``(H', W')``; default the input's ``(H, W)``.
            method: ``"cam"`` or ``"gradcam"``.

        Returns:
            ``(B, H', W')`` float32 maps, bilinearly upsampled from the feature resolution.
        """
        from .localization import grad_cam

        method = method or self.cam_method
        size = tuple(inputs.shape[-2:]) if size is None else size
        if method == "gradcam":
            # grad_cam switches to eval mode itself and differentiates only the head
            return _upsample(grad_cam(self, inputs, classes, eval_mode=False), size)
        with torch.no_grad():
            feats = self(inputs)["features"].float()
            return self.cams(feats, classes.to(feats.device), size)

    @torch.no_grad()
    def predict(self, inputs: Tensor, batch: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Per image: top-5 classes, the localization map of the ground-truth class
        (``self.cam_method``), GT boxes, and when present the mask, ignore mask and
        original size.

        Returns:
            One dict per image: ``top5`` (5,), ``label`` int, ``cam`` (H, W) float32 at input
            size (bilinear, for display and the ``wsoleval_bilinear`` preset),
            ``feature_cam`` (h, w) float32 at the feature resolution (the ``wsoleval`` path
            resizes it itself), ``boxes`` (n, 4) in the input frame (n may be 0 for mask-only
            datasets), optional ``orig_boxes`` (n, 4) in the original frame, ``mask`` /
            ``ignore`` (1, H, W), ``orig_size`` (h, w).
        """
        out = self(inputs)
        logits = out["logits"].float()
        top5 = logits.topk(min(5, logits.shape[1]), dim=1).indices
        labels = batch["labels"].to(inputs.device)
        size = tuple(inputs.shape[-2:])
        if self.cam_method == "cam":
            raw = self.feature_cams(out["features"].float(), labels)
        else:
            from .localization import grad_cam

            raw = grad_cam(self, inputs, labels, eval_mode=False)
        cams = _upsample(raw, size)
        boxes = batch.get("boxes")
        orig_boxes = batch.get("orig_boxes")
        orig = batch.get("orig_sizes")
        preds = []
        for i in range(inputs.shape[0]):
            p = {
                "top5": top5[i].cpu().numpy(),
                "label": int(labels[i]),
                "cam": cams[i].cpu().numpy(),
                "feature_cam": raw[i].detach().cpu().numpy(),
                "boxes": (boxes[i].cpu().numpy() if boxes is not None
                          else torch.zeros(0, 4).numpy()),
            }
            if orig_boxes is not None:
                p["orig_boxes"] = orig_boxes[i].cpu().numpy()
            for key, name in (("masks", "mask"), ("ignores", "ignore")):
                if batch.get(key) is not None:
                    p[name] = batch[key][i].cpu().numpy()
            if orig is not None:
                p["orig_size"] = tuple(int(v) for v in orig[i])
            preds.append(p)
        return preds


def _upsample(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """``(B, h, w)`` -> ``(B, H, W)``, bilinear (``align_corners=False``)."""
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
