"""CPU threads: how many torch may use for a fit or a prediction, set for the call and restored.

Why one thread by default: gnnnas trains on batches of a few dozen small graphs, where torch's
intra-op parallelism gains little, and on a machine shared with other jobs its extra threads
spin-wait for each other (``benchmarks/results/threads.md``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

__all__ = ["available_cpus", "cpu_threads"]


def available_cpus() -> int:
    """CPUs this process may run on: its affinity mask where the OS has one, else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@contextlib.contextmanager
def cpu_threads(n: int | None, device: torch.device) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads on CPU, then restore the previous count.

    ``n`` is a positive count, -1 for every CPU of :func:`available_cpus`, or None to leave
    torch's setting alone; on other devices nothing is changed.
    """
    if n == -1:
        n = available_cpus()
    if n is None or device.type != "cpu" or torch.get_num_threads() == n:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
