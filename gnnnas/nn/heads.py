"""Heads on top of the shared encoder."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["RankingHead"]


class RankingHead(nn.Module):
    """MLP from the graph embedding to one score per architecture."""

    def __init__(self, in_dim: int, hidden_dim: int = 128, dropout: float = 0.0) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, 1)
        )

    def forward(self, graph_embedding: torch.Tensor) -> torch.Tensor:
        return self.mlp(graph_embedding).squeeze(-1)
