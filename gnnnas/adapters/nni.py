"""Score NNI candidate models with a fitted gnnnas predictor instead of training them.

:class:`PredictorEvaluator` is an NNI 3 evaluator (a subclass of ``nni.nas.evaluator.Evaluator``
when NNI is installed: ``pip install gnnnas[nni]``): it turns a candidate into an architecture
with ``to_arch``, scores it and reports the score with ``nni.report_final_result``, like NNI's
own benchmark evaluators that look accuracies up instead of training. Like them it overrides
``_execute`` so NNI never instantiates the network. :func:`rank_candidates` is the strategy-side
helper: order many candidates by score, e.g. to train only the best few.

``nni.nas.evaluator`` imports PyTorch Lightning under NNI's default framework; when Lightning is
not installed, this module imports it with NNI's framework set to ``"none"`` for that one import
(``nni.nas.evaluator.Evaluator`` is framework independent).
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gnnnas.graph import ArchGraph
from gnnnas.predictor import Predictor

__all__ = ["HAVE_NNI", "NNI_NB201_OPS", "PredictorEvaluator", "nb201_from_nni", "rank_candidates"]


def _import_nni_evaluator() -> type | None:
    try:
        from nni.common import framework
    except ImportError:
        return None
    old = framework.get_default_framework()
    if old == "pytorch" and importlib.util.find_spec("pytorch_lightning") is None:
        framework.set_default_framework("none")
    try:
        from nni.nas.evaluator import Evaluator
    except ImportError:
        return None
    finally:
        framework.set_default_framework(old)
    return Evaluator


_NNIEvaluator = _import_nni_evaluator()
HAVE_NNI = _NNIEvaluator is not None
_Base: type = _NNIEvaluator if _NNIEvaluator is not None else object

#: NNI's NB201 op names (``nni.nas.benchmark.nasbench201.constants``) -> NB201 arch-string names.
NNI_NB201_OPS: dict[str, str] = {"none": "none", "skip_connect": "skip_connect", "conv_1x1": "nor_conv_1x1",
                                 "conv_3x3": "nor_conv_3x3", "avg_pool_3x3": "avg_pool_3x3"}
_EDGE_KEY = re.compile(r"(?:^|/)(\d)_(\d)$")


def nb201_from_nni(candidate: Any) -> str:
    """An NNI NB201 sample -> the NB201 arch string.

    ``candidate`` is a sample dict ``{"0_1": op, "0_2": op, "1_2": op, "0_3": op, "1_3": op,
    "2_3": op}`` (the labels of NNI's ``NasBench201Benchmark`` space, optionally behind a common
    scope such as ``"cell/0_1"``), or an object with such a ``.sample`` (NNI's
    ``ExecutableModelSpace``). Ops use NNI's names (``conv_3x3``) or NB201's (``nor_conv_3x3``).
    """
    sample = getattr(candidate, "sample", candidate)
    if not isinstance(sample, Mapping):
        kind = type(candidate).__name__
        raise ValueError(f"expected an NNI sample dict or a model with .sample, got {kind}")  # noqa: TRY004
    ops: dict[tuple[int, int], str] = {}
    for key, value in sample.items():
        match = _EDGE_KEY.search(str(key))
        if match is None:
            continue
        edge = (int(match.group(1)), int(match.group(2)))
        if str(value) not in NNI_NB201_OPS and str(value) not in NNI_NB201_OPS.values():
            raise ValueError(f"unknown NB201 op {value!r} at {key!r}; known: {sorted(NNI_NB201_OPS)}")
        ops[edge] = NNI_NB201_OPS.get(str(value), str(value))
    needed = [(i, j) for j in (1, 2, 3) for i in range(j)]
    missing = [f"{i}_{j}" for i, j in needed if (i, j) not in ops]
    if missing or len(ops) != 6:
        raise ValueError(f"an NNI NB201 sample needs the 6 edge labels i_j (i < j <= 3); missing {missing}")
    return "|" + "|+|".join("|".join(f"{ops[(i, j)]}~{i}" for i in range(j)) for j in (1, 2, 3)) + "|"


class PredictorEvaluator(_Base):  # type: ignore[misc, valid-type]
    """NNI evaluator whose metric is the predictor's score (higher = predicted better).

    Args:
        predictor: a fitted :class:`gnnnas.Predictor`.
        to_arch: candidate (NNI sample dict, ``ExecutableModelSpace``, model...) -> ArchGraph or
            native encoding of the predictor's space. Default :func:`nb201_from_nni`.
        report: call ``nni.report_final_result(score)`` (when NNI is installed).
    """

    def __init__(self, predictor: Predictor, to_arch: Callable[[Any], Any] = nb201_from_nni,
                 report: bool = True) -> None:
        if not hasattr(predictor, "predict"):
            raise ValueError(f"predictor must be a fitted gnnnas.Predictor, got {type(predictor).__name__}")
        if not callable(to_arch):
            raise ValueError("to_arch must be a callable: candidate -> ArchGraph or encoding")  # noqa: TRY004
        self.predictor = predictor
        self.to_arch = to_arch
        self.report = report

    def score(self, candidates: Sequence[Any]) -> list[float]:
        """Scores of many candidates in one predictor call (no reporting)."""
        archs = []
        for i, candidate in enumerate(candidates):
            arch = self.to_arch(candidate)
            if arch is None:
                raise ValueError(f"to_arch returned None for candidate {i}")
            archs.append(arch)
        return [float(s) for s in self.predictor.predict(archs)] if archs else []

    def evaluate(self, model: Any) -> float:
        """Score one candidate and report it to NNI as the trial's final result."""
        value = self.score([model])[0]
        if self.report and HAVE_NNI:
            import nni

            nni.report_final_result(value)
        return value

    def _execute(self, model: Any) -> float:
        # NNI calls this with the sampled ExecutableModelSpace; scoring needs no network.
        return self.evaluate(model)

    def extra_repr(self) -> str:
        to_arch = getattr(self.to_arch, "__name__", self.to_arch)
        return f"predictor={type(self.predictor).__name__}, to_arch={to_arch}"


def rank_candidates(predictor: Predictor, candidates: Sequence[Any],
                    to_arch: Callable[[Any], Any] = nb201_from_nni) -> list[tuple[Any, float]]:
    """``(candidate, score)`` pairs, best predicted first (one batched predictor call)."""
    if isinstance(candidates, (str, bytes, ArchGraph)) or not hasattr(candidates, "__len__"):
        raise ValueError("candidates must be a sequence")
    scores = PredictorEvaluator(predictor, to_arch, report=False).score(candidates)
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    return [(candidates[i], scores[i]) for i in order]
