"""Graph convolutions of the encoder: torch-geometric layers behind one registry.

Every layer of :class:`~gnnnas.nn.encoder.ArchEncoder` maps ``(x [num_nodes, D], GraphBatch)``
to ``[num_nodes, D]``, and every one tells the four edge kinds apart (forward, backward,
global -> node, node -> global). Three kinds of layer exist:

- :class:`DirectedGCNConv` (``"gcn"``, the default): the two-direction GCN of the neural
  predictor (Wen et al., 2020, arXiv 1912.00848) with HyperNAS's global node, written as one PyG
  ``MessagePassing``: ``mean(ReLU(A_fwd h W_fwd), ReLU(A_bwd h W_bwd), ReLU(G h W_glob))``.
  ``A_fwd`` averages a node and its predecessors (weighted by edge multiplicity), ``A_bwd`` a
  node and its successors; ``G`` lets DAG nodes read the global node and the global node read
  the mean of its DAG nodes. It computes exactly what gnnnas's former dense encoder computed.
- :class:`TypedEdgeConv`: one PyG conv that takes edge features, given each edge's kind
  (one-hot) and multiplicity: ``gine`` (``GINEConv``), ``gatv2`` (``GATv2Conv``),
  ``transformer`` (``TransformerConv``), ``resgated`` (``ResGatedGraphConv``).
- :class:`RelationalConv`: one PyG conv per edge kind, outputs ``ReLU``'d and averaged (the
  R-GCN recipe, Schlichtkrull et al., 2018, arXiv 1703.06103), for layers without edge
  features: ``gin`` (``GINConv``), ``graphconv`` (``GraphConv``, given the multiplicities as
  ``edge_weight``), ``sage`` (``SAGEConv``), and a user's own layer: a PyG conv class or any
  callable ``(in_dim, out_dim) -> MessagePassing`` (multiplicities passed when its ``forward``
  takes ``edge_weight``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch_geometric.nn import (
    GATv2Conv,
    GINConv,
    GINEConv,
    GraphConv,
    MessagePassing,
    ResGatedGraphConv,
    SAGEConv,
    TransformerConv,
)
from torch_geometric.utils import add_self_loops, scatter

from gnnnas.nn.graph_batch import BACKWARD, EDGE_KINDS, FORWARD, GLOBAL_TO_NODE, NODE_TO_GLOBAL, GraphBatch

__all__ = [
    "CONVS",
    "GLOBAL_MODES",
    "ConvSpec",
    "DirectedGCNConv",
    "RelationalConv",
    "TypedEdgeConv",
    "check_conv",
    "conv_name",
    "make_layer",
    "register_conv",
    "relations",
]

#: How the global macro node talks to the DAG nodes.
GLOBAL_MODES = ("branch", "edges", "readout")


def relations(use_global_node: bool, global_mode: str) -> dict[str, tuple[int, ...]]:
    """Edge kinds grouped into the relations a layer convolves separately.

    ``branch``: the global node sends to and reads from every DAG node through relations of its
    own; ``readout``: it only reads them; ``edges``: it is an ordinary node, a predecessor of
    every DAG node (its edges join the forward and backward relations).
    """
    if global_mode not in GLOBAL_MODES:
        raise ValueError(f"global_mode must be one of {GLOBAL_MODES}, got {global_mode!r}")
    if not use_global_node:
        return {"fwd": (FORWARD,), "bwd": (BACKWARD,)}
    if global_mode == "edges":
        return {"fwd": (FORWARD, GLOBAL_TO_NODE), "bwd": (BACKWARD, NODE_TO_GLOBAL)}
    rel = {"fwd": (FORWARD,), "bwd": (BACKWARD,)}
    if global_mode == "branch":
        rel["global_to_node"] = (GLOBAL_TO_NODE,)
    rel["node_to_global"] = (NODE_TO_GLOBAL,)
    return rel


# ---------------------------------------------------------------------- the two-direction GCN
class DirectedGCNConv(MessagePassing):
    """The two-direction GCN layer with the global-node branch, as a PyG ``MessagePassing``.

    For node ``i`` with predecessors ``P(i)`` (edge multiplicities ``w``):
    ``fwd_i = (h_i + sum_{j in P(i)} w_ji h_j) / (1 + sum w_ji) W_fwd + b_fwd``, ``bwd_i`` the same
    over successors; ``glob_i = W_glob mean_{j in R(i)} h_j + b_glob`` where ``R(i)`` is the global
    node for a DAG node and the DAG nodes for a global node (empty: ``b_glob``). Output
    ``(relu(fwd) + relu(bwd) + relu(glob)) / 3`` (``/ 2`` without the global branch).

    Args:
        in_dim, out_dim: feature sizes.
        rel: edge kinds of each relation (:func:`relations`); ``global_to_node`` and
            ``node_to_global`` together form the global branch, sharing ``glob``'s weights.

    Shapes: ``x [num_nodes, in_dim]`` -> ``[num_nodes, out_dim]``.
    """

    def __init__(self, in_dim: int, out_dim: int, rel: dict[str, tuple[int, ...]]) -> None:
        super().__init__(aggr="add")
        self.out_dim = out_dim
        self.rel = {k: tuple(v) for k, v in rel.items()}
        self.lin = nn.Linear(in_dim, 2 * out_dim)  # forward | backward, one fused product
        self.glob = nn.Linear(in_dim, out_dim)  # kept without the branch: checkpoints keep their keys
        self.global_branch = "global_to_node" in rel or "node_to_global" in rel

    @staticmethod
    def _mean_weights(graph: GraphBatch, kinds: tuple[int, ...], self_loops: bool):
        """``(edge_index, edge_weight)`` of the row-normalised operator: each target averages
        its sources (and itself). Memoised on the batch, so the layers of one pass share it."""
        key = ("mean", kinds, self_loops)
        if key not in graph.cache:
            n = graph.num_nodes
            edge_index, edge_weight = graph.edges_of(kinds)
            if self_loops:
                edge_index, edge_weight = add_self_loops(edge_index, edge_weight, fill_value=1.0, num_nodes=n)
            total = scatter(edge_weight, edge_index[1], 0, dim_size=n, reduce="sum")
            graph.cache[key] = (edge_index, edge_weight / total[edge_index[1]])
        return graph.cache[key]

    def message(self, x_j: torch.Tensor, edge_weight: torch.Tensor) -> torch.Tensor:
        return edge_weight[:, None] * x_j

    def forward(self, x: torch.Tensor, graph: GraphBatch) -> torch.Tensor:
        n, d = x.shape[0], self.out_dim
        hw = x @ self.lin.weight.t()
        out = 0.0
        for k, name in enumerate(("fwd", "bwd")):
            ei, w = self._mean_weights(graph, self.rel[name], self_loops=True)
            agg = self.propagate(ei, x=hw[:, k * d : (k + 1) * d], edge_weight=w, size=(n, n))
            out = out + torch.relu(agg + self.lin.bias[k * d : (k + 1) * d])
        if not self.global_branch:
            return out / 2.0
        kinds = self.rel.get("global_to_node", ()) + self.rel.get("node_to_global", ())
        ei, w = self._mean_weights(graph, kinds, self_loops=False)
        read = self.propagate(ei, x=x, edge_weight=w, size=(n, n))
        return (out + torch.relu(self.glob(read))) / 3.0


# ---------------------------------------------------------------------- any PyG conv
@dataclass(frozen=True)
class ConvSpec:
    """A registered convolution: ``factory(in_dim, out_dim)`` builds one PyG conv; ``source``
    names the paper. ``edge_input`` says how the conv tells edges apart:

    - ``"typed"``: one conv over all edges, ``edge_attr [E, 5]`` = one-hot edge kind and
      multiplicity (the factory builds it with ``edge_dim=EDGE_FEATURES``);
    - ``"weight"``: one conv per edge kind (:class:`RelationalConv`), ``edge_weight=[E]``
      multiplicities;
    - ``None``: one conv per edge kind, multiplicities not passed."""

    factory: Callable[[int, int], nn.Module] | None
    edge_input: str | None
    source: str


#: Edge features of ``"typed"`` convs: one-hot edge kind (4) and the edge's multiplicity.
EDGE_FEATURES = len(EDGE_KINDS) + 1


def _mlp(i: int, o: int) -> nn.Module:
    return nn.Sequential(nn.Linear(i, o), nn.ReLU(), nn.Linear(o, o))


def _gin(i: int, o: int) -> MessagePassing:
    return GINConv(_mlp(i, o), train_eps=True)


#: The registry of convolutions by name (``"gcn"``, with no factory, is :class:`DirectedGCNConv`).
CONVS: dict[str, ConvSpec] = {
    "gcn": ConvSpec(None, None, "Wen et al. 2020, arXiv 1912.00848 (two-direction GCN)"),
    "gin": ConvSpec(_gin, None, "Xu et al. 2019, arXiv 1810.00826 (GINConv)"),
    "gine": ConvSpec(lambda i, o: GINEConv(_mlp(i, o), train_eps=True, edge_dim=EDGE_FEATURES), "typed",
                     "Hu et al. 2020, arXiv 1905.12265 (GINEConv, edge kind as edge feature)"),
    "gatv2": ConvSpec(lambda i, o: GATv2Conv(i, o, heads=2, concat=False, edge_dim=EDGE_FEATURES), "typed",
                      "Brody et al. 2022, arXiv 2105.14491 (GATv2Conv, 2 heads averaged, edge kind as edge feature)"),
    "transformer": ConvSpec(lambda i, o: TransformerConv(i, o, heads=2, concat=False, edge_dim=EDGE_FEATURES), "typed",
                            "Shi et al. 2021, arXiv 2009.03509 (TransformerConv, 2 heads averaged, edge kind as edge feature)"),
    "resgated": ConvSpec(lambda i, o: ResGatedGraphConv(i, o, edge_dim=EDGE_FEATURES), "typed",
                         "Bresson & Laurent 2017, arXiv 1711.07553 (ResGatedGraphConv, edge kind as edge feature)"),
    "graphconv": ConvSpec(lambda i, o: GraphConv(i, o, aggr="mean"), "weight",
                          "Morris et al. 2019, arXiv 1810.02244 (GraphConv, mean aggregation)"),
    "sage": ConvSpec(lambda i, o: SAGEConv(i, o), None, "Hamilton et al. 2017, arXiv 1706.02216 (SAGEConv)"),
}


def register_conv(name: str, factory: Callable[[int, int], MessagePassing], edge_input: str | None = None,
                  source: str = "user") -> None:
    """Make ``name`` usable as ``Predictor(conv=name)``; needed to save and load a predictor whose
    conv is the user's own (checkpoints store the name, never code).

    Raises:
        ValueError: ``name`` is taken or ``edge_input`` is not ``"weight"``, ``"attr"`` or None.
    """
    if name in CONVS:
        raise ValueError(f"a conv named {name!r} is already registered")
    if edge_input not in ("typed", "weight", None):
        raise ValueError(f"edge_input must be 'typed', 'weight' or None, got {edge_input!r}")
    CONVS[name] = ConvSpec(factory, edge_input, source)


def conv_name(conv) -> str | None:
    """The registry name of ``conv`` (a name, or a registered factory), None for an unregistered one."""
    if isinstance(conv, str):
        return conv if conv in CONVS else None
    if conv is DirectedGCNConv:
        return "gcn"
    return next((name for name, spec in CONVS.items() if spec.factory is not None and spec.factory is conv), None)


def _spec(conv) -> ConvSpec:
    if isinstance(conv, str):
        if conv not in CONVS:
            raise ValueError(f"conv must be one of {sorted(CONVS)}, a PyG conv class or a callable "
                             f"(in_dim, out_dim) -> MessagePassing, got {conv!r}")
        return CONVS[conv]
    if not callable(conv):
        raise ValueError(f"conv must be a registered name, a PyG conv class or a callable, got {conv!r}")  # noqa: TRY004
    name = conv_name(conv)
    if name is not None:
        return CONVS[name]
    signature = inspect.signature(conv.forward) if isinstance(conv, type) else None
    edge_input = "weight" if signature is not None and "edge_weight" in signature.parameters else None
    return ConvSpec(conv, edge_input, "user")


class RelationalConv(nn.Module):
    """One PyG conv per relation; ``mean_r ReLU(conv_r(x, edges_r))`` (R-GCN style).

    Args:
        factory: ``(in_dim, out_dim) -> MessagePassing``.
        in_dim, out_dim: feature sizes.
        rel: edge kinds of each relation (:func:`relations`).
        edge_input: how edge multiplicities are passed (see :class:`ConvSpec`).

    Raises:
        ValueError: the factory does not return a ``torch_geometric.nn.MessagePassing``.
    """

    def __init__(self, factory, in_dim: int, out_dim: int, rel: dict[str, tuple[int, ...]],
                 edge_input: str | None = None) -> None:
        super().__init__()
        self.rel = {k: tuple(v) for k, v in rel.items()}
        self.edge_input = edge_input
        self.convs = nn.ModuleDict()
        for name in self.rel:
            conv = factory(in_dim, out_dim)
            if not isinstance(conv, MessagePassing):
                raise ValueError(f"conv factory {factory!r} returned {type(conv).__name__}, "  # noqa: TRY004
                                 "not a torch_geometric.nn.MessagePassing")
            self.convs[name] = conv

    def forward(self, x: torch.Tensor, graph: GraphBatch) -> torch.Tensor:
        out = 0.0
        for name, conv in self.convs.items():
            ei, w = graph.edges_of(self.rel[name])
            if self.edge_input == "weight":
                y = conv(x, ei, edge_weight=w)
            else:
                y = conv(x, ei)
            out = out + torch.relu(y)
        return out / len(self.convs)


class TypedEdgeConv(nn.Module):
    """One PyG conv over the edges of every relation, each edge's kind and multiplicity given as
    ``edge_attr [E, EDGE_FEATURES]``; output ``ReLU(conv(x, edges, edge_attr))``. Cheaper than
    :class:`RelationalConv` (one conv instead of four) for layers that take edge features.

    Raises:
        ValueError: the factory does not return a ``torch_geometric.nn.MessagePassing``.
    """

    def __init__(self, factory, in_dim: int, out_dim: int, rel: dict[str, tuple[int, ...]]) -> None:
        super().__init__()
        self.kinds = tuple(sorted({k for kinds in rel.values() for k in kinds}))
        self.conv = factory(in_dim, out_dim)
        if not isinstance(self.conv, MessagePassing):
            raise ValueError(f"conv factory {factory!r} returned {type(self.conv).__name__}, "  # noqa: TRY004
                             "not a torch_geometric.nn.MessagePassing")

    def forward(self, x: torch.Tensor, graph: GraphBatch) -> torch.Tensor:
        key = ("typed", self.kinds)
        if key not in graph.cache:
            keep = torch.isin(graph.edge_type, torch.as_tensor(self.kinds, device=x.device))
            kind = torch.nn.functional.one_hot(graph.edge_type[keep], len(EDGE_KINDS)).to(x.dtype)
            graph.cache[key] = (graph.edge_index[:, keep], torch.cat([kind, graph.edge_weight[keep, None]], 1))
        edge_index, edge_attr = graph.cache[key]
        return torch.relu(self.conv(x, edge_index, edge_attr=edge_attr))


def make_layer(conv, in_dim: int, out_dim: int, rel: dict[str, tuple[int, ...]]) -> nn.Module:
    """One encoder layer for ``conv`` (registry name, PyG conv class or factory callable)."""
    spec = _spec(conv)
    if spec.factory is None:
        return DirectedGCNConv(in_dim, out_dim, rel)
    if spec.edge_input == "typed":
        return TypedEdgeConv(spec.factory, in_dim, out_dim, rel)
    return RelationalConv(spec.factory, in_dim, out_dim, rel, spec.edge_input)


def check_conv(conv: str | Callable) -> None:
    """``ValueError`` unless ``conv`` names a registered conv or is callable."""
    _spec(conv)
