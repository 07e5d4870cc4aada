"""A gnnnas predictor as an Archai surrogate (``archai.discrete_search.api.predictor.Predictor``).

Archai's searchers (e.g. MO-BANANAS) call ``fit(encoded_archs, y)`` and ``predict(encoded_archs)
-> MeanVar(mean, var)`` on fixed-width arrays that the search space's ``encode`` writes. Make
that ``encode`` return :meth:`ArrayEncoding.encode` rows, and this predictor decodes them back to
the exact graphs. With Archai installed (``pip install gnnnas[archai]``) the class subclasses
Archai's ``Predictor`` and ``MeanVar`` is Archai's; without it, a stand-in base with the same
methods and a ``MeanVar`` named tuple with the same fields are used (:data:`HAVE_ARCHAI` says
which).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, NamedTuple

import numpy as np
from sklearn.base import clone

from gnnnas.adapters.encoding import ArrayEncoding
from gnnnas.predictor import Predictor
from gnnnas.spaces.base import SearchSpace

__all__ = ["HAVE_ARCHAI", "ArchaiPredictor", "MeanVar"]

try:
    from archai.discrete_search.api.predictor import MeanVar
    from archai.discrete_search.api.predictor import Predictor as _ArchaiBase
    from overrides import overrides as _overrides

    HAVE_ARCHAI = True
except ImportError:
    HAVE_ARCHAI = False

    class MeanVar(NamedTuple):  # type: ignore[no-redef]
        """Predictive mean and variance, ``[N, #targets]`` each (Archai's fields)."""

        mean: np.ndarray
        var: np.ndarray

    class _ArchaiBase(ABC):  # type: ignore[no-redef]
        """Archai's ``Predictor`` interface, for when Archai is not installed."""

        @abstractmethod
        def fit(self, encoded_archs: np.ndarray, y: np.ndarray) -> None: ...

        @abstractmethod
        def predict(self, encoded_archs: np.ndarray) -> MeanVar: ...

    def _overrides(method):  # type: ignore[no-redef]
        return method


class ArchaiPredictor(_ArchaiBase):
    """Archai ``Predictor``: an ensemble of gnnnas predictors, one per target column.

    Args:
        space: gnnnas space name or :class:`~gnnnas.SearchSpace` of the architectures.
        encoding: the :class:`ArrayEncoding` the search space encodes with (default: the space's
            default encoding).
        **params: :class:`gnnnas.Predictor` hyperparameters. Default ``n_members=5,
            bootstrap=True``: ``var`` is the spread of 5 bagged members (5x the fit time of one),
            which Archai's Thompson sampling needs; ``n_members=1`` gives ``var = 0``.

    ``mean`` is the members' average score, which follows the target's order and is scaled like
    the target (its mean and spread), not a calibrated value; ``var`` is the members' variance.
    """

    def __init__(self, space: str | SearchSpace = "nb201", encoding: ArrayEncoding | None = None,
                 **params: Any) -> None:
        self.encoding = encoding if encoding is not None else ArrayEncoding(space)
        if not isinstance(self.encoding, ArrayEncoding):
            kind = type(self.encoding).__name__
            raise ValueError(f"encoding must be an ArrayEncoding, got {kind}")  # noqa: TRY004
        self.params = {"n_members": 5, "bootstrap": True, **params}
        self.template = Predictor(space=self.encoding.space, **self.params)
        self.models_: list[Predictor] = []

    @_overrides
    def fit(self, encoded_archs: np.ndarray, y: np.ndarray) -> None:
        """Train one predictor per column of ``y`` (``[N]`` or ``[N, #targets]``)."""
        archs = self.encoding.decode(_as_2d(encoded_archs, "encoded_archs"))
        y = np.asarray(y, dtype=np.float64)
        y = y[:, None] if y.ndim == 1 else y
        if y.ndim != 2 or len(y) != len(archs):
            raise ValueError(
                f"y must be [N] or [N, #targets] with N = {len(archs)} archs, got shape {list(y.shape)}"
            )
        if not np.all(np.isfinite(y)):
            raise ValueError("y must be finite")
        self.models_ = [clone(self.template).fit(archs, column) for column in y.T]

    @_overrides
    def predict(self, encoded_archs: np.ndarray) -> MeanVar:
        """``MeanVar(mean, var)``, each ``[N, #targets]``."""
        if not self.models_:
            raise ValueError("this ArchaiPredictor is not fitted yet; call fit(encoded_archs, y) first")
        archs = self.encoding.decode(_as_2d(encoded_archs, "encoded_archs"))
        means, variances = [], []
        for model in self.models_:
            mean, std = model.predict(archs, return_std=True)
            means.append(np.asarray(mean, dtype=np.float64))
            variances.append(np.asarray(std, dtype=np.float64) ** 2)
        return MeanVar(np.stack(means, axis=1), np.stack(variances, axis=1))


def _as_2d(array: Any, name: str) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [N, features], got shape {list(array.shape)}")
    return array
