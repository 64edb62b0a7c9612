"""Weight files, read and written in one place: ``.safetensors`` and torch ``.pth`` checkpoints.

Everything that loads weights into a model goes through :func:`check_state_dict`, so every
route (a trained ``model.safetensors``, an mmengine ``epoch_N.pth``, a model card's file) is
equally strict: a different backbone, task or class count is an error listing the missing keys,
the unexpected keys and the shape mismatches, and nothing is loaded. Torch files are always
read with ``torch.load(weights_only=True)``: a checkpoint is data, and unpickling arbitrary
objects from a file someone sent would run their code. A file torch cannot read is reported in
one line naming it, never with torch's advice to retry with ``weights_only=False``.
"""
from __future__ import annotations

import contextlib
import inspect
import os
import pickle
import re
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import torch
from torch import nn

__all__ = [
    "MAX_LISTED", "WeightsMismatchError", "UnreadableWeightsError", "check_state_dict",
    "checkpoint_globals", "torch_load_weights", "read_state_dict", "read_weights_file",
    "save_weights", "load_weights_file", "TORCH_SUFFIXES",
]

#: Cap on keys listed per category in an error message (the count is always given).
MAX_LISTED = 25

#: File suffixes read as torch checkpoints (``.pyth``: pytorchvideo's model zoo).
TORCH_SUFFIXES = (".pth", ".pt", ".pyth", ".ckpt")

#: Prefix of the task model's keys in checkpoints of the engine's wrapper model (``PGGModel``).
ENGINE_PREFIX = "task_model."


class WeightsMismatchError(ValueError):
    """The checkpoint's keys or shapes do not match the model; nothing was loaded.

    Attributes:
        missing: model keys the checkpoint lacks.
        unexpected: checkpoint keys the model lacks.
        shape_mismatches: ``(key, checkpoint_shape, model_shape)`` triples.
    """

    def __init__(
        self,
        message: str,
        missing: list[str],
        unexpected: list[str],
        shape_mismatches: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
    ) -> None:
        super().__init__(message)
        self.missing = missing
        self.unexpected = unexpected
        self.shape_mismatches = shape_mismatches


class UnreadableWeightsError(ValueError):
    """A weights file is corrupt, truncated, of the wrong format or holds more than data.

    Attributes:
        path: the file, as a string.
    """

    def __init__(self, message: str, path: str | os.PathLike[str]) -> None:
        super().__init__(message)
        self.path = str(path)


def check_state_dict(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    what: str = "checkpoint",
    missing_ok: Iterable[str] = (),
) -> None:
    """Raise :class:`WeightsMismatchError` unless ``state_dict`` matches ``model`` exactly.

    The message is one line (the CLI prints it as ``pgg-zoo: error: ...``): what was read, then
    the missing keys, unexpected keys and shape mismatches, each counted and listed (up to
    :data:`MAX_LISTED`).

    Args:
        missing_ok: model-key prefixes allowed to be absent from ``state_dict``.
    """
    own = model.state_dict()
    allowed = tuple(missing_ok)
    missing = sorted(k for k in set(own) - set(state_dict) if not (allowed and k.startswith(allowed)))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = sorted(
        (k, tuple(state_dict[k].shape), tuple(own[k].shape))
        for k in set(own) & set(state_dict)
        if tuple(state_dict[k].shape) != tuple(own[k].shape)
    )
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(f"missing keys ({len(missing)}): {_listing(missing)}")
    if unexpected:
        parts.append(f"unexpected keys ({len(unexpected)}): {_listing(unexpected)}")
    if shapes:
        parts.append(
            f"shape mismatches ({len(shapes)}): "
            + _listing(f"{k}: checkpoint {list(a)} vs model {list(b)}" for k, a, b in shapes)
        )
    message = f"{what} does not match the model (nothing was loaded): " + "; ".join(parts)
    raise WeightsMismatchError(message, missing, unexpected, shapes)


def _listing(items: Iterable[str]) -> str:
    items = list(items)
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f", ... ({len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else "")


