"""Leakage keys are reported once each: the CAM leakage is measured on the gradient leakage's
slots, so one chance level and one slot count describe both (issue 24: ``pgg-zoo train wsol``
printed a chance level and a slot count under two names with different values).

Golden values are derived by hand on a linear model with a fixed 2 x 2 provenance.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

import pytest
import torch
from torch import Tensor, nn

from pgg_zoo.engine.leakage import measure_leakage
from pgg_zoo.engine.model import PGGModel
from pgg_zoo.guidance import ProvenanceGuidance
from pgg_zoo.provenance import Provenance
from pgg_zoo.synthesizers.base import SynthesizedBatch

# One input, 1 channel, 2 x 2 pixels; label 0 owns the left column, label 1 the right one.
MASKS = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]]])
# Logit of label l = sum(W[l] * x): its input gradient is W[l].
W = torch.tensor([[[1.0, 2.0], [0.0, 0.0]],    # label 0: squared gradient 1 on, 4 off -> 80 %
                  [[0.0, 1.0], [1.0, 1.0]]])   # label 1: 2 on, 1 off -> 33.3 %
# Label maps: label 0's map has mass 3 on, 1 off (25 %); label 1's map is all negative, so it
# has no positive mass: it localizes nothing and counts as a uniform map (chance, 50 %).
MAPS = torch.tensor([[[[3.0, 1.0], [0.0, 0.0]], [[-1.0, -1.0], [-1.0, -1.0]]]])


class _Fixed:
    """A synthesizer returning the batch with the fixed provenance above."""

    def __call__(self, batch: Mapping[str, Any], generator: torch.Generator) -> SynthesizedBatch:
        x = batch["inputs"]
        prov = Provenance(MASKS.clone(), torch.tensor([[0, 1]]), torch.tensor([[0.5, 0.5]]),
                          input_shape=x.shape)
        return SynthesizedBatch(x, prov)


class _Linear(nn.Module):
    """A task model with label maps (a LocalizingModel) whose gradients and maps are fixed."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(W.clone())

    def forward(self, inputs: Tensor, batch: Mapping[str, Any] | None = None) -> Tensor:
        return (inputs[:, 0, None] * self.w[None]).flatten(2).sum(2)  # (B, 2)

    def label_logits(self, outputs: Tensor, provenance: Provenance, batch: Any) -> Tensor:
        return outputs.gather(1, provenance.labels)

    def task_loss(self, outputs: Tensor, provenance: Provenance, batch: Any) -> Tensor:
        return outputs.sum()

    def predict(self, inputs: Tensor, batch: Any) -> list:
        return []

    def label_maps(self, outputs: Tensor, provenance: Provenance, batch: Any) -> Tensor:
        return MAPS.expand(outputs.shape[0], -1, -1, -1)


def test_cam_leakage_shares_the_gradient_slots_and_keys_are_unique():
    model = PGGModel(_Linear(), _Fixed(), ProvenanceGuidance(alpha=0.0))
    batch = {"inputs": torch.ones(1, 1, 2, 2), "data_samples": {"labels": torch.tensor([0])}}
    got = measure_leakage(model, [batch], seed=0)
    assert set(got) == {"leakage", "leakage_chance", "leakage_slots", "cam_leakage"}
    assert got["leakage_slots"] == 2 and got["leakage_chance"] == pytest.approx(50.0)
    assert got["leakage"] == pytest.approx(100 * (4 / 5 + 1 / 3) / 2)
    assert got["cam_leakage"] == pytest.approx(100 * (1 / 4 + 1 / 2) / 2)


def test_wsol_run_reports_each_leakage_key_once(bench_home, tmp_path, capsys):
    from pgg_zoo.cli.main import main

    work = tmp_path / "run"
    assert main(["train", "wsol", "--epochs", "1", "--batch-size", "8", "--work-dir", str(work),
                 "--set", "limit_train=16", "--set", "limit_test=8",
                 "--set", "leakage_items=8"]) == 0
    out = capsys.readouterr().out
    printed = [line.split(":")[0].strip() for line in out.splitlines() if line.startswith("  ")]
    assert len(printed) == len(set(printed)), printed
    leak = [k for k in printed if "leakage" in k]
    assert sorted(leak) == ["cam_leakage", "leakage", "leakage_chance", "leakage_slots"]
    saved = json.loads((work / "metrics.json").read_text())["metrics"]
    assert sorted(saved) == sorted(printed)
