"""The predictor network: shared encoder + ranking head."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gnnnas.nn.encoder import ArchEncoder
from gnnnas.nn.featurize import DenseGraphBatch
from gnnnas.nn.heads import RankingHead

__all__ = ["RankingModel"]


class RankingModel(nn.Module):
    """Encoder + ranking head; ``forward`` returns one score per graph.

    ``encoder_options`` go to :class:`~gnnnas.nn.encoder.ArchEncoder` (layers, aggregation,
    global node, cell context, readout).
    """

    def __init__(self, in_dim: int, hidden_dim: int = 128, dropout: float = 0.0, **encoder_options: Any) -> None:
        super().__init__()
        self.encoder = ArchEncoder(in_dim, hidden_dim=hidden_dim, dropout=dropout, **encoder_options)
        self.head = RankingHead(self.encoder.out_dim, hidden_dim, dropout)

    def forward(self, batch: DenseGraphBatch) -> torch.Tensor:
        _, graph_embedding = self.encoder(batch)
        return self.head(graph_embedding)
