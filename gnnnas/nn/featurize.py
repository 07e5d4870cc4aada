"""ArchGraphs -> padded dense tensors, built directly (no per-graph ``Data`` + collate).

Architecture graphs are tiny (8 to 40 nodes), so a dense ``[B, N, N]`` adjacency batch is both
simpler and much faster on CPU than sparse message passing over a collated ``Batch``:
collating one ``torch_geometric.data.Data`` per arch costs about 1 s for the 15,625 NB201
cells, building the arrays below costs a fraction of that.

By default (``prune`` and ``contract_identities``) each architecture enters as its
:meth:`~gnnnas.ArchGraph.computation_graph`: the graph of what it computes, in canonical node
order, with path multiplicities as edge weights. Architectures with equal
:meth:`~gnnnas.ArchGraph.canonical_hash` therefore give identical tensors and identical scores.

Layout of every graph in a batch: row 0 is the **global macro-structure node**, rows
``1..n`` the DAG nodes (computation-graph order, or ArchGraph order without contraction), the
rest padding. Columns of ``x`` follow
:meth:`gnnnas.ArchGraph.to_pyg` (op one-hot incl. ``global``, node type, node features,
standardised macro features on the global row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gnnnas.graph import NODE_TYPES, ArchGraph, OpVocabulary

__all__ = ["DenseGraphBatch", "GraphFeaturizer", "pack_members"]


@dataclass
class DenseGraphBatch:
    """A padded batch of architecture graphs.

    Attributes:
        x: ``[B, N, F]`` node features (row 0 = global node).
        adj: ``[B, N, N]`` DAG edges ``adj[b, src, dst] = multiplicity`` (how many paths through
            identity ops join the two nodes; 1 without contraction) between DAG nodes only.
        mask: ``[B, N]`` True for real nodes (global node included).
        cell: ``[B, N]`` cell index of each DAG node (``-1`` for global node and padding).
        op: ``[B, N]`` op label index (global = ``len(vocab.labels)``, padding = -1).
        features: ``[B, N, F]`` the space's raw (unscaled) node features, or None when the space
            has none; the hypernetwork's executor reads strides, heads and widths from them.
    """

    x: torch.Tensor
    adj: torch.Tensor
    mask: torch.Tensor
    cell: torch.Tensor
    op: torch.Tensor
    features: torch.Tensor | None = None

    def _fields(self):
        return (self.x, self.adj, self.mask, self.cell, self.op, self.features)

    def to(self, device: torch.device | str) -> DenseGraphBatch:
        return DenseGraphBatch(*(None if t is None else t.to(device) for t in self._fields()))

    def __getitem__(self, index) -> DenseGraphBatch:
        return DenseGraphBatch(*(None if t is None else t[index] for t in self._fields()))

    def __len__(self) -> int:
        return self.x.shape[0]



def pack_members(member: torch.Tensor, adj: torch.Tensor | None = None):
    """Pack each graph's ``member [B, N]`` nodes to the front, in graph order (a stable sort).

    Returns ``(idx [B, W], sub_mask [B, W], sub_adj [B, W, W] or None)`` with ``W`` the largest
    member count: ``idx`` indexes the original positions, ``sub_mask`` marks real members. The
    encoder's cell context and the executors run cells / stages on such sub-batches.
    """
    width = int(member.sum(1).max())
    idx = torch.sort((~member).to(torch.int8), dim=1, stable=True).indices[:, :width]
    sub_mask = torch.gather(member, 1, idx)
    if adj is None:
        return idx, sub_mask, None
    rows = torch.gather(adj, 1, idx[..., None].expand(-1, -1, adj.shape[-1]))
    return idx, sub_mask, torch.gather(rows, 2, idx[:, None, :].expand(-1, width, -1))


class GraphFeaturizer:
    """Turns ArchGraphs of one space into :class:`DenseGraphBatch` es.

    Args:
        vocab: op vocabulary of the space.
        node_feature_dim: number of per-node feature columns the space provides (0 if none).
        macro_names: macro features, in column order (fixed at fit time).
        prune: drop dead operations first.
        contract_identities: also remove identity ops (``skip_connect``), wiring around them.
            With ``prune`` this is the computation graph (identical computations, identical
            graphs); otherwise the graph keeps its nodes and order (:meth:`ArchGraph.reduced`).

    ``fit`` learns the mean/std of the (log-scaled) macro features and of the node features so
    the inputs are standardised; ``transform`` may be called on any archs of the space afterwards.
    """

    def __init__(
        self,
        vocab: OpVocabulary,
        node_feature_dim: int = 0,
        macro_names: Sequence[str] = (),
        prune: bool = True,
        contract_identities: bool = True,
    ) -> None:
        self.vocab = vocab
        self.node_feature_dim = int(node_feature_dim)
        self.macro_names = tuple(macro_names)
        self.prune = prune
        self.contract_identities = contract_identities
        self.macro_mean_ = np.zeros(len(self.macro_names), dtype=np.float32)
        self.macro_std_ = np.ones(len(self.macro_names), dtype=np.float32)
        self.node_mean_ = np.zeros(self.node_feature_dim, dtype=np.float32)
        self.node_std_ = np.ones(self.node_feature_dim, dtype=np.float32)

    # ------------------------------------------------------------------ columns
    @property
    def num_labels(self) -> int:
        return len(self.vocab.labels) + 1  # + global

    @property
    def node_feature_columns(self) -> slice:
        """Columns of ``x`` holding the space's (standardised) node features."""
        start = self.num_labels + len(NODE_TYPES)
        return slice(start, start + self.node_feature_dim)

    @property
    def num_features(self) -> int:
        return self.num_labels + len(NODE_TYPES) + self.node_feature_dim + len(self.macro_names)

    # ------------------------------------------------------------------ per graph
    @property
    def canonical(self) -> bool:
        """Whether archs enter as their computation graphs (``prune`` and ``contract_identities``)."""
        return bool(self.prune and self.contract_identities)

    def _raw(self, arch: ArchGraph):
        """(op index array, ``[m, 3]`` edges with multiplicity, node features, cells, macro) of
        one arch, in the order the encoder sees its nodes; cached on the arch."""
        key = (self.vocab, self.macro_names, self.node_feature_dim, self.prune, self.contract_identities)
        cache = arch.__dict__.get("_featurize_cache")
        if cache is not None and cache[0] == key:
            return cache[1]
        if self.node_feature_dim:
            got = 0 if arch.node_features is None else arch.node_features.shape[1]
            if got != self.node_feature_dim:
                raise ValueError(f"expected {self.node_feature_dim} node features per node, got {got}")
        if self.canonical:
            graph = arch.computation_graph()
            labels, nodes = graph.ops, list(graph.origin)
            edges = np.asarray(graph.edges, dtype=np.int64).reshape(-1, 3)
        else:
            nodes, pairs = arch.reduced(prune=self.prune, contract_identities=self.contract_identities)
            labels = [arch.ops[i] for i in nodes]
            edges = np.asarray([(s, d, 1) for s, d in pairs], dtype=np.int64).reshape(-1, 3)
        index = self.vocab._label_index
        ops = np.fromiter((index[op] for op in labels), dtype=np.int64, count=len(labels))
        feats = arch.node_features[nodes] if self.node_feature_dim else None
        cells = np.asarray(arch.cell, dtype=np.int64)[nodes] if arch.cell is not None else None
        parts = (ops, edges, feats, cells, arch.macro_vector(self.macro_names))
        object.__setattr__(arch, "_featurize_cache", (key, parts))
        return parts

    # ------------------------------------------------------------------ batches
    def fit(self, archs: Sequence[ArchGraph]) -> GraphFeaturizer:
        if self.macro_names:
            macro = np.stack([self._raw(a)[4] for a in archs])
            self.macro_mean_ = macro.mean(0).astype(np.float32)
            std = macro.std(0)
            self.macro_std_ = np.where(std > 1e-6, std, 1.0).astype(np.float32)
        if self.node_feature_dim:
            # raw node features can be in the hundreds (ViT widths): standardise them, or the
            # first layer saturates and ReLUs die
            feats = np.concatenate([self._raw(a)[2] for a in archs]).astype(np.float64)
            self.node_mean_ = feats.mean(0).astype(np.float32)
            std = feats.std(0)
            self.node_std_ = np.where(std > 1e-6, std, 1.0).astype(np.float32)
        return self

    def transform(self, archs: Sequence[ArchGraph]) -> DenseGraphBatch:
        raws = [self._raw(a) for a in archs]
        b = len(raws)
        sizes = np.fromiter((len(r[0]) for r in raws), dtype=np.int64, count=b)
        n_max = 1 + (int(sizes.max()) if b else 1)  # row 0 is the global node
        gi = np.repeat(np.arange(b), sizes)  # graph of every node
        pos = 1 + np.arange(len(gi)) - np.repeat(np.cumsum(sizes) - sizes, sizes)  # its row
        f = self.num_features
        t0 = self.num_labels
        f0 = t0 + len(NODE_TYPES)
        m0 = f0 + self.node_feature_dim
        x = np.zeros((b, n_max, f), dtype=np.float32)
        adj = np.zeros((b, n_max, n_max), dtype=np.float32)
        mask = np.zeros((b, n_max), dtype=bool)
        cell = np.full((b, n_max), -1, dtype=np.int64)
        op = np.full((b, n_max), -1, dtype=np.int64)
        x[:, 0, t0 - 1] = 1.0
        x[:, 0, t0 + NODE_TYPES.index("global")] = 1.0
        mask[:, 0] = True
        op[:, 0] = t0 - 1
        if len(gi):
            node_ops = np.concatenate([r[0] for r in raws])
            type_of_label = np.full(t0 - 1, NODE_TYPES.index("op"))
            for label in ("input", "output", "sum"):
                type_of_label[self.vocab.index(label)] = NODE_TYPES.index(label)
            x[gi, pos, node_ops] = 1.0
            x[gi, pos, t0 + type_of_label[node_ops]] = 1.0
            mask[gi, pos] = True
            op[gi, pos] = node_ops
            cell[gi, pos] = np.concatenate(
                [r[3] if r[3] is not None else np.zeros(len(r[0]), np.int64) for r in raws]
            )
        features = None
        if self.node_feature_dim:
            feats = np.concatenate([r[2] for r in raws]).astype(np.float32) if len(gi) else 0.0
            features = np.zeros((b, n_max, self.node_feature_dim), dtype=np.float32)
            features[gi, pos] = feats
            x[gi, pos, f0:m0] = (features[gi, pos] - self.node_mean_) / self.node_std_
        edge_counts = np.fromiter((len(r[1]) for r in raws), dtype=np.int64, count=b)
        if edge_counts.sum():
            edges = np.concatenate([r[1] for r in raws])
            adj[np.repeat(np.arange(b), edge_counts), edges[:, 0] + 1, edges[:, 1] + 1] = edges[:, 2]
        if self.macro_names:
            macro = np.stack([r[4] for r in raws])
            x[:, 0, m0:] = (macro - self.macro_mean_) / self.macro_std_
        return DenseGraphBatch(
            x=torch.from_numpy(x),
            adj=torch.from_numpy(adj),
            mask=torch.from_numpy(mask),
            cell=torch.from_numpy(cell),
            op=torch.from_numpy(op),
            features=None if features is None else torch.from_numpy(features),
        )

    def transform_graph(self, archs: Sequence[ArchGraph]):
        """The archs as one :class:`~gnnnas.nn.graph_batch.GraphBatch` (torch-geometric layout:
        ``x [num_nodes, F]``, ``edge_index [2, E]``, ``edge_type [E]``, ``edge_weight [E]``,
        ``batch [num_nodes]``), what the encoder's convolutions read."""
        from gnnnas.nn.graph_batch import GraphBatch

        return GraphBatch.from_dense(self.transform(archs))

    def get_state(self) -> dict:
        return {
            "macro_names": list(self.macro_names),
            "macro_mean": self.macro_mean_.tolist(),
            "macro_std": self.macro_std_.tolist(),
            "node_mean": self.node_mean_.tolist(),
            "node_std": self.node_std_.tolist(),
            "prune": self.prune,
            "contract_identities": self.contract_identities,
            "node_feature_dim": self.node_feature_dim,
        }
