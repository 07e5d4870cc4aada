"""Data-parallel training on torch.distributed: one predictor fitted by several processes.

``Predictor(data_parallel=True)`` inside an initialised process group of several ranks (e.g.
``torchrun --nproc-per-node K -m gnnnas train ...``, which sets it) wraps the fit's model in
:class:`torch.nn.parallel.DistributedDataParallel`. Every rank holds the whole training set (a
digest of labels and module hashes is compared across ranks first) and draws the same global
batch order from the seed; each rank runs the forward pass on its shard of every global batch
(``torch.tensor_split`` of the batch, in rank order), and the ranking loss is computed on the
whole batch's scores, all-gathered with autograd. A pairwise ranking loss compares architectures
across shards, so one step's gradient equals the single-process gradient on the same global
batch: the all-gather's backward sums each rank's share over the ranks and DDP's average divides
that sum again (``tests/test_distributed.py``, gloo, 2 CPU processes, with SGD to float
tolerance). With AdamW the weights drift apart all the same: the pairwise loss ignores a constant
shift, so some bias gradients are zero in exact arithmetic and Adam turns their float noise,
which depends on how the batch is summed, into steps of +-lr (measured: the two checkpoints rank
all NB201 cells with tau .976 between them and .8204 / .8200 against the labels,
``benchmarks/results/ddp.md``).

Steps that run the networks several times (the hypernetwork task next to the ranking loss; the
pretext tasks of the pre-training stage, ``gnnnas.nn.pretrain``) wrap their modules in one
:class:`Step`, whose single forward runs the whole step: DDP expects one forward per backward.
Their losses are means over a global batch: each rank sums its shard's part, :func:`sum_over_ranks`
adds the parts with autograd, and every rank divides by the global count, so the loss and the
step are again those of one process.

What is not split: validation (every rank scores the whole validation set; rank 0's early-stopping
decision is broadcast so that all ranks stop at the same epoch) and the probe targets of the
pre-training stage (rank 0 computes them into the cache first, the others then read the cache).
Dropout draws its masks per rank, so with ``dropout > 0`` a K-process fit differs from a
one-process fit as another seed would. Input checks run inside :func:`fail_together`: if one
rank's data fail them, every rank raises instead of the others waiting in a collective.
Backends: gloo on CPU, NCCL on CUDA (each rank on ``cuda:LOCAL_RANK``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

__all__ = ["Shard", "Step", "all_ranks_agree", "check_same_data", "data_digest", "fail_together", "gather_rows",
           "init_from_env", "is_main_process", "main_process_first", "params_digest", "rank_device", "shard",
           "sum_over_ranks", "world", "wrap"]


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of the initialised default process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """True on rank 0 and outside distributed runs: the process that writes files and reports."""
    return world()[0] == 0


def init_from_env(device: str = "auto") -> str | None:
    """Initialise the default process group from torchrun's environment, if there is one.

    Reads ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and
    ``MASTER_PORT`` (set by torchrun). Backend: NCCL for ``device="cuda"``, and for ``"auto"`` when
    this node has a GPU per local rank; each rank then uses ``cuda:LOCAL_RANK``. Otherwise gloo
    (CPU). Returns the backend's name when it initialised a group (the caller destroys it), None
    when ``WORLD_SIZE`` is unset or 1 or a group already exists.

    Raises:
        RuntimeError: ``WORLD_SIZE`` is above 1 and torch.distributed is not available.
        ValueError: ``device`` is CUDA and this node has fewer GPUs than local ranks.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1 or (dist.is_available() and dist.is_initialized()):
        return None
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if str(device).startswith("cuda") and gpus < local_ranks:
        raise ValueError(f"device {str(device)!r} with {local_ranks} processes on this node needs as many GPUs "
                         f"(one per process); found {gpus}")
    backend = "nccl" if str(device) != "cpu" and gpus >= local_ranks else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return backend


def rank_device(device: torch.device) -> torch.device:
    """The device of this rank in a data-parallel fit: ``cuda`` becomes ``cuda:LOCAL_RANK``.

    Raises:
        ValueError: an explicit CUDA index (``cuda:1``), which would put every rank on one GPU.
    """
    if device.type != "cuda":
        return device
    if device.index is not None:
        raise ValueError(f"device {str(device)!r} in a data-parallel fit would put every rank on one GPU; pass "
                         "device='cuda' (each rank uses cuda:LOCAL_RANK)")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", torch.cuda.current_device())))


def _collective_device() -> torch.device:
    """Where small control tensors live for a collective: NCCL only moves CUDA tensors."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def check_same_data(digest: bytes, what: str = "archs and labels") -> None:
    """Raise on every rank unless every rank passed the same ``digest`` (of its training data, or
    of its hyperparameters; ``what`` names it in the message).

    Raises:
        ValueError: the ranks disagree (each rank raises, so none waits for the others).
    """
    _, size = world()
    if size == 1:
        return
    value = torch.tensor([int.from_bytes(digest[:8], "little", signed=True)], dtype=torch.int64,
                         device=_collective_device())
    parts = [torch.empty_like(value) for _ in range(size)]
    dist.all_gather(parts, value)
    different = [r for r, part in enumerate(parts) if int(part.item()) != int(parts[0].item())]
    if different:
        raise ValueError(f"a data-parallel fit needs the same {what} on every rank; ranks {different} "
                         "differ from rank 0")


def all_ranks_agree(flag: bool) -> bool:
    """Rank 0's ``flag`` on every rank (e.g. "stop early"), so that no rank runs a step alone."""
    _, size = world()
    if size == 1:
        return flag
    value = torch.tensor([int(flag)], dtype=torch.int64, device=_collective_device())
    dist.broadcast(value, src=0)
    return bool(value.item())


