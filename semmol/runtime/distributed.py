"""torch.distributed set-up for runs launched by ``torchrun`` (gloo on CPU, NCCL on GPU), and the
few collectives the training code uses.

Every collective here also works without a process group (one process), where it is the
identity, so the same code path serves ``python -m semmol`` and ``torchrun``.

Loss convention: a term is "a mean over the global batch" when each rank returns
``world_size * local_sum / global_count`` (see :func:`global_mean`). DDP averages gradients over
ranks, so the effective gradient is that of ``global_sum / global_count``: one process with
batch ``G`` and ``W`` processes with ``G / W`` each follow the same curve.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from semmol.runtime.precision import default_device


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


#: ``prctl`` option: the signal the kernel sends this process when its parent dies (linux/prctl.h).
_PR_SET_PDEATHSIG = 1


def die_with_launcher() -> None:
    """Under ``torchrun`` on Linux, have the kernel kill this worker when its launcher dies.

    ``torchrun`` starts each worker in a session of its own, so a ``SIGKILL`` to the process
    group of a Snakemake run (or of ``torchrun`` itself) would leave the worker training on as
    an orphan, writing to the checkpoint that the re-run resumes from. Elsewhere a no-op.

    Raises:
        OSError: ``prctl`` refused.
    """
    if "TORCHELASTIC_RUN_ID" not in os.environ or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() == 1:  # the launcher died before the request was made
        os.kill(os.getpid(), signal.SIGKILL)


def init_distributed() -> DistContext:
    """Join the process group that ``torchrun`` describes in the environment.

    A single process (plain ``python -m semmol`` or ``torchrun --nproc-per-node 1``) runs
    without a process group, so nothing pays for collectives it does not need.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = default_device(local_rank)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def world_size() -> int:
    """Processes in the job (1 without a process group)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_initialized() else 0


def all_gather_objects(value: object) -> list[object]:
    """``value`` from every rank, in rank order (a one-element list without a process group)."""
    if not dist.is_initialized():
        return [value]
    gathered: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def all_reduce_sum(value: torch.Tensor) -> torch.Tensor:
    """The sum of ``value`` over ranks, as a new tensor outside the autograd graph."""
    value = value.detach().clone()
    if dist.is_initialized():
        dist.all_reduce(value)
    return value


def all_gather(value: torch.Tensor) -> torch.Tensor:
    """Every rank's ``value`` (same shape on every rank) concatenated along dim 0, in rank order.

    No gradient flows through it; use :func:`gather_with_grad` for that.
    """
    value = value.detach().contiguous()
    if not dist.is_initialized():
        return value.clone()
    parts = [torch.empty_like(value) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, value)
    return torch.cat(parts)


class _GatherWithGrad(torch.autograd.Function):
    """All-gather whose backward sends each rank the gradient of every rank's loss w.r.t. its rows.

    Written with all_gather and all_reduce alone because gloo has no reduce_scatter.
    """

    @staticmethod
    def forward(ctx, value: torch.Tensor) -> torch.Tensor:
        ctx.rows = value.shape[0]
        return all_gather(value)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        start = dist.get_rank() * ctx.rows
        return grad[start : start + ctx.rows]


def gather_with_grad(value: torch.Tensor) -> torch.Tensor:
    """Every rank's ``value`` concatenated along dim 0 (rank order), differentiable w.r.t. the local part."""
    if not dist.is_initialized():
        return value
    return _GatherWithGrad.apply(value)


def global_mean(local_sum: torch.Tensor, local_count: torch.Tensor | int) -> torch.Tensor:
    """This rank's share of ``sum over ranks / count over ranks`` (see the module docstring).

    Returns ``world_size * local_sum / global_count``, or zero (still in the graph) when the
    global count is zero.
    """
    count = torch.as_tensor(local_count, dtype=torch.float32, device=local_sum.device)
    total = all_reduce_sum(count)
    if float(total) == 0:
        return local_sum * 0.0
    return local_sum * world_size() / total


def mean_across_ranks(value: torch.Tensor) -> float:
    """The average of a scalar over ranks (each rank's share of a global mean -> the mean)."""
    return float(all_reduce_sum(value.float())) / world_size()


def broadcast_(value: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Overwrite ``value`` in place with rank ``src``'s copy; returns it."""
    if dist.is_initialized():
        dist.broadcast(value, src)
    return value


def average_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Average the gradients of parameters that live outside DDP over ranks, as DDP does for its own.

    One flat all-reduce. A parameter without a gradient on some rank counts as a zero
    gradient there; one without a gradient on every rank keeps none (an optimizer skips it,
    as it would in one process). A no-op without a process group.
    """
    if not dist.is_initialized():
        return
    params = [p for p in parameters if p.requires_grad]
    if not params:
        return
    present = torch.tensor([float(p.grad is not None) for p in params], device=params[0].device)
    flat = torch.cat(
        [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params] + [present]
    )
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for p, anywhere in zip(params, flat[-len(params) :].tolist()):
        if anywhere > 0:
            p.grad = flat[offset : offset + p.numel()].view_as(p).clone()
        offset += p.numel()
