"""Localization maps of a classifier: CAM, Grad-CAM, guided backpropagation, Guided Grad-CAM.

* **CAM** (Zhou et al., CVPR 2016): ``sum_k w_{c,k} A_k`` with the linear head's weights.
* **Grad-CAM** (Selvaraju et al., ICCV 2017): ``ReLU(sum_k alpha_k A_k)`` with channel weights
  ``alpha_k = mean_{ij} d y_c / d A_k[i, j]`` (the spatially averaged gradient of the class
  score with respect to the last feature map ``A``).
* **Guided backpropagation** (Springenberg et al., 2015): the input gradient of the class score
  where every ReLU passes back only positive gradients at positive inputs.
* **Guided Grad-CAM**: guided backpropagation times the Grad-CAM upsampled to the input.

The identity between the first two: for a head ``y = W GAP(A) + b`` (a CAM classifier),
``d y_c / d A_k[i, j] = w_{c,k} / (h w)`` at every location, so ``alpha_k = w_{c,k} / (h w)`` and
``Grad-CAM = ReLU(CAM) / (h w)``: the same map up to the positive scale ``1 / (h w)`` wherever
the CAM is positive, clipped at zero elsewhere (tests check it numerically).

Nothing here mutates global state: hooks are registered on the given model for the duration of
one call and removed in ``finally``; the model's train/eval flags and parameter gradients are
left as they were (gradients are taken with ``torch.autograd.grad``, never ``.backward()``).
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CAM_METHODS", "class_scores", "feature_layer", "grad_cam", "guided_backprop",
           "guided_grad_cam", "guided_relus", "saliency_to_image"]

#: Values of the WSOL config key ``cam_method``.
CAM_METHODS = ("cam", "gradcam")


def class_scores(outputs: Any) -> Tensor:
    """The ``(B, K)`` logits of a model output (a tensor, or a dict with ``"logits"``)."""
    if isinstance(outputs, Tensor):
        return outputs
    if isinstance(outputs, dict) and "logits" in outputs:
        return outputs["logits"]
    raise TypeError("the model must return a (B, K) tensor or a dict with 'logits', got "
                    f"{type(outputs).__name__}")


def feature_layer(model: nn.Module) -> nn.Module:
    """The module whose output is "the last feature map": ``model.features`` (CAM classifiers)."""
    layer = getattr(model, "features", None)
    if not isinstance(layer, nn.Module):
        raise ValueError(f"{type(model).__name__} has no `features` module; pass layer=...")
    return layer


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode for the call (BN statistics and dropout must not change); flags restored."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, t in flags:
            m.training = t


def grad_cam(model: nn.Module, inputs: Tensor, classes: Tensor, *,
             layer: nn.Module | None = None, eval_mode: bool = True) -> Tensor:
    """Grad-CAM of ``classes`` at the resolution of the feature map.

    The output of ``layer`` is replaced (via a forward hook) by a detached copy that requires
    grad, so the class score is differentiated with respect to the feature map only: nothing is
    backpropagated through the backbone and no parameter gradient is touched.

    Args:
        model: ``inputs -> logits`` (a tensor or a dict with ``"logits"``).
        inputs: ``(B, 3, H, W)``.
        classes: ``(B,)`` class id per input.
        layer: the feature layer (default ``model.features``); its output is ``(B, C, h, w)``.
        eval_mode: run the model in eval mode (flags restored afterwards).

    Returns:
        ``(B, h, w)`` float32 Grad-CAM maps, ``>= 0``.
    """
    layer = feature_layer(model) if layer is None else layer
    captured: list[Tensor] = []

    def hook(_module: nn.Module, _inp: Any, out: Tensor) -> Tensor:
        leaf = out.detach().float().requires_grad_(True)
        captured.append(leaf)
        return leaf.to(out.dtype) if out.dtype != torch.float32 else leaf

    handle = layer.register_forward_hook(hook)
    ctx = _eval_mode(model) if eval_mode else contextlib.nullcontext()
    try:
        with ctx, torch.enable_grad():
            logits = class_scores(model(inputs)).float()
            if not captured:
                raise RuntimeError("the feature layer was not called by the model's forward")
            feats = captured[-1]
            score = logits.gather(1, classes.view(-1, 1).to(logits.device)).sum()
            (grad,) = torch.autograd.grad(score, feats)
    finally:
        handle.remove()
    weights = grad.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1): alpha_k
    return F.relu((weights * feats.detach()).sum(1))


class _PositiveGradient(torch.autograd.Function):
    """Identity forward; backward passes only the positive part of the incoming gradient."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # noqa: D401
        # a copy, so that a later in-place op on the (ReLU) output cannot touch this node's output
        return x.clone()

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad.clamp(min=0)