class Shard(NamedTuple):
    """This rank's part of a global batch (:func:`shard`).

    ``run``: the items this rank runs, never empty (a rank whose part is empty runs the batch's
    first item, so that it still takes part in DDP's step); ``kept``: how many of the outputs on
    ``run`` are its own (``outputs[:kept]``, 0 for an empty part); ``sizes``: every rank's part size.
    """

    run: torch.Tensor
    kept: int
    sizes: list[int]


def shard(idx: torch.Tensor, active: bool = True) -> Shard:
    """This rank's part of a global batch of indices: ``torch.tensor_split`` in rank order (sizes
    differ by at most one; with fewer items than ranks some parts are empty). Outside a process
    group, or with ``active=False``, the part is the whole batch.
    """
    rank, size = world()
    if not active or size == 1:
        return Shard(idx, len(idx), [len(idx)])
    parts = torch.tensor_split(idx, size)
    mine = parts[rank]
    return Shard(mine if len(mine) else idx[:1], len(mine), [len(p) for p in parts])


def gather_rows(local: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """The whole batch's rows ``[sum(sizes), ...]`` (scores, per-arch losses) from each rank's
    ``local`` ``[sizes[rank], ...]``, in rank order.

    Differentiable: the backward pass gives each rank the gradient of its own part summed over the
    ranks (parts are zero-padded to the largest size for the collective).
    """
    _, size = world()
    if size == 1:
        return local
    longest = max(sizes)
    if len(local) < longest:
        local = torch.cat([local, local.new_zeros((longest - len(local), *local.shape[1:]))])
    parts = _AllGather.apply(local)
    return torch.cat([part[:n] for part, n in zip(parts, sizes)])


def sum_over_ranks(local: torch.Tensor) -> torch.Tensor:
    """Sum of every rank's ``local`` (same shape on every rank), differentiable.

    For a loss that is a mean over a global batch: each rank passes the sum over its shard, and
    every rank gets the global sum (identical on all ranks) to divide by the global count. The
    backward pass sums the ranks' gradients of that global sum (identical: K times the gradient),
    and DDP's average over K ranks gives each parameter exactly the one-process gradient.
    """
    _, size = world()
    if size == 1:
        return local
    return _AllGather.apply(local).sum(0)


class Step(nn.Module):
    """The modules one optimiser step trains, as one module whose forward runs the step.

    ``Step(encoder=..., heads=...)(compute, *args)`` returns ``compute(*args)``. A step that runs
    its networks several times (a ranking loss and the hypernetwork task, several pretext tasks) is
    thus a single forward pass for :class:`~torch.nn.parallel.DistributedDataParallel`, which
    expects one forward per backward; ``compute`` uses the registered modules directly.
    """

    def __init__(self, **modules: nn.Module | None) -> None:
        super().__init__()
        for name, module in modules.items():
            if module is not None:
                self.add_module(name, module)

    def forward(self, compute: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return compute(*args, **kwargs)


def wrap(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` in DistributedDataParallel on ``device`` (``find_unused_parameters``: a step may
    leave some parameters out, e.g. the cell-context layer on one-cell spaces, a head whose task
    this batch lacks)."""
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None,
                                   find_unused_parameters=True)


def data_digest(hashes: Iterable[str], values: np.ndarray | None = None) -> bytes:
    """SHA-256 of ``values`` (float64) and a sequence of architecture hashes: what every rank of a
    data-parallel run must hold alike (:func:`check_same_data`)."""
    digest = hashlib.sha256()
    if values is not None:
        digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    for item in hashes:
        digest.update(item.encode())
    return digest.digest()


def params_digest(params: dict[str, Any]) -> bytes:
    """SHA-256 of hyperparameters (``get_params()``): plain values by ``repr``, other objects (a conv
    class, proxy images) by type name only, as their ``repr`` may differ between processes."""
    plain = (str, int, float, bool, type(None), tuple)
    text = ";".join(f"{name}={value!r}" if isinstance(value, plain) else f"{name}:{type(value).__qualname__}"
                    for name, value in sorted(params.items()))
    return hashlib.sha256(text.encode()).digest()


@contextmanager
def main_process_first(active: bool = True):
    """Rank 0 runs the body first, the other ranks after it (e.g. rank 0 fills a disk cache that
    the others then read). A no-op outside a process group or with ``active=False``.

    If rank 0's body raises, rank 0 still releases the others (which then run the body themselves,
    typically meeting the same error) before the exception goes on.
    """
    rank, size = world()
    if not active or size == 1:
        yield
        return
    if rank != 0:
        dist.barrier()
    try:
        yield
    finally:
        if rank == 0:
            dist.barrier()


@contextmanager
def fail_together(active: bool = True):
    """Every rank raises if the body raised on any rank, so that no rank goes on to a collective
    that the failed rank never reaches (e.g. one rank's data fail validation).

    Call it on every rank around the same code. The failed ranks re-raise their own exception; the
    others raise ``RuntimeError`` naming the failed ranks. A no-op outside a process group or with
    ``active=False``.
    """
    _, size = world()
    if not active or size == 1:
        yield
        return
    error: BaseException | None = None
    try:
        yield
    except Exception as caught:  # noqa: BLE001 - re-raised below, once every rank has heard of it
        error = caught
    flag = torch.tensor([int(error is not None)], dtype=torch.int64, device=_collective_device())
    flags = [torch.empty_like(flag) for _ in range(size)]
    dist.all_gather(flags, flag)
    failed = [r for r, f in enumerate(flags) if int(f.item())]
    if error is not None:
        raise error
    if failed:
        raise RuntimeError(f"ranks {failed} of this data-parallel run failed (see their errors); this rank stops "
                           "too, so that none waits for them")


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
