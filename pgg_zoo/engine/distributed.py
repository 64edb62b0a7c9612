"""Process-group setup for data-parallel training, on GPUs and on CPUs (gloo).

mmengine's ``init_dist`` pins a CUDA device (``torch.cuda.set_device(LOCAL_RANK)``) and the
Runner wraps the model with ``device_ids=[LOCAL_RANK]``; both fail on a CPU-only machine. Here
the process group is initialized before the Runner is built (mmengine then skips its own
initialization), with NCCL on GPUs and gloo otherwise, and the DDP wrapper gets
``device_ids=None`` on CPUs.
"""
from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist

from .hostlist import first_host

LAUNCHERS = ("none", "pytorch", "slurm", "mpi")


def check_launcher(launcher: Any) -> str:
    """Return ``launcher`` (``None`` means ``"none"``) or raise ``ValueError``."""
    launcher = launcher or "none"
    if launcher not in LAUNCHERS:
        raise ValueError(f"launcher must be one of {LAUNCHERS}, got {launcher!r}")
    return launcher


def _slurm_env() -> None:
    """RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR from Slurm's variables (as mmengine does).

    ``MASTER_ADDR`` is the first host of ``SLURM_NODELIST``, expanded in Python
    (:mod:`pgg_zoo.engine.hostlist`): no ``scontrol``, no shell, and a malformed list is a
    one-line ``ValueError``.
    """
    for var, slurm in (("RANK", "SLURM_PROCID"), ("WORLD_SIZE", "SLURM_NTASKS")):
        if slurm in os.environ:  # else the caller reports the missing variable in one line
            os.environ.setdefault(var, os.environ[slurm])
    os.environ.setdefault("LOCAL_RANK", os.environ.get("SLURM_LOCALID", "0"))
    if "MASTER_ADDR" not in os.environ and "SLURM_NODELIST" in os.environ:
        os.environ["MASTER_ADDR"] = first_host(os.environ["SLURM_NODELIST"])
    os.environ.setdefault("MASTER_PORT", "29500")


def _mpi_env() -> None:
    os.environ.setdefault("RANK", os.environ["OMPI_COMM_WORLD_RANK"])
    os.environ.setdefault("WORLD_SIZE", os.environ["OMPI_COMM_WORLD_SIZE"])
    os.environ.setdefault("LOCAL_RANK", os.environ.get("OMPI_COMM_WORLD_LOCAL_RANK", "0"))
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29500")


def init_distributed(launcher: str, backend: str | None = None) -> None:
    """Join the process group described by the launcher's environment (no-op for ``"none"``
    or when already joined).

    ``backend`` defaults to NCCL when CUDA is available and gloo otherwise.
    """
    launcher = check_launcher(launcher)
    if launcher == "none" or (dist.is_available() and dist.is_initialized()):
        return
    if launcher == "slurm":
        _slurm_env()
    elif launcher == "mpi":
        _mpi_env()
    missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
               if k not in os.environ]
    if missing:
        raise RuntimeError(
            f"launcher {launcher!r} needs the environment variables {missing}; start the "
            "command with torchrun (launcher 'pytorch'), srun (slurm) or mpirun (mpi)")
    os.environ.setdefault("LOCAL_RANK", "0")
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]) % torch.cuda.device_count())
    dist.init_process_group(backend=backend or ("nccl" if cuda else "gloo"),
                            rank=int(os.environ["RANK"]),
                            world_size=int(os.environ["WORLD_SIZE"]))


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    return rank_and_world()[0] == 0


def model_wrapper_cfg(find_unused_parameters: bool = False) -> dict[str, Any]:
    """The DDP wrapper config: ``device_ids`` only on GPUs (CPU modules must pass ``None``).

    ``broadcast_buffers=False`` as in mmengine (buffers such as BN statistics stay per rank
    unless SyncBatchNorm is used).
    """
    cfg: dict[str, Any] = dict(type="MMDistributedDataParallel", broadcast_buffers=False,
                               find_unused_parameters=find_unused_parameters)
    if not torch.cuda.is_available():
        cfg["device_ids"] = None
    return cfg
