"""Mixed precision for any device: autocast plus (fp16 only) dynamic loss scaling.

mmengine's ``AmpOptimWrapper`` refuses to run without a GPU and always builds a CUDA
``GradScaler``. This wrapper keeps its interface and its checkpoint format (the scaler's state
under ``"loss_scaler"``) but autocasts on the device the parameters live on, scales the loss
only for float16 (bfloat16 has float32's exponent range, so scaling buys nothing), and works
on CPUs, which makes AMP testable without a GPU.

Guidance under AMP: the penalty is part of the loss, so the scaler scales it and the weight
gradients of its double backward like any other term (correct). The *inner* input-gradient
``autograd.grad(logit, x, create_graph=True)`` is not scaled: under float16 autocast its
backward runs in float16, and input-gradient elements below ~6e-8 (float16's smallest
subnormal) flush to zero. Those elements contribute < 4e-15 each to a *squared* penalty, so
the penalty value is unaffected in practice; gradients that are all tiny (a saturated model)
would make the penalty vanish rather than blow up. ``ProvenanceGuidance`` casts the logits to
float32 before differentiating and reduces the penalty with autocast disabled. bfloat16 does
not underflow there (8 exponent bits) and is the recommended choice.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from mmengine.optim import OptimWrapper
from torch import nn

AMP_DTYPES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
              "fp16": torch.float16, "float16": torch.float16}


class _NoScaler:
    """The ``GradScaler`` interface without scaling (bfloat16)."""

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        return loss

    def unscale_(self, optimizer: Any) -> None:
        pass

    def step(self, optimizer: Any, **kwargs: Any) -> Any:
        return optimizer.step(**kwargs)

    def update(self, new_scale: Any = None) -> None:
        pass

    def get_scale(self) -> float:
        return 1.0

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class PGGAmpOptimWrapper(OptimWrapper):
    """``OptimWrapper`` with autocast to ``dtype`` and, for float16, a dynamic ``GradScaler``.

    Args:
        dtype: ``"bf16"`` / ``"fp16"`` (or the torch names).
        device_type: where autocast applies; default ``"cuda"`` when available, else ``"cpu"``.
        loss_scale: ``"dynamic"``, a float (static scale) or a dict of ``GradScaler`` options
            (float16 only).
        **kwargs: ``OptimWrapper`` arguments (``optimizer``, ``accumulative_counts``, ...).
    """

    def __init__(self, dtype: str = "bf16", device_type: str | None = None,
                 loss_scale: Any = "dynamic", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if dtype not in AMP_DTYPES:
            raise ValueError(f"amp must be one of {sorted(AMP_DTYPES)}, got {dtype!r}")
        self.cast_dtype = AMP_DTYPES[dtype]
        self.device_type = device_type or ("cuda" if torch.cuda.is_available() else "cpu")
        self._scale_update_param = None
        if self.cast_dtype is torch.float16:
            opts: dict[str, Any] = {}
            if isinstance(loss_scale, (int, float)) and not isinstance(loss_scale, bool):
                self._scale_update_param = float(loss_scale)
                opts = {"init_scale": float(loss_scale)}
            elif isinstance(loss_scale, dict):
                opts = dict(loss_scale)
            elif loss_scale != "dynamic":
                raise TypeError(f"loss_scale must be 'dynamic', a float or a dict, got {loss_scale!r}")
            self.loss_scaler: Any = torch.amp.GradScaler(self.device_type, **opts)
        else:
            self.loss_scaler = _NoScaler()

    def backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        self.loss_scaler.scale(loss).backward(**kwargs)
        self._inner_count += 1

    def step(self, **kwargs: Any) -> None:
        if self.clip_grad_kwargs:
            self.loss_scaler.unscale_(self.optimizer)
            self._clip_grad()
        self.loss_scaler.step(self.optimizer, **kwargs)
        self.loss_scaler.update(self._scale_update_param)

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["loss_scaler"] = self.loss_scaler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        scaler = state_dict.pop("loss_scaler", None)
        if scaler:
            self.loss_scaler.load_state_dict(scaler)
        if "base_param_settings" in state_dict:
            self.base_param_settings = state_dict.pop("base_param_settings")
        self.optimizer.load_state_dict(state_dict)

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """Gradient-accumulation context (no DDP sync between updates) plus autocast."""
        with super().optim_context(model), torch.autocast(device_type=self.device_type,
                                                          dtype=self.cast_dtype):
            yield