@contextlib.contextmanager
def checkpoint_globals() -> Iterator[None]:
    """Let ``torch.load(weights_only=True)`` read mmengine's own checkpoints.

    Since torch 2.6 ``weights_only=True`` is the default and mmengine 0.10's checkpoints hold a
    ``HistoryBuffer`` and NumPy arrays (mmengine#1655). Allowing exactly those types keeps
    arbitrary pickled code out. The buffer's statistics methods are pickled as
    ``getattr(HistoryBuffer, "min")``; the builtin ``getattr`` is never allowed (with it a file
    reaches ``builtins`` and runs code), only :func:`_history_buffer_attribute` under its name.

    The engine wraps ``runner.train()`` in this (mmengine's resume calls ``torch.load``): a
    checkpoint torch refuses to read there is raised as :class:`UnreadableWeightsError`, one
    line naming the file, instead of torch's advice to load it with ``weights_only=False``.
    """
    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer

    allowed: list[Any] = [HistoryBuffer, np.ndarray, np.dtype,
                          (_history_buffer_attribute, "builtins.getattr")]
    core = getattr(np, "_core", None) or np.core
    allowed += [core.multiarray._reconstruct, core.multiarray.scalar]
    allowed += [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool")]
    try:
        with torch.serialization.safe_globals(allowed):
            yield
    except pickle.UnpicklingError as exc:
        path = _file_torch_was_loading(exc)
        if path is None:  # not raised by torch.load (a data file, say): not ours to reword
            raise
        raise UnreadableWeightsError(_unreadable_message(path, exc), path) from None


def _file_torch_was_loading(exc: BaseException) -> str | None:
    """The path ``torch.load`` was reading when ``exc`` was raised, or ``None``.

    mmengine's resume reaches ``torch.load`` several calls deep and its error does not name
    the file; the traceback's ``torch.serialization.load`` frame holds it as ``f``.
    """
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "load" and frame.f_globals.get("__name__") == "torch.serialization":
            f = frame.f_locals.get("f")
            return os.fspath(f) if isinstance(f, (str, os.PathLike)) else "a checkpoint"
        tb = tb.tb_next
    return None


def _history_buffer_attribute(obj: Any, name: Any) -> Any:
    """``getattr`` as mmengine's checkpoints use it: a method defined on ``HistoryBuffer``.

    Raises:
        pickle.UnpicklingError: any other object or attribute (reported by
            :func:`torch_load_weights` as a refused ``getattr``).
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    value = None
    if obj is HistoryBuffer and isinstance(name, str) and not name.startswith("_"):
        value = vars(HistoryBuffer).get(name)
    if not inspect.isfunction(value):
        what = obj.__name__ if isinstance(obj, type) else type(obj).__name__
        raise pickle.UnpicklingError(f"{_REFUSED_GETATTR} {what}.{str(name)[:40]}")
    return value


_REFUSED_GETATTR = "refused getattr of"
# torch words it "Unsupported global: GLOBAL x.y" or, for blocked modules, "unsupported GLOBAL x.y"
_REFUSED_GLOBAL = re.compile(r"unsupported (?:global: )?GLOBAL ([\w.]+)", re.IGNORECASE)
_REFUSED_ATTRIBUTE = re.compile(_REFUSED_GETATTR + r" (\S+)")


def torch_load_weights(path: str | os.PathLike[str], *, mmengine: bool = False) -> Any:
    """``torch.load(path, weights_only=True)`` onto the CPU, with one-line errors.

    Args:
        mmengine: also allow the few non-tensor types mmengine's checkpoints hold
            (:func:`checkpoint_globals`).

    Raises:
        UnreadableWeightsError: naming the file: not a torch file, truncated, or (with the
            refused type named) holding objects other than tensors and plain containers.
        FileNotFoundError: no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    ctx = checkpoint_globals() if mmengine else contextlib.nullcontext()
    try:
        with ctx:
            return torch.load(path, map_location="cpu", weights_only=True)
    except UnreadableWeightsError:  # checkpoint_globals already named the file
        raise
    except Exception as exc:  # noqa: BLE001 - torch raises many types; reported in one line
        raise UnreadableWeightsError(_unreadable_message(path, exc), path) from None


def _unreadable_message(path: str | os.PathLike[str], exc: BaseException) -> str:
    """One line naming ``path`` and why torch could not read it (never torch's advice to
    retry with ``weights_only=False``)."""
    refused = _REFUSED_GLOBAL.search(str(exc))
    attribute = _REFUSED_ATTRIBUTE.search(str(exc))
    if refused:
        return (f"{path}: refusing to load: the checkpoint holds a {refused.group(1)} object, "
                f"and only tensors and plain containers are read from weight files")
    if attribute:
        return (f"{path}: refusing to load: the checkpoint looks up the attribute "
                f"{attribute.group(1)}, and only tensors and plain containers are read from "
                f"weight files")
    return (f"{path}: not a readable PyTorch checkpoint (corrupt, truncated, or not written "
            f"by torch.save; {type(exc).__name__})")


def read_state_dict(path: str | os.PathLike[str], fmt: str,
                    state_dict_key: str | None = None) -> dict[str, torch.Tensor]:
    """Read a state dict from a ``safetensors`` or ``pth`` file onto the CPU.

    ``state_dict_key``: the entry of a ``pth`` checkpoint holding the state dict (for example
    ``model_state``), or ``None`` when the file is the state dict itself.
    """
    path = Path(path)
    if fmt == "safetensors":
        obj: Any = _load_safetensors(path)
    elif fmt == "pth":
        obj = torch_load_weights(path)
    else:
        raise ValueError(f"unknown weights format {fmt!r} for {path} (safetensors or pth)")
    if state_dict_key:
        if not isinstance(obj, Mapping) or state_dict_key not in obj:
            keys = list(obj)[:10] if isinstance(obj, Mapping) else type(obj).__name__
            raise ValueError(f"{path}: no {state_dict_key!r} entry in the checkpoint (top-level keys: {keys})")
        obj = obj[state_dict_key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a mapping of names to tensors (set weights.state_dict_key in the card?)")
    return dict(obj)


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise UnreadableWeightsError(f"{path}: not a readable safetensors file ({exc})", path) from None


def read_weights_file(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The task-model state dict in a ``.safetensors`` file or a torch checkpoint.

    A torch file may be a plain state dict or an mmengine checkpoint written by training
    (``epoch_N.pth``: ``{"state_dict": ..., "meta": ..., ...}``, keys of the engine's wrapper
    model); the wrapper's ``task_model.`` prefix (and DDP's ``module.``) is removed so the keys
    are the task model's. Other keys are kept, and then reported as unexpected.

    Raises:
        UnreadableWeightsError: the file cannot be read, or is not a state dict.
        FileNotFoundError: no such file.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        return _load_safetensors(path)
    obj = torch_load_weights(path, mmengine=True)
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        what = f"keys {list(obj)[:8]}" if isinstance(obj, Mapping) else type(obj).__name__
        raise UnreadableWeightsError(f"{path}: not a state dict or an mmengine checkpoint "
                                     f"(found {what})", path)
    out: dict[str, torch.Tensor] = {}
    for k, v in obj.items():
        k = k[len("module."):] if k.startswith("module.") else k
        out[k[len(ENGINE_PREFIX):] if k.startswith(ENGINE_PREFIX) else k] = v
    return out


def load_weights_file(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load a ``.safetensors`` file or a torch checkpoint into ``model``, strictly.

    Raises:
        WeightsMismatchError: missing/unexpected keys or shape mismatches, all listed in one
            line; ``model`` is untouched.
        UnreadableWeightsError: the file cannot be read (one line naming it).
        FileNotFoundError: no such file.
    """
    state = read_weights_file(path)
    check_state_dict(model, state, what=str(path))
    model.load_state_dict(state, strict=True)


def save_weights(model: nn.Module, path: str | os.PathLike[str]) -> Path:
    """Write ``model``'s state dict as safetensors, atomically, readable like other outputs."""
    from safetensors.torch import save_file

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp))
    # safetensors creates its file 0600; every other output follows the umask (0644 usually)
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)
    return path


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask would, briefly, for every thread)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
