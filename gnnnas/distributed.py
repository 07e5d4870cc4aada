"""Data-parallel training on torch.distributed: one predictor fitted by several processes.

Launch with torchrun (``torchrun --nproc-per-node K -m gnnnas train ...``) or initialise a
process group yourself before ``Predictor.fit``: the fit then wraps its model in
:class:`torch.nn.parallel.DistributedDataParallel`. Every rank holds the whole training set and
draws the same global batch order from the seed (a seed of ``None`` is drawn on rank 0 and
broadcast); each rank runs the forward pass on its shard of every global batch
(``torch.tensor_split`` of the batch, in rank order), and the ranking loss is computed on the
whole batch's scores, all-gathered with autograd.
A pairwise ranking loss compares architectures across shards, so one step equals the
single-process step on the same global batch: the all-gather's backward sums each rank's share
of the gradient over the ranks and DDP's average divides that sum again (checked to float
tolerance by ``tests/test_distributed.py``, gloo backend, 2 CPU processes).

What is not split: validation (every rank scores the whole validation set; rank 0's early-stopping
decision is broadcast so that all ranks stop at the same epoch) and the pre-training stage (run
whole on each rank, which gives the same encoder on every rank from the same seed). Dropout draws
its masks per rank, so with ``dropout > 0`` a K-process fit differs from a one-process fit as
another seed would. Backends: gloo on CPU, NCCL on CUDA (each rank on ``cuda:LOCAL_RANK``).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["all_ranks_agree", "broadcast_seed", "gather_batch_scores", "init_from_env", "is_main_process",
           "shard", "world"]


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of the initialised default process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """True on rank 0 and outside distributed runs: the process that writes files and reports."""
    return world()[0] == 0


def init_from_env(device: str = "auto") -> bool:
    """Initialise the default process group from torchrun's environment, if there is one.

    Reads ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` (set by
    torchrun). Backend: NCCL when ``device`` is CUDA (or ``"auto"`` with CUDA present), which also
    selects ``cuda:LOCAL_RANK`` as this process's device, else gloo. Returns True when it
    initialised a group (the caller then destroys it), False when ``WORLD_SIZE`` is unset or 1 or
    a group already exists.

    Raises:
        RuntimeError: ``WORLD_SIZE`` is above 1 and torch.distributed is not available.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1 or (dist.is_available() and dist.is_initialized()):
        return False
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    cuda = torch.cuda.is_available() and str(device) != "cpu"
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return True


def broadcast_seed(seed: int | None) -> int | None:
    """The same seed on every rank: ``seed`` itself, or for ``None`` one drawn on rank 0."""
    rank, size = world()
    if size == 1 or seed is not None:
        return seed
    value = torch.tensor([int(torch.randint(0, 2**31 - 1, ()).item()) if rank == 0 else 0], dtype=torch.int64)
    dist.broadcast(value, src=0)
    return int(value.item())


def all_ranks_agree(flag: bool) -> bool:
    """Rank 0's ``flag`` on every rank (e.g. "stop early"), so that no rank runs a step alone."""
    rank, size = world()
    if size == 1:
        return flag
    value = torch.tensor([int(flag)], dtype=torch.int64)
    dist.broadcast(value, src=0)
    return bool(value.item())


def shard(idx: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    """This rank's part of a global batch of indices and the sizes of every rank's part.

    ``torch.tensor_split`` in rank order: sizes differ by at most one; with fewer items than ranks
    some parts are empty.
    """
    rank, size = world()
    parts = torch.tensor_split(idx, size)
    return parts[rank], [len(p) for p in parts]


def gather_batch_scores(local: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """The whole batch's scores ``[sum(sizes)]`` from each rank's ``local`` ``[sizes[rank]]``.

    Differentiable: the backward pass gives each rank the gradient of its own part summed over the
    ranks (parts are zero-padded to the largest size for the collective).
    """
    rank, size = world()
    if size == 1:
        return local
    longest = max(sizes)
    padded = torch.cat([local, local.new_zeros(longest - len(local))]) if len(local) < longest else local
    parts = _AllGather.apply(padded)
    return torch.cat([part[:n] for part, n in zip(parts, sizes)])


class _AllGather(torch.autograd.Function):
    """``dist.all_gather`` with a backward pass (``[world, *shape]``).

    torch's own differentiable ``torch.distributed.nn.functional.all_gather`` is deprecated (torch
    2.13) in favour of a private module; this is the same two collectives on the public API.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.stack(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[dist.get_rank()]
