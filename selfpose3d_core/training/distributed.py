"""Multi-process data-parallel training through ``torchrun`` and torch's own DDP.

Launch (one process per GPU, or several CPU processes with gloo)::

    torchrun --nproc_per_node 4 -m selfpose3d_core.cli train ...
    torchrun --nproc_per_node 2 --master_addr 127.0.0.1 --master_port 29500 train.py

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``; :func:`init_distributed` reads them, picks ``gloo`` on the CPU and
``nccl`` on CUDA, and returns a :class:`DistInfo`. Without ``WORLD_SIZE`` (a plain
``python train.py``) everything here is a single-process no-op, so one code path serves
both.

Rules for the trainer:

- Build the model identically on every rank, then :func:`wrap_ddp`; DDP broadcasts rank
  0's parameters and buffers at wrap time and averages gradients in ``backward()``.
  Save ``unwrap_model(model).state_dict()`` (no ``module.`` prefix).
- Each rank iterates over :func:`shard_indices` of the epoch: with a per-rank batch ``B``,
  the union of the ranks' ``t``-th batches is exactly the ``t``-th block of ``B ·
  world_size`` indices of the epoch's permutation, so training matches one process with
  batch ``B · world_size`` (the loss must be a mean over the batch).
- Only the main rank (``info.is_main``) writes checkpoints, metrics and progress; reduce
  logged values with :func:`all_reduce_mean` first (every rank must call it). Call
  :func:`barrier` before other ranks read what the main rank wrote.
- For bit-exact resumption every rank needs its own RNG state: collect them with
  :func:`gather_object` (``capture_rng_state()`` on each rank) into the checkpoint.
- :func:`cleanup` at exit (``try/finally``).
"""

from __future__ import annotations

import datetime
import logging
import math
import os
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

__all__ = ["DistInfo", "TORCHRUN_ENV", "single_process", "init_distributed", "wrap_ddp",
           "unwrap_model", "shard_indices", "all_reduce_mean", "barrier", "broadcast_object",
           "gather_object", "cleanup"]

log = logging.getLogger(__name__)

#: Environment variables torchrun sets that :func:`init_distributed` needs.
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


class DistInfo(NamedTuple):
    """Where this process stands in the job.

    Fields:
        rank: global rank in [0, world_size).
        local_rank: rank on this machine (the CUDA device index).
        world_size: number of processes (1 when not distributed).
        is_main: rank == 0: the process that writes checkpoints, logs and progress.
        device: the device this process computes on.
    """

    rank: int
    local_rank: int
    world_size: int
    is_main: bool
    device: torch.device

    @property
    def distributed(self) -> bool:
        """True when several processes take part (a process group is in use)."""
        return self.world_size > 1


def single_process(device: str | torch.device = "cpu", rank: int = 0,
                   world_size: int = 1) -> DistInfo:
    """A :class:`DistInfo` without a process group (also handy to compute another rank's
    shard in tests)."""
    return DistInfo(rank, rank, world_size, rank == 0, torch.device(device))


def _env_int(name: str) -> int:
    value = os.environ[name]
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer, got "
                         f"{value!r}") from exc


def init_distributed(backend: str | None = None, device: str = "cpu",
                     timeout_s: float = 600.0) -> DistInfo:
    """Join the ``torchrun`` job described by the environment, or run alone.

    Args:
        backend: ``"gloo"`` or ``"nccl"``; None picks gloo for CPU, nccl for CUDA.
        device: ``"cpu"`` or ``"cuda"`` (each rank takes ``cuda:<LOCAL_RANK>``).
        timeout_s: how long collectives wait for the other ranks.
    Returns:
        The :class:`DistInfo`; ``world_size`` 1 and no process group when ``WORLD_SIZE`` is
        unset or 1. If a process group already exists it is reused.
    Raises:
        ValueError: for an unknown device or backend, nccl on CPU, a missing or malformed
            torchrun variable, or CUDA requested but unavailable.
    """
    if device not in ("cpu", "cuda"):
        raise ValueError(f"init_distributed: device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("init_distributed: device='cuda' but CUDA is not available")
    if backend is None:
        backend = "nccl" if device == "cuda" else "gloo"
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"init_distributed: backend must be 'gloo' or 'nccl', got "
                         f"{backend!r}")
    if backend == "nccl" and device == "cpu":
        raise ValueError("init_distributed: the nccl backend needs device='cuda'")

    if "WORLD_SIZE" not in os.environ or _env_int("WORLD_SIZE") <= 1:
        dev = torch.device("cuda", torch.cuda.current_device()) if device == "cuda" else (
            torch.device("cpu"))
        return DistInfo(0, 0, 1, True, dev)
    missing = [k for k in TORCHRUN_ENV if k not in os.environ]
    if missing:
        raise ValueError(f"init_distributed: WORLD_SIZE is set but {missing} are not; launch "
                         f"with torchrun (it sets {list(TORCHRUN_ENV)})")
    rank, local_rank, world = (_env_int("RANK"), _env_int("LOCAL_RANK"),
                               _env_int("WORLD_SIZE"))
    if not 0 <= rank < world:
        raise ValueError(f"init_distributed: RANK={rank} outside [0, WORLD_SIZE={world})")
    if device == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"init_distributed: LOCAL_RANK={local_rank} but only "
                             f"{torch.cuda.device_count()} CUDA devices are visible")
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://", rank=rank,
                                world_size=world,
                                timeout=datetime.timedelta(seconds=timeout_s))
        log.info("joined process group: rank %d/%d (local %d), backend %s, device %s", rank,
                 world, local_rank, backend, dev)
    return DistInfo(rank, local_rank, world, rank == 0, dev)


