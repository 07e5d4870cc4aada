"""Adapters to other NAS libraries: NASLib, Archai, NNI (optional extras, imported lazily).

``import gnnnas.adapters`` imports none of those packages; each name below loads its module on
first use, and only the module of that library imports it (and only where it must).

* :class:`ArrayEncoding` - lossless fixed-width arrays of ArchGraphs (``gnnnas.adapters.encoding``).
* :class:`NASLibPredictor` - NASLib's predictor interface, ``fit`` / ``query`` (``.naslib``).
* :class:`ArchaiPredictor`, :class:`MeanVar` - Archai's ``Predictor``, ``fit`` / ``predict`` (``.archai``).
* :class:`PredictorEvaluator`, :func:`rank_candidates`, :func:`nb201_from_nni` - an NNI evaluator
  that scores sampled models with a predictor (``.nni``).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ArchaiPredictor", "ArrayEncoding", "MeanVar", "NASLibPredictor", "PredictorEvaluator",
           "nb201_from_nni", "rank_candidates"]

_WHERE = {
    "ArrayEncoding": "encoding",
    "NASLibPredictor": "naslib",
    "ArchaiPredictor": "archai",
    "MeanVar": "archai",
    "PredictorEvaluator": "nni",
    "nb201_from_nni": "nni",
    "rank_candidates": "nni",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'gnnnas.adapters' has no attribute {name!r}")
    module = importlib.import_module(f"gnnnas.adapters.{_WHERE[name]}")
    return getattr(module, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
