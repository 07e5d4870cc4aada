"""Benchmark tables (architecture -> accuracy) read from the data directory."""

from gnnnas.data import (  # noqa: F401  (registers "darts", "vit")
    darts,
    nasbench_graph,
    nb101,
    nb201,
    vit,
)
from gnnnas.data.benchmark import Benchmark, list_benchmarks, load_benchmark, register_benchmark
from gnnnas.data.manifest import DataDirectoryError
from gnnnas.data.paths import MissingDataError, resolve_cache_dir, resolve_data_dir
from gnnnas.data.proxy import ProxyImages, load_proxy

__all__ = [
    "Benchmark",
    "DataDirectoryError",
    "MissingDataError",
    "ProxyImages",
    "list_benchmarks",
    "load_benchmark",
    "load_proxy",
    "register_benchmark",
    "resolve_cache_dir",
    "resolve_data_dir",
]
