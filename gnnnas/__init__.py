"""gnnnas: predict how good a neural architecture is before training it.

The public names below are imported on first use (PEP 562), so ``import gnnnas`` and
``gnnnas --help`` do not load torch; ``gnnnas.Predictor`` and friends behave as plain attributes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> the module that defines it
_LAZY: dict[str, str] = {
    "ArchGraph": "gnnnas.graph",
    "OpVocabulary": "gnnnas.graph",
    "Benchmark": "gnnnas.data",
    "MissingDataError": "gnnnas.data",
    "list_benchmarks": "gnnnas.data",
    "load_benchmark": "gnnnas.data",
    "register_benchmark": "gnnnas.data",
    "CheckpointError": "gnnnas.predictor",
    "Predictor": "gnnnas.predictor",
    "SearchSpace": "gnnnas.spaces",
    "get_space": "gnnnas.spaces",
    "list_spaces": "gnnnas.spaces",
    "register_space": "gnnnas.spaces",
}
_SUBMODULES = ("metrics",)

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

if TYPE_CHECKING:  # what type checkers and IDEs see
    from gnnnas import metrics
    from gnnnas.data import Benchmark, MissingDataError, list_benchmarks, load_benchmark, register_benchmark
    from gnnnas.graph import ArchGraph, OpVocabulary
    from gnnnas.predictor import CheckpointError, Predictor
    from gnnnas.spaces import SearchSpace, get_space, list_spaces, register_space


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"gnnnas.{name}")
    if name not in _LAZY:
        raise AttributeError(f"module 'gnnnas' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(__all__) | {name for name in globals() if name.startswith("__")})
