"""The decoy task's model: RRR's multilayer perceptron, as a pgg_zoo TaskModel."""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pgg_zoo.provenance import Provenance

__all__ = ["mlp", "convnet", "DigitClassifier"]


def mlp(in_features: int = 28 * 28, hidden: tuple[int, ...] = (50, 30), num_classes: int = 10
        ) -> nn.Sequential:
    """``(B, 1, H, W) -> (B, K)``: flatten, ReLU layers of ``hidden`` sizes, linear head
    (RRR's 784-50-30-10)."""
    layers: list[nn.Module] = [nn.Flatten()]
    prev = in_features
    for h in hidden:
        layers += [nn.Linear(prev, h), nn.ReLU()]
        prev = h
    layers.append(nn.Linear(prev, num_classes))
    return nn.Sequential(*layers)


def convnet(channels: tuple[int, ...] = (16, 32, 64), num_classes: int = 10) -> nn.Sequential:
    """``(B, 1, H, W) -> (B, K)``: 3x3 conv + ReLU stages (2x2 max-pool between them), global
    max-pool, linear head.

    Weight sharing lets it detect a swatch wherever it sits, which the MLP (one weight per
    pixel) cannot learn from 1000 digits; that is what the ``anywhere`` variant needs.
    """
    layers: list[nn.Module] = []
    prev = 1
    for i, c in enumerate(channels):
        layers += [nn.Conv2d(prev, c, 3, padding=1), nn.ReLU()]
        if i < len(channels) - 1:
            layers.append(nn.MaxPool2d(2))
        prev = c
    layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(prev, num_classes)]
    return nn.Sequential(*layers)


class DigitClassifier(nn.Module):
    """A classifier network wrapped as a TaskModel (``label_logits``, ``task_loss``, ``predict``).

    Args:
        net: ``(B, C, H, W) -> (B, K)`` logits.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, inputs: Tensor, batch: Mapping[str, Any] | None = None) -> Tensor:
        """``(B, K)`` logits."""
        return self.net(inputs)

    def label_logits(self, outputs: Tensor, provenance: Provenance, batch: Mapping[str, Any]
                     ) -> Tensor:
        """``(B, L)``: each provenance label's logit."""
        return outputs.gather(1, provenance.labels)

    def task_loss(self, outputs: Tensor, provenance: Provenance, batch: Mapping[str, Any]
                  ) -> Tensor:
        """Cross-entropy against the provenance labels, weighted (``sum_l w_l CE``), batch mean."""
        logp = F.log_softmax(outputs.float(), dim=1)
        w = provenance.weights.float() * provenance.valid.float()
        return (-logp.gather(1, provenance.labels) * w).sum(1).mean()

    @torch.no_grad()
    def predict(self, inputs: Tensor, batch: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Per input: ``pred`` (top-1 class) and ``label``."""
        pred = self(inputs).argmax(1).tolist()
        return [{"pred": int(p), "label": int(y)} for p, y in zip(pred, batch["labels"].tolist())]
