"""Many independent jobs on a Ray cluster: benchmark tasks and search runs (``--backend ray``).

gnnnas does not schedule jobs itself: each job becomes a Ray task with its own CPU/GPU request
and Ray places it on the local machine or on the cluster at ``address``
(https://docs.ray.io/en/latest/ray-core/tasks.html). Ray is an optional dependency:
``pip install "gnnnas[ray]"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["ray_map"]

RAY_HINT = 'the ray backend needs Ray: pip install "gnnnas[ray]"'


def _ray():
    try:
        import ray
    except ImportError as error:
        raise ImportError(RAY_HINT) from error
    return ray


def ray_map(fn: Callable[..., Any], calls: Sequence[tuple], shared: tuple[int, ...] = (), address: str | None = None,
            num_cpus: float = 1, num_gpus: float = 0) -> Iterator[tuple[int, Any]]:
    """``fn(*calls[i])`` for every ``i`` as Ray tasks; yields ``(i, result)`` as each finishes.

    Args:
        fn: a module-level function (Ray ships it to the workers by reference).
        calls: the argument tuples.
        shared: positions of arguments that are the same object in every call (e.g. a benchmark
            table): put in Ray's object store once instead of once per task.
        address: the cluster to join (``ray.init(address=...)``, e.g. ``"auto"`` or
            ``"ray://head:10001"``); None starts or reuses a local one. An already initialised
            Ray is used as it is.
        num_cpus, num_gpus: the resources each task asks for (a GNN fit uses one CPU thread by
            default; ask for a GPU where the model trains on one).

    Raises:
        ImportError: Ray is not installed.
        Any exception of ``fn``, re-raised here when its task fails (the others are cancelled).
    """
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    remote = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=0)(fn)
    refs: dict[int, Any] = {}
    for pos in shared:
        if calls:
            refs[pos] = ray.put(calls[0][pos])
    pending = {}
    for i, args in enumerate(calls):
        args = tuple(refs.get(pos, arg) for pos, arg in enumerate(args))
        pending[remote.remote(*args)] = i
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                i = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as error:
                    raise error.as_instanceof_cause() from None
                yield i, result
    finally:
        for ref in pending:
            ray.cancel(ref)
