"""Distributed training helpers: torchrun environment, DDP wrapping, rank-aware utilities.

Single-process CPU is the default: without ``WORLD_SIZE > 1`` in the environment every helper is
a no-op (rank 0 of 1). Under ``torchrun`` :func:`init_distributed` reads ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``, starts the process group (NCCL on CUDA, Gloo on CPU) and pins
the local GPU. Only the main process (rank 0) should log and save.

A run is wrapped in :func:`distributed_run`, which tears the process group down before the
interpreter exits, on success and on error. Left to interpreter shutdown, Gloo's worker threads
can still hold work (and tensors) when Python finalises; the thread that then needs the GIL is
ended by the interpreter inside C++ code and the rank dies with "terminate called without an
active exception" (SIGABRT) although training finished (issue 14; pytorch#65231, #190489).
"""

from __future__ import annotations

import gc
import logging
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger("gesturekit")


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size``; ``local_rank`` picks its GPU."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_dist_info() -> DistInfo:
    """The torchrun variables of this process (rank 0 of 1 when absent)."""
    return DistInfo(
        rank=int(os.environ.get("RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def init_distributed(device: torch.device | str = "cpu", backend: str | None = None) -> DistInfo:
    """Start the process group when launched by torchrun; otherwise return rank 0 of 1."""
    info = env_dist_info()
    if not info.enabled:
        return info
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.set_device(info.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend or ("nccl" if device.type == "cuda" else "gloo"))
    return info


def distributed_device(device: torch.device | str, info: DistInfo) -> torch.device:
    """The device of this rank: ``cuda:LOCAL_RANK`` when training on CUDA, else ``device``."""
    device = torch.device(device)
    if device.type == "cuda" and info.enabled:
        return torch.device("cuda", info.local_rank)
    return device


def is_main_process() -> bool:
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def wrap_ddp(model: torch.nn.Module, info: DistInfo, device: torch.device | str = "cpu") -> torch.nn.Module:
    """``DistributedDataParallel(model)`` when distributed, else ``model`` unchanged."""
    if not info.enabled:
        return model
    device = torch.device(device)
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        return DistributedDataParallel(model, device_ids=[device.index or info.local_rank])
    return DistributedDataParallel(model)


def barrier(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum ``tensor`` over ranks in place (identity when not distributed)."""
    if info.enabled and dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_flag(flag: bool, info: DistInfo, device: torch.device | str = "cpu") -> bool:
    """Rank 0's value of ``flag`` on every rank (e.g. "stop early")."""
    if not (info.enabled and dist.is_initialized()):
        return flag
    t = torch.tensor([1 if flag else 0], device=device)
    dist.broadcast(t, src=0)
    return bool(t.item())


def cleanup_distributed(info: DistInfo, *, synchronize: bool = True) -> None:
    """Destroy the process group while the interpreter is fully alive (no-op when not distributed).

    With ``synchronize`` every rank first waits at a barrier, so that no rank tears its group down
    while a peer still waits on a collective. After an error the peers may never arrive, so no
    barrier is taken; a Gloo group is still destroyed (its queue is empty between collectives),
    an NCCL one is left to torchrun's teardown (destroying it alone can hang).
    Objects that hold the group (a ``DistributedDataParallel`` wrapper and its reducer) must be
    unreachable by then: the last reference, not ``destroy_process_group``, frees the group.
    """
    if not (info.enabled and dist.is_available() and dist.is_initialized()):
        return
    backend = str(dist.get_backend())
    if not synchronize and backend != "gloo":
        log.warning("distributed run failed: the %s process group is left to torchrun's teardown", backend)
        return
    try:
        if synchronize:
            dist.barrier()  # raises when a peer died: this rank fails too, after the teardown below
    finally:
        gc.collect()  # frees DDP wrappers in reference cycles, so the group goes with destroy below
        dist.destroy_process_group()
        gc.collect()


@contextmanager
def distributed_run(device: torch.device | str = "cpu", backend: str | None = None) -> Iterator[DistInfo]:
    """``with distributed_run(device) as info:`` one training run, distributed or not.

    Starts the process group under torchrun (:func:`init_distributed`) and always ends it
    (:func:`cleanup_distributed`): after a barrier when the body returned, at once when it
    raised. Keep the DDP-wrapped model inside the body (e.g. in a function called from it) so
    that nothing outside still holds the group.
    """
    info = init_distributed(device, backend)
    try:
        yield info
    except BaseException as exc:
        # the traceback's finished frames would keep the DDP model (and so the group) alive;
        # their locals go (the traceback itself, lines and all, is kept)
        traceback.clear_frames(exc.__traceback__)
        cleanup_distributed(info, synchronize=False)
        raise
    cleanup_distributed(info, synchronize=True)
