"""CAM classifier: backbone -> global average pooling -> linear head; CAMs give boxes."""
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


class CAMClassifier(nn.Module):
    """Image classifier whose class activation maps localize objects (Zhou et al., CVPR 2016).

    Args:
        features: the backbone (``(B, 3, H, W) -> (B, C, h, w)``).
        num_classes: number of classes ``K``.
    """

    def __init__(self, features: Features, num_classes: int) -> None:
        super().__init__()
        self.features = features
        self.fc = nn.Linear(features.out_channels, num_classes)
        self.num_classes = num_classes

    def forward(self, inputs: Tensor, batch: Mapping[str, Any] | None = None) -> dict[str, Tensor]:
        """``{"logits": (B, K), "features": (B, C, h, w)}``."""
        feats = self.features(inputs)
        logits = self.fc(feats.mean(dim=(2, 3)))
        return {"logits": logits, "features": feats}

    # -- TaskModel ---------------------------------------------------------------------
    def label_logits(self, outputs: Mapping[str, Tensor], provenance: Provenance,
                     batch: Mapping[str, Any]) -> Tensor:
        """``(B, L)``: the logit of each provenance label."""
        return outputs["logits"].gather(1, provenance.labels)

    def task_loss(self, outputs: Mapping[str, Tensor], provenance: Provenance,
                  batch: Mapping[str, Any]) -> Tensor:
        return soft_target_cross_entropy(outputs["logits"], provenance)

    def cams(self, features: Tensor, classes: Tensor, size: tuple[int, int]) -> Tensor:
        """Class activation maps of ``classes`` upsampled to ``size``.

        Args:
            features: ``(B, C, h, w)``.
            classes: ``(B,)`` class per input.
            size: output ``(H, W)``.

        Returns:
            ``(B, H, W)`` raw (unnormalized) CAMs; metrics min-max normalize per image.
        """
        w = self.fc.weight[classes]  # (B, C)
        cam = torch.einsum("bc,bchw->bhw", w, features)
        return F.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]

    @torch.no_grad()
    def predict(self, inputs: Tensor, batch: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Per image: top-5 classes, the CAM of the ground-truth class, GT boxes (and mask)."""
        out = self(inputs)
        logits = out["logits"].float()
        top5 = logits.topk(min(5, logits.shape[1]), dim=1).indices
        labels = batch["labels"].to(inputs.device)
        cams = self.cams(out["features"].float(), labels, tuple(inputs.shape[-2:]))
        preds = []
        for i in range(inputs.shape[0]):
            p = {
                "top5": top5[i].cpu().numpy(),
                "label": int(labels[i]),
                "cam": cams[i].cpu().numpy(),
                "boxes": batch["boxes"][i].cpu().numpy(),
            }
            if batch.get("masks") is not None:
                p["mask"] = batch["masks"][i].cpu().numpy()
            preds.append(p)
        return preds
