"""Frozen reference: the dense encoder gnnnas used before its port to torch-geometric (issue 16).

Kept verbatim (test-only) so that ``tests/nn/test_encoder_port.py`` can show the PyG encoder with
``conv="gcn"`` computes the same function, and ``benchmarks/encoder_speed.py`` can time both in
one run. Not part of the package.

Original docstring: GNN encoders of architecture graphs (dense message passing over a dense batch).

The backbone is the two-direction GCN of the neural predictor (Wen et al., 2020):
``h' = mean(ReLU(A_fwd h W_fwd), ReLU(A_bwd h W_bwd), ReLU(G h W_glob))``, where ``A_fwd``
averages a node and its predecessors, ``A_bwd`` a node and its successors, and ``G`` links the
**global macro node** (row 0) with every DAG node: DAG nodes read the global node, the global
node reads the mean of all DAG nodes. Variants swap the aggregation for GIN-style sums.

For spaces whose graphs hold several cells stacked in a ``cell_sequence`` (DARTS), the
HyperNAS global encoding adds the pooled embedding of cell ``i-1`` to the inputs of cell ``i``
(``z(0) = 0``) and averages the cell embeddings.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gnnnas.nn.featurize import DenseGraphBatch, pack_members

__all__ = ["AGGREGATIONS", "DenseArchEncoder", "DirectedGCNLayer"]

#: Neighbourhood aggregations of :class:`DirectedGCNLayer`.
AGGREGATIONS = ("mean", "sum", "attention")


def _normalise(adj: torch.Tensor) -> torch.Tensor:
    """Row-normalise ``adj`` plus self-loops: each node averages itself and its neighbours."""
    eye = torch.eye(adj.shape[-1], dtype=adj.dtype, device=adj.device)
    a = adj + eye
    return a / a.sum(-1, keepdim=True)


class DirectedGCNLayer(nn.Module):
    """One two-direction GCN layer with an optional global-node branch.

    ``relu(A_fwd h W_fwd) + relu(A_bwd h W_bwd)`` (+ ``relu(G h W_glob)``), averaged. The
    products are computed as ``A (h W)`` with one fused weight matrix, which is the same result
    as ``(A h) W`` and cheaper for wide batches of small graphs.

    Args:
        in_dim, out_dim: feature sizes.
        aggr: ``"mean"`` (GCN-style normalised averages), ``"sum"`` (GIN-style sums) or
            ``"attention"`` (GAT-style: a node weighs itself and its neighbours by a learned,
            softmax-normalised score of the pair, one head per direction).
    """

    def __init__(self, in_dim: int, out_dim: int, aggr: str = "mean") -> None:
        super().__init__()
        if aggr not in AGGREGATIONS:
            raise ValueError(f"aggr must be one of {AGGREGATIONS}, got {aggr!r}")
        self.aggr = aggr
        self.out_dim = out_dim
        self.lin = nn.Linear(in_dim, 2 * out_dim)  # forward | backward
        self.glob = nn.Linear(in_dim, out_dim)
        if aggr == "attention":
            # [direction, (target, source), out_dim] attention vectors, as in GAT
            self.att = nn.Parameter(torch.randn(2, 2, out_dim) * out_dim**-0.5)

    @staticmethod
    def _attend(hw: torch.Tensor, mask: torch.Tensor, att: torch.Tensor) -> torch.Tensor:
        """GAT aggregation of ``hw [B, N, D]`` over ``mask[b, i, j] > 0`` (i attends to j)."""
        scores = (hw @ att[0])[:, :, None] + (hw @ att[1])[:, None, :]
        scores = torch.nn.functional.leaky_relu(scores, 0.2).masked_fill(mask <= 0, -1e9)
        return torch.softmax(scores, -1) @ hw

    def forward(
        self, h: torch.Tensor, a_fwd: torch.Tensor, a_bwd: torch.Tensor, g: torch.Tensor | None
    ) -> torch.Tensor:
        hw = h @ self.lin.weight.t()
        d = self.out_dim
        bias_f, bias_b = self.lin.bias[:d], self.lin.bias[d:]
        if self.aggr == "attention":
            fwd = self._attend(hw[..., :d], a_fwd, self.att[0])
            bwd = self._attend(hw[..., d:], a_bwd, self.att[1])
        else:
            fwd, bwd = a_fwd @ hw[..., :d], a_bwd @ hw[..., d:]
        out = torch.relu(fwd + bias_f) + torch.relu(bwd + bias_b)
        if g is None:
            return out / 2.0
        # G has two kinds of rows: DAG nodes read the global node (row 0), the global node reads
        # a weighted mean of the DAG nodes. Transform those two vectors only.
        read_global = h[:, :1]
        global_reads = g[:, :1] @ h
        gw = torch.relu(self.glob(torch.cat([read_global, global_reads], 1)))
        to_dag = g[:, 1:, :1]  # 1 where a DAG node reads the global node
        out_g = torch.cat([gw[:, 1:2], to_dag * gw[:, :1] + (1 - to_dag) * torch.relu(self.glob.bias)], 1)
        return (out + out_g) / 3.0


class DenseArchEncoder(nn.Module):
    """Embeds architectures: node embeddings ``[B, N, hidden]`` and a graph embedding ``[B, out]``.

    Args:
        in_dim: node feature size (``GraphFeaturizer.num_features``).
        hidden_dim: width of every layer.
        num_layers: message-passing depth.
        dropout: dropout between layers.
        aggr: ``"mean"`` (GCN), ``"sum"`` (GIN) or ``"attention"`` (GAT) neighbourhood aggregation.
        use_global_node: when False the global node neither sends nor receives messages
            (ablation: plain single-cell encoding).
        cell_context: HyperNAS cell-to-cell context for graphs with several cells.
        cell_sequence: macro order of the cells (e.g. ``(0, 0, 1, 0, 0, 1, 0, 0)``); needed for
            ``cell_context``.
        readout: ``"+"``-joined parts among ``global`` (the global node), ``mean`` and ``sum``
            (of the DAG nodes; ``sum`` keeps the graph size, which ``mean`` loses);
            ``"both"`` means ``"global+mean"``.
    """

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
        if global_mode not in ("branch", "edges", "readout"):
            raise ValueError(f"global_mode must be 'branch', 'edges' or 'readout', got {global_mode!r}")
        self.global_mode = global_mode
        parts = ["global", "mean"] if readout == "both" else readout.split("+")
        if not parts or any(p not in ("global", "mean", "sum") for p in parts) or len(set(parts)) != len(parts):
            raise ValueError(f"readout must join 'global', 'mean' and 'sum' with '+' (or be 'both'), got {readout!r}")
        if "global" in parts and not use_global_node:
            raise ValueError("readout='global' needs use_global_node=True")
        self.readout_parts = tuple(parts)
        self.input = nn.Linear(in_dim, hidden_dim)
        self.layers = nn.ModuleList(DirectedGCNLayer(hidden_dim, hidden_dim, aggr) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)
        self.aggr = aggr
        self.use_global_node = use_global_node
        self.cell_context = cell_context
        self.cell_sequence = tuple(cell_sequence) if cell_sequence else None
        self.context = nn.Linear(hidden_dim, hidden_dim) if cell_context else None
        self.readout = readout
        self.hidden_dim = hidden_dim
        self.out_dim = hidden_dim * len(parts)

    # ------------------------------------------------------------------ helpers
    def _operators(self, adj: torch.Tensor, mask: torch.Tensor):
        m = mask.to(adj.dtype)
        if self.aggr == "mean":
            a_fwd = _normalise(adj.transpose(1, 2))
            a_bwd = _normalise(adj)
        else:  # sums (GIN) and attention masks (GAT) both start from A + I
            eye = torch.eye(adj.shape[-1], dtype=adj.dtype, device=adj.device)
            a_fwd = adj.transpose(1, 2) + eye
            a_bwd = adj + eye
        g = torch.zeros_like(adj)
        if self.use_global_node and self.global_mode in ("branch", "readout"):
            dag = m.clone()
            dag[:, 0] = 0.0
            if self.global_mode == "branch":
                g[:, 1:, 0] = dag[:, 1:]  # DAG nodes read the global node
            g[:, 0, :] = dag / dag.sum(-1, keepdim=True).clamp(min=1.0)  # global reads their mean
        if self.use_global_node and self.global_mode == "edges":
            # the global node is an ordinary node: a source of every DAG node (forward) and
            # a sink of every DAG node (backward)
            full = adj.clone()
            full[:, 0, 1:] = m[:, 1:]
            eye = torch.eye(adj.shape[-1], dtype=adj.dtype, device=adj.device)
            a_fwd = _normalise(full.transpose(1, 2)) if self.aggr == "mean" else full.transpose(1, 2) + eye
            a_bwd = _normalise(full) if self.aggr == "mean" else full + eye
        a_fwd = a_fwd * m[:, :, None] * m[:, None, :]
        a_bwd = a_bwd * m[:, :, None] * m[:, None, :]
        use_branch = self.use_global_node and self.global_mode in ("branch", "readout")
        return a_fwd, a_bwd, (g if use_branch else None)

    def _propagate(self, h, a_fwd, a_bwd, g, mask) -> torch.Tensor:
        keep = mask[..., None].to(h.dtype)
        for layer in self.layers:
            h = self.dropout(layer(h, a_fwd, a_bwd, g)) * keep
        return h

    @staticmethod
    def _mean_pool(h: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        w = weights.to(h.dtype)
        return (h * w[..., None]).sum(1) / w.sum(1, keepdim=True).clamp(min=1.0)

    # ------------------------------------------------------------------ forward
    def forward(self, batch: DenseGraphBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(node_embeddings [B, N, hidden], graph_embedding [B, out_dim])``."""
        mask = batch.mask
        h0 = torch.relu(self.input(batch.x)) * mask[..., None].to(batch.x.dtype)
        dag_mask = mask.clone()
        dag_mask[:, 0] = False
        cells = sorted(set(self.cell_sequence)) if self.cell_sequence else []
        if self.cell_context and self.cell_sequence and len(cells) > 1:
            h, pooled = self._encode_cell_sequence(h0, batch.adj, batch.cell, mask)
        else:
            a_fwd, a_bwd, g = self._operators(batch.adj, mask)
            h = self._propagate(h0, a_fwd, a_bwd, g, mask)
            pooled = self._mean_pool(h, dag_mask)
        parts = []
        for part in self.readout_parts:
            if part == "global":
                parts.append(h[:, 0])
            elif part == "mean":
                parts.append(pooled)
            else:
                parts.append((h * dag_mask[..., None].to(h.dtype)).sum(1))
        return h, torch.cat(parts, -1)

    def _encode_cell_sequence(self, h0, adj, cell, mask):
        """HyperNAS global encoding: run the cells in macro order, each seeing the previous one.

        Each pass runs on a gathered sub-batch holding one cell's nodes (plus the global node),
        not on the whole padded graph, so the eight DARTS passes cost about as much as two passes
        over the full graph.
        """
        assert self.context is not None and self.cell_sequence is not None
        batch_size, n = cell.shape
        positions = torch.arange(n, device=cell.device)
        subs = {}
        for c in sorted(set(self.cell_sequence)):
            member = ((cell == c) & mask) | (positions == 0)[None]
            idx, sub_mask, sub_adj = pack_members(member, adj)  # global node (row 0) leads
            subs[c] = (idx, sub_mask, self._operators(sub_adj, sub_mask))
        z = torch.zeros(batch_size, h0.shape[-1], dtype=h0.dtype, device=h0.device)
        pooled_cells, last_h = [], {}
        for c in self.cell_sequence:
            idx, sub_mask, (sa_fwd, sa_bwd, sg) = subs[c]
            h_sub = torch.gather(h0, 1, idx[..., None].expand(-1, -1, h0.shape[-1]))
            dag = sub_mask.clone()
            dag[:, 0] = False
            h_sub = h_sub + self.context(z)[:, None, :] * dag[..., None].to(h0.dtype)
            h_sub = self._propagate(h_sub, sa_fwd, sa_bwd, sg, sub_mask)
            z = self._mean_pool(h_sub, dag)
            pooled_cells.append(z)
            last_h[c] = h_sub
        # node embeddings: each cell's nodes from its last pass in the sequence
        h_out = torch.zeros_like(h0)
        for c, h_sub in last_h.items():
            idx, sub_mask, _ = subs[c]
            keep = sub_mask.clone()
            keep[:, 0] = False
            h_out = h_out.scatter_add(1, idx[..., None].expand(-1, -1, h0.shape[-1]), h_sub * keep[..., None].to(h0.dtype))
        h_out[:, 0] = torch.stack([last_h[c][:, 0] for c in last_h]).mean(0)
        return h_out, torch.stack(pooled_cells).mean(0)
