"""The mmengine model that joins a task model, a synthesizer and the guidance penalty."""
from __future__ import annotations

from typing import Any, Mapping

import torch
from mmengine.model import BaseModel
from torch import Tensor, nn

from ..guidance import LocalizingModel, ProvenanceGuidance, gradient_leakage, map_leakage
from ..batchnorm import frozen_running_stats
from ..synthesizers import NoMix, SynthesizedBatch


class PGGModel(BaseModel):
    """Training step: batch -> synthesizer -> task model -> task loss + guidance penalty.

    The task model only has to follow :class:`pgg_zoo.TaskModel`; this class is the single
    place where synthesis, double backprop and the loss terms meet, so task plugins never
    touch the engine.

    Args:
        task_model: the task's model.
        synthesizer: a batch synthesizer (``None``: no synthesis).
        guidance: the penalty; inactive when ``alpha == 0``.
        seed: seed of the generator that drives synthesis and the random-mask control.
    """

    def __init__(
        self,
        task_model: nn.Module,
        synthesizer: Any,
        guidance: ProvenanceGuidance,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.task_model = task_model
        self.synthesizer = synthesizer if synthesizer is not None else NoMix()
        self.guidance = guidance
        self.generator = torch.Generator()
        self.generator.manual_seed(int(seed))

    def forward(
        self, inputs: Tensor, data_samples: Mapping[str, Any] | None = None, mode: str = "tensor"
    ) -> Any:
        batch = {**(data_samples or {}), "inputs": inputs}
        if mode == "loss":
            return self.loss(batch)
        if mode == "predict":
            return self.task_model.predict(inputs, batch)
        if mode == "tensor":
            return self.task_model(inputs, batch)
        raise ValueError(f"unknown mode {mode!r}")

    def synthesize(self, batch: Mapping[str, Any]) -> SynthesizedBatch:
        """Run the synthesizer with the model's generator."""
        return self.synthesizer(batch, self.generator)

    def loss(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """``{"loss_task": ..., "loss_pgg": alpha * penalty}`` for one batch.

        The synthesized input is made a leaf that requires grad so that each label's logit
        can be differentiated with respect to it (with ``create_graph``), and the penalty's
        own backward then reaches the weights.
        """
        synth = self.synthesize(batch)
        sbatch = {**batch, **synth.extras, "inputs": synth.inputs}
        prov = synth.provenance
        x = synth.inputs
        if self.guidance.active and self.guidance.due:
            x = x.detach().requires_grad_(True)
        outputs = self.task_model(x, sbatch)
        losses = {"loss_task": self.task_model.task_loss(outputs, prov, sbatch)}
        if self.guidance.active:
            label_logits = self.task_model.label_logits(outputs, prov, sbatch)

            def forward_fn(z: Tensor) -> Tensor:
                # Approximate modes re-run the model; BatchNorm must not count that batch twice.
                with frozen_running_stats(self.task_model):
                    return self.task_model.label_logits(self.task_model(z, sbatch), prov, sbatch)

            penalty = self.guidance.penalty(
                x, label_logits, prov, forward_fn=forward_fn, generator=self.generator
            )
            losses["loss_pgg"] = self.guidance.alpha * penalty
        return losses

    def leakage(self, batch: Mapping[str, Any], generator: torch.Generator
                ) -> dict[str, tuple[Tensor, Tensor, Tensor]]:
        """Leakage of one batch synthesized with ``generator``: ``{"leakage": ...}`` (see
        :func:`pgg_zoo.guidance.gradient_leakage`) and, for a task model with label maps
        (:class:`pgg_zoo.guidance.LocalizingModel`), ``{"cam_leakage": ...}``
        (:func:`pgg_zoo.guidance.map_leakage`, on the gradient leakage's slots). The model is
        used as it is (the caller chooses train or eval mode) and nothing is accumulated into
        the weights' gradients."""
        synth = self.synthesizer(batch, generator)
        sbatch = {**batch, **synth.extras, "inputs": synth.inputs}
        prov = synth.provenance
        with torch.enable_grad():
            x = synth.inputs.detach().requires_grad_(True)
            outputs = self.task_model(x, sbatch)
            logits = self.task_model.label_logits(outputs, prov, sbatch)
            out = {"leakage": gradient_leakage(x, logits, prov)}
        if isinstance(self.task_model, LocalizingModel):
            with torch.no_grad():
                share, _, counted = map_leakage(
                    self.task_model.label_maps(outputs, prov, sbatch), prov)
            # The gradient leakage's slots, so that one chance level and one slot count describe
            # both: a label whose map has no positive mass localizes nothing and counts as a
            # uniform map (its share is the chance level).
            _, chance, g_counted = out["leakage"]
            out["cam_leakage"] = (torch.where(counted, share, chance), chance, g_counted)
        return out
