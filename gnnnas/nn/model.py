"""The predictor network: shared encoder + ranking head (+ optional hypernetwork head)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gnnnas.nn.encoder import ArchEncoder
from gnnnas.nn.executors.base import NetworkExecutor
from gnnnas.nn.featurize import DenseGraphBatch
from gnnnas.nn.heads import RankingHead
from gnnnas.nn.hypernet import HyperNetworkHead

__all__ = ["RankingModel"]


class RankingModel(nn.Module):
    """Encoder + ranking head; ``forward`` returns one score per graph.

    With an ``executor``, a :class:`~gnnnas.nn.hypernet.HyperNetworkHead` reads the same node
    embeddings and emits every operation's weights; :meth:`proxy_logits` runs the generated
    networks on images (the auxiliary task and the zero-finetune evaluator).

    ``encoder_options`` go to :class:`~gnnnas.nn.encoder.ArchEncoder` (layers, aggregation,
    global node, cell context, readout).
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int = 128,
        dropout: float = 0.0,
        executor: NetworkExecutor | None = None,
        **encoder_options: Any,
    ) -> None:
        super().__init__()
        self.encoder = ArchEncoder(in_dim, hidden_dim=hidden_dim, dropout=dropout, **encoder_options)
        self.head = RankingHead(self.encoder.out_dim, hidden_dim, dropout)
        self.executor = executor
        self.hyper = HyperNetworkHead(hidden_dim, executor.weight_specs(), hidden_dim) if executor is not None else None

    def forward(self, batch: DenseGraphBatch) -> torch.Tensor:
        _, graph_embedding = self.encoder(batch)
        return self.head(graph_embedding)

    def proxy_logits(self, batch: DenseGraphBatch, images: torch.Tensor) -> torch.Tensor:
        """Logits ``[archs, images, classes]`` of each architecture's generated network."""
        if self.executor is None or self.hyper is None:
            raise ValueError("this model has no hypernetwork head (fit with hypernetwork=True)")
        node_embeddings, _ = self.encoder(batch)
        return self.executor(batch, self.hyper(node_embeddings), self.hyper.unpack, images)