@contextlib.contextmanager
def guided_relus(model: nn.Module) -> Iterator[int]:
    """Within the block, every ``nn.ReLU`` of ``model`` backpropagates the guided way.

    A forward hook wraps each ReLU output in an identity whose backward clamps the gradient at 0.
    The ReLU's own backward already multiplies by ``(output > 0)``, so the composition is guided
    backpropagation, ``grad_in = (x > 0) * max(grad_out, 0)``; in-place ReLUs work too because
    the hook only reads the output. ReLUs called functionally (``F.relu``) are not seen.

    Yields the number of ReLU modules guided. Hooks are removed on exit.
    """
    handles = [m.register_forward_hook(lambda _m, _i, out: _PositiveGradient.apply(out))
               for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        yield len(handles)
    finally:
        for h in handles:
            h.remove()


def guided_backprop(model: nn.Module, inputs: Tensor, classes: Tensor, *,
                    eval_mode: bool = True) -> Tensor:
    """Guided backpropagation of ``classes``' scores to the input.

    Args:
        model: ``inputs -> logits`` (tensor or dict with ``"logits"``), with ``nn.ReLU`` modules.
        inputs: ``(B, 3, H, W)`` (not modified; a detached copy is differentiated).
        classes: ``(B,)``.

    Returns:
        ``(B, 3, H, W)`` float32 input gradients.

    Raises:
        ValueError: the model has no ``nn.ReLU`` module (guided backprop would be the plain
            gradient without saying so).
    """
    x = inputs.detach().clone().requires_grad_(True)
    ctx = _eval_mode(model) if eval_mode else contextlib.nullcontext()
    with ctx, guided_relus(model) as n_relu, torch.enable_grad():
        if n_relu == 0:
            raise ValueError(f"{type(model).__name__} has no nn.ReLU module to guide")
        logits = class_scores(model(x)).float()
        score = logits.gather(1, classes.view(-1, 1).to(logits.device)).sum()
        (grad,) = torch.autograd.grad(score, x)
    return grad.float()


def guided_grad_cam(model: nn.Module, inputs: Tensor, classes: Tensor, *,
                    layer: nn.Module | None = None) -> Tensor:
    """Guided Grad-CAM: guided backprop ``(B, 3, H, W)`` times Grad-CAM upsampled to ``(H, W)``.

    The Grad-CAM is bilinearly upsampled and divided by its per-image maximum (as in the
    Grad-CAM paper's figures) so the product keeps the scale of the guided gradients.

    Returns:
        ``(B, 3, H, W)`` float32.
    """
    cam = grad_cam(model, inputs, classes, layer=layer)
    up = F.interpolate(cam[:, None], size=tuple(inputs.shape[-2:]), mode="bilinear",
                       align_corners=False)
    up = up / up.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)
    return guided_backprop(model, inputs, classes) * up


def saliency_to_image(saliency: Tensor) -> Tensor:
    """``(3, H, W)`` (or ``(B, 3, H, W)``) gradients -> ``(H, W)`` map in [0, 1] for display.

    The maximum absolute value over the color channels, min-max normalized per image.
    """
    s = saliency.detach().float().abs().amax(dim=-3)
    lo = s.flatten(-2).amin(-1)[..., None, None]
    hi = s.flatten(-2).amax(-1)[..., None, None]
    return (s - lo) / (hi - lo).clamp_min(1e-12)
