"""The predictor network: shared encoder + ranking head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gnnnas.nn.encoder import ArchEncoder
from gnnnas.nn.featurize import DenseGraphBatch
from gnnnas.nn.heads import RankingHead

__all__ = ["RankingModel"]


class RankingModel(nn.Module):
    """Encoder + ranking head; ``forward`` returns one score per graph."""

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int = 128,
        num_layers: int = 4,
        dropout: float = 0.0,
        aggr: str = "mean",
        use_global_node: bool = True,
        cell_context: bool = True,
        cell_sequence: Sequence[int] | None = None,
        readout: str = "both",
        global_mode: str = "branch",
    ) -> None:
        super().__init__()
        self.encoder = ArchEncoder(
            in_dim,
            hidden_dim=hidden_dim,
            num_layers=num_layers,
            dropout=dropout,
            aggr=aggr,
            use_global_node=use_global_node,
            cell_context=cell_context,
            cell_sequence=cell_sequence,
            readout=readout,
            global_mode=global_mode,
        )
        self.head = RankingHead(self.encoder.out_dim, hidden_dim, dropout)

    def forward(self, batch: DenseGraphBatch) -> torch.Tensor:
        _, graph_embedding = self.encoder(batch)
        return self.head(graph_embedding)
