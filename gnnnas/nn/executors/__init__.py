"""Networks built from an architecture and run with hypernetwork-generated weights.

``base`` holds the contract, the registry and the batched functional ops; one module per family
of spaces: ``cells`` (NB201, NB101, DARTS), ``chain`` (the macro layer-chain space), ``vit``.
"""

from gnnnas.nn.executors.base import (
    NetworkExecutor,
    arch_batch_norm,
    get_executor,
    grouped_conv,
    list_executors,
    missing_executor,
    per_arch,
    register_executor,
)

__all__ = [
    "NetworkExecutor",
    "arch_batch_norm",
    "get_executor",
    "grouped_conv",
    "list_executors",
    "missing_executor",
    "per_arch",
    "register_executor",
]
