"""Baseline predictors reported next to ours, on the same splits.

- :func:`onehot_encoding`: a fixed-width vector per architecture (one-hot op of every node
  position + the flattened adjacency + node features + macro features), the classic input of
  tree-based predictors.
- :class:`SklearnPredictor`: any scikit-learn regressor on that encoding (random forest and
  gradient boosting are the standard baselines).
- :func:`np_gcn`: the neural-predictor GCN of Wen et al. - no global node, no cell context, raw
  (unpruned) graphs, MSE on standardised labels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor

from gnnnas.graph import ArchGraph
from gnnnas.spaces.base import SearchSpace
from gnnnas.spaces.registry import get_space

__all__ = ["SklearnPredictor", "gradient_boosting", "np_gcn", "onehot_encoding", "random_forest"]


def onehot_encoding(
    archs: Sequence[ArchGraph], num_nodes: int | None = None, include_macro: bool = False
) -> np.ndarray:
    """``[n, d]`` fixed-width encoding: per node position the op one-hot and node features, the
    upper-triangular adjacency, then (``include_macro``) the macro features. Graphs are padded to
    ``num_nodes`` (default: the largest in ``archs``; a space may declare ``max_nodes``)."""
    if not archs:
        return np.zeros((0, 0))
    vocab = archs[0].vocab
    labels = len(vocab.labels)
    n_max = num_nodes or max(a.num_nodes for a in archs)
    k = 0 if archs[0].node_features is None else archs[0].node_features.shape[1]
    macro_names = sorted(archs[0].macro)
    iu = np.triu_indices(n_max, k=1)
    rows = []
    for arch in archs:
        if arch.num_nodes > n_max:
            raise ValueError(f"arch has {arch.num_nodes} nodes, more than num_nodes={n_max}")
        ops = np.zeros((n_max, labels + 1), dtype=np.float32)
        ops[np.arange(n_max), labels] = 1.0  # padding marker
        idx = [vocab.index(op) for op in arch.ops]
        ops[np.arange(arch.num_nodes), labels] = 0.0
        ops[np.arange(arch.num_nodes), idx] = 1.0
        adj = np.zeros((n_max, n_max), dtype=np.float32)
        adj[: arch.num_nodes, : arch.num_nodes] = arch.adjacency()
        parts = [ops.ravel(), adj[iu]]
        if k:
            feats = np.zeros((n_max, k), dtype=np.float32)
            feats[: arch.num_nodes] = arch.node_features
            parts.append(feats.ravel())
        if include_macro:
            parts.append(arch.macro_vector(macro_names))
        rows.append(np.concatenate(parts))
    return np.stack(rows)


class SklearnPredictor(BaseEstimator):
    """A scikit-learn regressor on :func:`onehot_encoding` of the (unpruned) graphs."""

    def __init__(
        self, estimator: Any = None, space: str | SearchSpace = "nb201", include_macro: bool = False
    ) -> None:
        self.estimator = estimator
        self.space = space
        self.include_macro = include_macro

    def _graphs(self, archs) -> list[ArchGraph]:
        space = get_space(self.space) if isinstance(self.space, str) else self.space
        return [a if isinstance(a, ArchGraph) else space.parse(a) for a in archs]

    def fit(self, archs, y) -> SklearnPredictor:
        graphs = self._graphs(archs)
        y = np.asarray(y, dtype=float)
        if len(graphs) != len(y):
            raise ValueError(f"got {len(graphs)} archs but {len(y)} labels")
        space = get_space(self.space) if isinstance(self.space, str) else self.space
        self.num_nodes_ = max([a.num_nodes for a in graphs] + [space.max_nodes or 0])
        self.estimator_ = clone(self.estimator if self.estimator is not None else RandomForestRegressor())
        n_jobs = getattr(self.estimator_, "n_jobs", None)  # joblib's rule: None is 1, -1 every CPU
        self.threads_used_ = 1 if n_jobs is None else n_jobs if n_jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + n_jobs)
        self.estimator_.fit(onehot_encoding(graphs, self.num_nodes_, self.include_macro), y)
        return self

    def predict(self, archs) -> np.ndarray:
        graphs = self._graphs(archs)
        return np.asarray(self.estimator_.predict(onehot_encoding(graphs, self.num_nodes_, self.include_macro)), dtype=float)


def random_forest(space: str, seed: int, include_macro: bool = False) -> SklearnPredictor:
    return SklearnPredictor(
        RandomForestRegressor(n_estimators=200, random_state=seed, n_jobs=1), space=space, include_macro=include_macro
    )


def gradient_boosting(space: str, seed: int) -> SklearnPredictor:
    return SklearnPredictor(
        GradientBoostingRegressor(n_estimators=300, max_depth=3, learning_rate=0.05, subsample=0.8, random_state=seed),
        space=space,
    )


def np_gcn(space: str, seed: int, **overrides):
    """Wen et al.'s neural predictor: two-direction GCN, no global node, raw graphs, MSE."""
    from gnnnas.predictor import Predictor

    params = dict(
        space=space,
        use_global_node=False,
        cell_context=False,
        readout="mean",
        prune=False,
        contract_identities=False,
        loss="mse",
        label_transform="standard",
        pretrained=None,  # Wen et al. train from scratch
        seed=seed,
    )
    params.update(overrides)
    return Predictor(**params)
