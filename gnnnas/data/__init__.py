"""Benchmark tables (architecture -> accuracy) read from the data directory."""

from gnnnas.data.benchmark import Benchmark, list_benchmarks, load_benchmark, register_benchmark
from gnnnas.data.paths import MissingDataError, resolve_cache_dir, resolve_data_dir

from gnnnas.data import nb201  # noqa: F401  (registers "nb201")
from gnnnas.data import darts, vit  # noqa: F401  (registers "darts", "vit")
from gnnnas.data import nasbench_graph  # noqa: F401  (registers "nasbench_graph")
from gnnnas.data import nb101  # noqa: F401  (registers "nb101", "nb101_500")

__all__ = [
    "Benchmark",
    "MissingDataError",
    "list_benchmarks",
    "load_benchmark",
    "register_benchmark",
    "resolve_cache_dir",
    "resolve_data_dir",
]
