"""Weighting of the two training tasks (ranking, hypernetwork) into one loss.

- ``"dynamic"``: HyperNAS's dynamic adaptive multi-task loss, learnable ``u_t`` per task and a
  preference exponent ``q``: ``L = sum_t L_t^(q-1) / (2 u_t^2) * L_t + ln(1 + u_t^2)``. The
  formula is second-hand (see DESIGN.md); with ``q = 1`` it is uncertainty weighting with
  ``ln(1 + u^2)`` as the regulariser. ``L_t^(q-1)`` is treated as a weight (no gradient through
  it), so a task's weight grows with its loss when ``q > 1`` without the loss being raised to a
  power.
- ``"uncertainty"``: Kendall, Gal & Cipolla (2018): ``sum_t exp(-s_t) L_t + s_t``.
- ``"fixed"``: ``sum_t w_t L_t`` with given weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["TASK_WEIGHTINGS", "TaskWeighting"]

TASK_WEIGHTINGS = ("dynamic", "uncertainty", "fixed")


class TaskWeighting(nn.Module):
    """Combines per-task losses into one scalar; its parameters train with the model.

    Args:
        mode: one of :data:`TASK_WEIGHTINGS`.
        num_tasks: number of losses combined.
        preference: ``q`` of the dynamic loss (reported best 1.5).
        weights: fixed weights (mode ``"fixed"``), one per task; default all 1.
    """

    def __init__(self, mode: str = "dynamic", num_tasks: int = 2, preference: float = 1.5,
                 weights: Sequence[float] | None = None) -> None:
        super().__init__()
        if mode not in TASK_WEIGHTINGS:
            raise ValueError(f"task weighting must be one of {TASK_WEIGHTINGS}, got {mode!r}")
        if preference <= 0:
            raise ValueError(f"preference q must be > 0, got {preference!r}")
        self.mode = mode
        self.preference = float(preference)
        fixed = [1.0] * num_tasks if weights is None else [float(w) for w in weights]
        if len(fixed) != num_tasks or any(w < 0 for w in fixed):
            raise ValueError(f"need {num_tasks} non-negative task weights, got {weights!r}")
        self.register_buffer("fixed", torch.tensor(fixed))
        # dynamic: u_t starts at 1/sqrt(2) so every weight 1/(2u^2) starts at 1; uncertainty: s_t = 0
        init = 2 ** -0.5 if mode == "dynamic" else 0.0
        self.log_param = nn.Parameter(torch.full((num_tasks,), float(init)), requires_grad=mode != "fixed")

    def task_weights(self, losses: torch.Tensor | None = None) -> torch.Tensor:
        """Current effective weight of each task (for logging and tests)."""
        if self.mode == "fixed":
            return self.fixed.clone()
        if self.mode == "uncertainty":
            return torch.exp(-self.log_param.detach())
        u2 = self.log_param.detach() ** 2
        w = 1.0 / (2.0 * u2.clamp(min=1e-6))
        if losses is not None:
            w = w * losses.detach().clamp(min=1e-6) ** (self.preference - 1.0)
        return w

    def forward(self, losses: Sequence[torch.Tensor]) -> torch.Tensor:
        stacked = torch.stack(list(losses))
        if self.mode == "fixed":
            return (self.fixed.to(stacked) * stacked).sum()
        if self.mode == "uncertainty":
            s = self.log_param
            return (torch.exp(-s) * stacked + s).sum()
        u2 = (self.log_param**2).clamp(min=1e-6)
        pref = stacked.detach().clamp(min=1e-6) ** (self.preference - 1.0)
        return (pref / (2.0 * u2) * stacked + torch.log1p(u2)).sum()
