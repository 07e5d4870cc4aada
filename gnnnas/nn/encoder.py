"""The GNN encoder of architecture graphs, built from torch-geometric convolutions.

Each layer is a conv of :mod:`gnnnas.nn.convs` (the two-direction GCN by default, or any PyG
conv behind the ``conv`` switch) over one :class:`~gnnnas.nn.graph_batch.GraphBatch` holding
every graph of the batch with typed edges (forward, backward, global -> node, node -> global).
Readouts use PyG's pooling (``global_mean_pool``, ``global_add_pool``) and the node embeddings
come back in the dense ``[B, N, hidden]`` layout (``to_dense_batch``) for the hypernetwork head.

For spaces whose graphs hold several cells stacked in a ``cell_sequence`` (DARTS), the
HyperNAS global encoding adds the pooled embedding of cell ``i-1`` to the inputs of cell ``i``
(``z(0) = 0``) and averages the cell embeddings; each pass runs on the subgraph of one cell
and the global nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch_geometric.nn import global_add_pool, global_mean_pool
from torch_geometric.utils import to_dense_batch

from gnnnas.nn.convs import GLOBAL_MODES, make_layer, relations
from gnnnas.nn.featurize import DenseGraphBatch
from gnnnas.nn.graph_batch import GraphBatch

__all__ = ["ArchEncoder"]


class ArchEncoder(nn.Module):
    """Embeds architectures: node embeddings ``[B, N, hidden]`` and a graph embedding ``[B, out]``.

    Args:
        in_dim: node feature size (``GraphFeaturizer.num_features``).
        hidden_dim: width of every layer.
        num_layers: message-passing depth.
        dropout: dropout between layers.
        conv: ``"gcn"`` (two-direction GCN, default) or another name of
            :data:`gnnnas.nn.convs.CONVS` (``gin``, ``gine``, ``gatv2``, ``transformer``,
            ``resgated``, ``graphconv``, ``sage``), a PyG conv class, or a callable
            ``(in_dim, out_dim) -> MessagePassing``.
        use_global_node: when False the global node neither sends nor receives messages
            (ablation: plain single-cell encoding).
        cell_context: HyperNAS cell-to-cell context for graphs with several cells.
        cell_sequence: macro order of the cells (e.g. ``(0, 0, 1, 0, 0, 1, 0, 0)``); needed for
            ``cell_context``.
        readout: ``"+"``-joined parts among ``global`` (the global node), ``mean`` and ``sum``
            (of the DAG nodes; ``sum`` keeps the graph size, which ``mean`` loses);
            ``"both"`` means ``"global+mean"``.
        global_mode: ``"branch"``, ``"edges"`` or ``"readout"`` (:func:`gnnnas.nn.convs.relations`).

    Raises:
        ValueError: an unknown ``conv``, ``readout`` or ``global_mode``.
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int = 128,
        num_layers: int = 4,
        dropout: float = 0.0,
        conv: str | Callable = "gcn",
        use_global_node: bool = True,
        cell_context: bool = True,
        cell_sequence: Sequence[int] | None = None,
        readout: str = "both",
        global_mode: str = "branch",
    ) -> None:
        super().__init__()
        if global_mode not in GLOBAL_MODES:
            raise ValueError(f"global_mode must be 'branch', 'edges' or 'readout', got {global_mode!r}")
        self.global_mode = global_mode
        parts = ["global", "mean"] if readout == "both" else readout.split("+")
        if not parts or any(p not in ("global", "mean", "sum") for p in parts) or len(set(parts)) != len(parts):
            raise ValueError(f"readout must join 'global', 'mean' and 'sum' with '+' (or be 'both'), got {readout!r}")
        if "global" in parts and not use_global_node:
            raise ValueError("readout='global' needs use_global_node=True")
        self.readout_parts = tuple(parts)
        rel = relations(use_global_node, global_mode)
        self.input = nn.Linear(in_dim, hidden_dim)
        self.layers = nn.ModuleList(make_layer(conv, hidden_dim, hidden_dim, rel) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.conv = conv
        self.use_global_node = use_global_node
        self.cell_context = cell_context
        self.cell_sequence = tuple(cell_sequence) if cell_sequence else None
        self.context = nn.Linear(hidden_dim, hidden_dim) if cell_context else None
        self.readout = readout
        self.hidden_dim = hidden_dim
        self.out_dim = hidden_dim * len(parts)

    def _propagate(self, h: torch.Tensor, graph: GraphBatch) -> torch.Tensor:
        for layer in self.layers:
            h = self.dropout(layer(h, graph))
        return h

    # ------------------------------------------------------------------ forward
    def forward(self, batch: DenseGraphBatch | GraphBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(node_embeddings [B, N, hidden], graph_embedding [B, out_dim])``.

        ``batch``: a padded :class:`DenseGraphBatch` (converted here) or a :class:`GraphBatch`;
        ``N`` is the batch's largest graph, global node included, rows in the dense order.
        """
        graph = batch if isinstance(batch, GraphBatch) else GraphBatch.from_dense(batch)
        h0 = torch.relu(self.input(graph.x))
        dag = ~graph.is_global
        cells = sorted(set(self.cell_sequence)) if self.cell_sequence else []
        if self.cell_context and self.cell_sequence and len(cells) > 1:
            h, pooled = self._encode_cell_sequence(h0, graph)
        else:
            h = self._propagate(h0, graph)
            pooled = global_mean_pool(h[dag], graph.batch[dag], size=graph.num_graphs)
        parts = []
        for part in self.readout_parts:
            if part == "global":
                parts.append(h[graph.is_global])
            elif part == "mean":
                parts.append(pooled)
            else:
                parts.append(global_add_pool(h[dag], graph.batch[dag], size=graph.num_graphs))
        nodes, _ = to_dense_batch(h, graph.batch, batch_size=graph.num_graphs, max_num_nodes=graph.max_nodes)
        return nodes, torch.cat(parts, -1)

    def _encode_cell_sequence(self, h0: torch.Tensor, graph: GraphBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """HyperNAS global encoding: run the cells in macro order, each seeing the previous one.

        Each pass runs on the subgraph of one cell's nodes plus the global nodes, so the eight
        DARTS passes cost about as much as two passes over the full graph.
        """
        assert self.context is not None and self.cell_sequence is not None
        b = graph.num_graphs
        subs = {}
        for c in sorted(set(self.cell_sequence)):
            member = (graph.cell == c) | graph.is_global
            sub = graph.subgraph(member)
            subs[c] = (member, sub, ~sub.is_global)
        z = h0.new_zeros(b, h0.shape[-1])
        pooled_cells, last_h = [], {}
        for c in self.cell_sequence:
            member, sub, dag = subs[c]
            h_sub = h0[member] + self.context(z)[sub.batch] * dag[:, None].to(h0.dtype)
            h_sub = self._propagate(h_sub, sub)
            z = global_mean_pool(h_sub[dag], sub.batch[dag], size=b)
            pooled_cells.append(z)
            last_h[c] = h_sub
        # node embeddings: each cell's nodes from its last pass; global nodes averaged over cells
        h_out = torch.zeros_like(h0)
        for c, h_sub in last_h.items():
            member, sub, dag = subs[c]
            h_out = h_out.index_copy(0, member.nonzero().squeeze(1)[dag], h_sub[dag])
        glob = torch.stack([h_sub[subs[c][1].is_global] for c, h_sub in last_h.items()]).mean(0)
        h_out = h_out.index_copy(0, graph.is_global.nonzero().squeeze(1), glob)
        return h_out, torch.stack(pooled_cells).mean(0)
