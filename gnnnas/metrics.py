"""Ranking metrics for accuracy predictors (higher label = better architecture)."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["kendall_tau", "n_at_k", "precision_at_k", "spearman", "top_k_overlap"]


def _check(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values, y_pred {p.size}")
    if t.size < 2:
        raise ValueError("ranking metrics need at least 2 values")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(p))):
        raise ValueError("y_true and y_pred must be finite")
    return t, p


def kendall_tau(y_true, y_pred) -> float:
    """Kendall tau-b (ties handled as in ``scipy.stats.kendalltau``)."""
    t, p = _check(y_true, y_pred)
    return float(stats.kendalltau(t, p).statistic)


def spearman(y_true, y_pred) -> float:
    """Spearman rank correlation."""
    t, p = _check(y_true, y_pred)
    return float(stats.spearmanr(t, p).statistic)


def _k(n: int, k: float) -> int:
    if isinstance(k, float) and 0 < k < 1:
        k = int(round(k * n))
    k = int(k)
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}] (or a fraction in (0, 1)), got {k}")
    return k


def precision_at_k(y_true, y_pred, k: float = 0.05) -> float:
    """Fraction of the predicted top-k that is in the true top-k (``k`` a count or a fraction)."""
    t, p = _check(y_true, y_pred)
    k = _k(t.size, k)
    true_top = set(np.argsort(-t, kind="stable")[:k].tolist())
    pred_top = np.argsort(-p, kind="stable")[:k]
    return float(np.mean([i in true_top for i in pred_top]))


top_k_overlap = precision_at_k


def n_at_k(y_true, y_pred, k: int = 10) -> int:
    """N@K: best true rank (1 = the best architecture) among the predicted top-k."""
    t, p = _check(y_true, y_pred)
    k = _k(t.size, k)
    true_rank = np.empty(t.size, dtype=np.int64)
    true_rank[np.argsort(-t, kind="stable")] = np.arange(1, t.size + 1)
    return int(true_rank[np.argsort(-p, kind="stable")[:k]].min())
