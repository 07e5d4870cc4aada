"""gnnnas: predict how good a neural architecture is before training it."""

from gnnnas import metrics
from gnnnas.data import Benchmark, MissingDataError, list_benchmarks, load_benchmark, register_benchmark
from gnnnas.graph import ArchGraph, OpVocabulary
from gnnnas.predictor import CheckpointError, Predictor
from gnnnas.spaces import SearchSpace, get_space, list_spaces, register_space

__version__ = "0.1.0"

__all__ = [
    "ArchGraph",
    "Benchmark",
    "CheckpointError",
    "MissingDataError",
    "OpVocabulary",
    "Predictor",
    "SearchSpace",
    "__version__",
    "get_space",
    "list_benchmarks",
    "list_spaces",
    "load_benchmark",
    "metrics",
    "register_benchmark",
    "register_space",
]
