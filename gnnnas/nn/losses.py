"""Ranking losses for accuracy predictors.

Scores only need the right *order*, so pairwise and listwise losses usually beat plain MSE at
few labels; they are combinable (``"mse+pairwise_logistic"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from gnnnas.params import weighted_terms

__all__ = ["RANKING_LOSSES", "listnet_loss", "mse_loss", "pairwise_hinge_loss", "pairwise_logistic_loss", "ranking_loss"]


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(pred, target)


def _pairs(pred: torch.Tensor, target: torch.Tensor):
    diff_t = target[:, None] - target[None, :]
    diff_p = pred[:, None] - pred[None, :]
    valid = diff_t > 0  # each unordered pair once, ties skipped
    return diff_p[valid], diff_t[valid]


def pairwise_logistic_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """RankNet: ``log(1 + exp(-(s_i - s_j)))`` over all pairs with ``y_i > y_j``."""
    dp, _ = _pairs(pred, target)
    if dp.numel() == 0:
        return pred.sum() * 0.0
    return F.softplus(-dp).mean()


def pairwise_hinge_loss(pred: torch.Tensor, target: torch.Tensor, margin: float = 0.1) -> torch.Tensor:
    """``max(0, margin - (s_i - s_j))`` over all pairs with ``y_i > y_j``."""
    dp, _ = _pairs(pred, target)
    if dp.numel() == 0:
        return pred.sum() * 0.0
    return F.relu(margin - dp).mean()


def listnet_loss(pred: torch.Tensor, target: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """ListNet top-one cross-entropy between softmax(target) and softmax(pred)."""
    p_true = torch.softmax(target / temperature, dim=0)
    return -(p_true * torch.log_softmax(pred / temperature, dim=0)).sum()


RANKING_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": mse_loss,
    "pairwise_logistic": pairwise_logistic_loss,
    "pairwise_hinge": pairwise_hinge_loss,
    "listnet": listnet_loss,
}


def parse_loss_spec(spec: str) -> list[tuple[str, float]]:
    """``"mse+0.5*pairwise_logistic"`` -> ``[("mse", 1.0), ("pairwise_logistic", 0.5)]``.

    A term is ``[weight*]name``. Weights must be finite and > 0: a negative weight trains a
    reversed ranker, NaN or infinity give NaN scores, and a zero weight is a term written by
    mistake (leave the term out instead).

    Raises:
        ValueError: ``spec`` is not a non-empty string, names an unknown loss or has a bad weight.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"loss spec must be a non-empty string like 'mse+0.5*pairwise_logistic', got {spec!r}")
    terms = []
    for weight, name in weighted_terms(spec.replace(" ", "")):
        if name not in RANKING_LOSSES:
            raise ValueError(f"unknown ranking loss {name!r} in {spec!r}; known: {sorted(RANKING_LOSSES)}")
        try:
            w = float(weight) if weight is not None else 1.0
        except ValueError:
            w = math.nan
        if not (math.isfinite(w) and w > 0):
            raise ValueError(f"bad weight {weight!r} in loss spec {spec!r}: weights must be finite numbers > 0")
        terms.append((name, w))
    return terms


def ranking_loss(spec: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A loss function for a spec such as ``"mse+pairwise_logistic"``.

    Raises:
        ValueError: a bad spec, as :func:`parse_loss_spec`.
    """
    terms = parse_loss_spec(spec)

    def loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(w * RANKING_LOSSES[name](pred, target) for name, w in terms)

    return loss