def wrap_ddp(module: nn.Module, info: DistInfo, find_unused_parameters: bool = False,
             **ddp_kwargs: Any) -> nn.Module:
    """Move ``module`` to ``info.device`` and wrap it in DistributedDataParallel.

    Single-process: returns the module (moved) unchanged. ``find_unused_parameters=True``
    is needed when some parameters get no gradient in a step (e.g. a training stage that
    freezes or skips a sub-network in ``forward``); it costs an extra graph traversal.
    """
    module = module.to(info.device)
    if not info.distributed:
        return module
    if info.device.type == "cuda":
        return DistributedDataParallel(module, device_ids=[info.device.index],
                                       output_device=info.device.index,
                                       find_unused_parameters=find_unused_parameters,
                                       **ddp_kwargs)
    return DistributedDataParallel(module, find_unused_parameters=find_unused_parameters,
                                   **ddp_kwargs)


def unwrap_model(module: nn.Module) -> nn.Module:
    """The module inside a DDP (or DataParallel) wrapper; other modules unchanged."""
    while isinstance(module, (DistributedDataParallel, nn.DataParallel)):
        module = module.module
    return module


def shard_indices(n: int, info: DistInfo, seed: int, epoch: int,
                  shuffle: bool = True) -> list[int]:
    """This rank's sample indices for one epoch (like torch's DistributedSampler).

    The epoch's order is a permutation of ``range(n)`` drawn from ``(seed, epoch)`` (the
    identity when ``shuffle`` is False), padded by repeating its start to a multiple of
    ``world_size``; rank ``r`` takes positions ``r, r + world_size, ...``. Every rank gets
    ``ceil(n / world_size)`` indices; the padding repeats at most ``world_size - 1``
    samples per epoch. Independent of any global RNG.

    Example:
        >>> shard_indices(5, single_process(rank=1, world_size=2), seed=0, epoch=0,
        ...               shuffle=False)
        [1, 3, 0]

    Raises:
        ValueError: for a negative ``n``, ``seed`` or ``epoch``.
    """
    for name, value in (("n", n), ("seed", seed), ("epoch", epoch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"shard_indices: {name} must be an integer ≥ 0, got {value!r}")
    if n == 0:
        return []
    if shuffle:
        order = np.random.default_rng([int(seed), int(epoch)]).permutation(n)
    else:
        order = np.arange(n)
    per_rank = math.ceil(n / info.world_size)
    total = per_rank * info.world_size
    if total > n:
        order = np.resize(order, total)  # repeats from the start, cyclically
    return order[info.rank:total:info.world_size].tolist()


def all_reduce_mean(value: torch.Tensor | float, info: DistInfo) -> torch.Tensor | float:
    """The mean of ``value`` over ranks (every rank must call it; for logging).

    A float gives a float; a tensor gives a new tensor (detached, on its own device).
    """
    is_tensor = isinstance(value, torch.Tensor)
    if not info.distributed:
        return value.detach().clone() if is_tensor else float(value)
    t = (value.detach().clone() if is_tensor else torch.tensor(float(value),
                                                             dtype=torch.float64))
    home = t.device
    comm = t.to(info.device) if info.device.type == "cuda" else t.cpu()
    dist.all_reduce(comm, op=dist.ReduceOp.SUM)
    comm = comm / info.world_size
    return comm.to(home) if is_tensor else float(comm)


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op single-process)."""
    if not info.distributed:
        return
    if info.device.type == "cuda":
        dist.barrier(device_ids=[info.device.index])
    else:
        dist.barrier()


def broadcast_object(obj: Any, info: DistInfo, src: int = 0) -> Any:
    """Rank ``src``'s picklable ``obj`` on every rank (e.g. the run directory it chose)."""
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src,
                               device=info.device if info.device.type == "cuda" else None)
    return box[0]


def gather_object(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's picklable ``obj``, in rank order, on every rank (``[obj]`` alone)."""
    if not info.distributed:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def cleanup(info: DistInfo) -> None:
    """Leave the process group (no-op when none was created)."""
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()
