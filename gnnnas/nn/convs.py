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
- :class:`TypedEdgeConv`: one PyG conv that takes edge features, given each edge's relation
  (one-hot) and multiplicity: ``gine`` (``GINEConv``), ``gatv2`` (``GATv2Conv``),
  ``transformer`` (``TransformerConv``), ``resgated`` (``ResGatedGraphConv``). The two of them
  whose PyG aggregation is a sum, ``gine`` and ``resgated``, aggregate by mean here: one conv
  over every edge kind sums the global node's fan-in (all DAG nodes) and sends it back to every
  node, so activations grew with the graph (node embeddings of norm 1.6e3 at initialisation on
  DARTS graphs, .4 with the GCN) and ``resgated`` diverged on PDARTS (Kendall tau .16 at 100
  labels; .66 with mean aggregation on the same split at 60 epochs, where the GCN gets .66).
- :class:`RelationalConv`: one PyG conv per edge kind, outputs ``ReLU``'d and averaged (the
  R-GCN recipe, Schlichtkrull et al., 2018, arXiv 1703.06103), for layers without edge
  features: ``gin`` (``GINConv``), ``graphconv`` (``GraphConv``), ``sage`` (``SAGEConv``), and
  a user's own layer: a PyG conv class or any callable ``(in_dim, out_dim) -> MessagePassing``
  (multiplicities passed as ``edge_weight`` when the built layer's ``forward`` takes it).
"""

from __future__ import annotations

import inspect
import warnings
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
from torch_geometric.utils import add_self_loops, scatter, spmm, to_torch_csr_tensor

from gnnnas.nn.graph_batch import BACKWARD, EDGE_KINDS, FORWARD, GLOBAL_TO_NODE, NODE_TO_GLOBAL, GraphBatch

__all__ = [
    "CONVS",
    "EDGE_FEATURES",
    "GLOBAL_MODES",
    "SUMMED_BEFORE_FORMAT_4",
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
    def _operator(graph: GraphBatch, kinds: tuple[int, ...], self_loops: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """``(edge_index, edge_weight)`` of one row-normalised operator: each target averages
        its sources (and itself, with ``self_loops``). Memoised on the batch."""
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

    def message_and_aggregate(self, adj_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return spmm(adj_t, x, reduce="sum")

    def _average(self, graph: GraphBatch, ops, blocks: list[torch.Tensor]) -> list[torch.Tensor]:
        """Block ``b`` (``[num_nodes, D]``) averaged by operator ``b``, for every ``b``.

        PyG's fused ``message_and_aggregate``: one sparse CSR matrix product per operator
        (``torch_geometric.utils.spmm``, differentiable in ``x``), which does not materialise
        one row per edge. In training this is 1.6x faster than PyG's gather-scatter
        ``message`` path on DARTS graphs (profiled: 1.62 s -> 1.01 s for 3 steps of batch 32),
        and 2.7x faster in prediction over the 15,625 NB201 cells on one CPU thread. Each
        output row sums its edges in a fixed order, so results do not depend on the thread count.
        ``message`` gives the same sums up to float rounding (``tests/nn/test_convs.py``).
        """
        n = graph.num_nodes
        if n == 0:
            return list(blocks)
        results = []
        with warnings.catch_warnings():  # torch flags sparse CSR as beta; PyG's spmm is the API
            warnings.simplefilter("ignore", UserWarning)
            for (kinds, loops), block in zip(ops, blocks, strict=True):
                key = ("csr", kinds, loops)
                if key not in graph.cache:
                    edge_index, weight = self._operator(graph, kinds, loops)
                    graph.cache[key] = to_torch_csr_tensor(edge_index.flip(0), weight, size=(n, n))
                results.append(self.propagate(graph.cache[key], x=block, edge_weight=None))
        return results

    def forward(self, x: torch.Tensor, graph: GraphBatch) -> torch.Tensor:
        d = self.out_dim
        hw = x @ self.lin.weight.t()
        ops = [(self.rel["fwd"], True), (self.rel["bwd"], True)]
        blocks = [hw[:, :d], hw[:, d:]]
        if self.global_branch:
            ops.append((self.rel.get("global_to_node", ()) + self.rel.get("node_to_global", ()), False))
            blocks.append(x)
        fwd, bwd, *rest = self._average(graph, ops, blocks)
        read = rest[0] if rest else None
        out = torch.relu(fwd + self.lin.bias[:d]) + torch.relu(bwd + self.lin.bias[d:])
        if read is None:
            return out / 2.0
        return (out + torch.relu(self.glob(read))) / 3.0


# ---------------------------------------------------------------------- any PyG conv
@dataclass(frozen=True)
class ConvSpec:
    """A registered convolution: ``factory(in_dim, out_dim)`` builds one PyG conv; ``source``
    names the paper. ``typed`` says how the conv tells edge kinds apart:

    - ``True``: one conv over all edges (:class:`TypedEdgeConv`) with ``edge_attr [E, 5]`` = the
      edge's relation (one-hot) and multiplicity; the factory builds it with
      ``edge_dim=EDGE_FEATURES``;
    - ``False``: one conv per edge kind (:class:`RelationalConv`); multiplicities are passed as
      ``edge_weight`` when the built layer's ``forward`` takes that argument."""

    factory: Callable[[int, int], nn.Module] | None
    typed: bool
    source: str


#: Edge features of typed convs: one-hot relation (up to 4) and the edge's multiplicity.
EDGE_FEATURES = len(EDGE_KINDS) + 1


def _mlp(i: int, o: int) -> nn.Module:
    return nn.Sequential(nn.Linear(i, o), nn.ReLU(), nn.Linear(o, o))


def _gin(i: int, o: int) -> MessagePassing:
    return GINConv(_mlp(i, o), train_eps=True)


#: Registered convs that summed their messages until checkpoint format 4 (they aggregate by mean
#: since): weights saved before cannot compute the same function now.
SUMMED_BEFORE_FORMAT_4 = ("gine", "resgated")

#: The registry of convolutions by name (``"gcn"``, with no factory, is :class:`DirectedGCNConv`).
CONVS: dict[str, ConvSpec] = {
    "gcn": ConvSpec(None, False, "Wen et al. 2020, arXiv 1912.00848 (two-direction GCN)"),
    "gin": ConvSpec(_gin, False, "Xu et al. 2019, arXiv 1810.00826 (GINConv)"),
    "gine": ConvSpec(lambda i, o: GINEConv(_mlp(i, o), train_eps=True, edge_dim=EDGE_FEATURES, aggr="mean"), True,
                     "Hu et al. 2020, arXiv 1905.12265 (GINEConv, edge kind as edge feature, mean aggregation)"),
    "gatv2": ConvSpec(lambda i, o: GATv2Conv(i, o, heads=2, concat=False, edge_dim=EDGE_FEATURES), True,
                      "Brody et al. 2022, arXiv 2105.14491 (GATv2Conv, 2 heads averaged, edge kind as edge feature)"),
    "transformer": ConvSpec(lambda i, o: TransformerConv(i, o, heads=2, concat=False, edge_dim=EDGE_FEATURES), True,
                            "Shi et al. 2021, arXiv 2009.03509 (TransformerConv, 2 heads averaged, edge kind as edge feature)"),
    "resgated": ConvSpec(lambda i, o: ResGatedGraphConv(i, o, edge_dim=EDGE_FEATURES, aggr="mean"), True,
                         "Bresson & Laurent 2017, arXiv 1711.07553 (ResGatedGraphConv, edge kind as edge feature, "
                         "mean aggregation)"),
    "graphconv": ConvSpec(lambda i, o: GraphConv(i, o), False,
                          "Morris et al. 2019, arXiv 1810.02244 (GraphConv, sums weighted by multiplicity)"),
    "sage": ConvSpec(lambda i, o: SAGEConv(i, o), False, "Hamilton et al. 2017, arXiv 1706.02216 (SAGEConv, mean)"),
}


def register_conv(name: str, factory: Callable[[int, int], MessagePassing], typed: bool = False,
                  source: str = "user") -> None:
    """Make ``name`` usable as ``Predictor(conv=name)``; needed to save and load a predictor whose
    conv is the user's own (checkpoints store the name, never code). A registered class or
    factory passed itself as ``conv`` is found by identity and saved under ``name``.

    Args:
        name: the registry name.
        factory: a PyG conv class or a callable ``(in_dim, out_dim) -> MessagePassing``.
        typed: ``True`` for a layer that takes ``edge_attr`` and is built with
            ``edge_dim=EDGE_FEATURES`` (one conv, edge kinds as edge features); ``False`` for one
            conv per edge kind.
        source: where the layer comes from (paper, arXiv id), shown in benchmark tables.

    Raises:
        ValueError: ``name`` is taken, or ``factory`` is not callable or is a built layer.
    """
    if name in CONVS:
        raise ValueError(f"a conv named {name!r} is already registered")
    _check_factory(factory)
    CONVS[name] = ConvSpec(factory, bool(typed), source)


def conv_name(conv) -> str | None:
    """The registry name of ``conv`` (a name, or a registered factory), None for an unregistered one."""
    if isinstance(conv, str):
        return conv if conv in CONVS else None
    if conv is DirectedGCNConv:
        return "gcn"
    return next((name for name, spec in CONVS.items() if spec.factory is not None and spec.factory is conv), None)


def _check_factory(factory) -> None:
    if isinstance(factory, nn.Module):
        raise ValueError(f"conv must be a conv class or a factory, not a built layer ({type(factory).__name__} "  # noqa: TRY004
                         "instance): pass e.g. torch_geometric.nn.GCNConv or lambda i, o: GCNConv(i, o)")
    if not callable(factory):
        raise ValueError(f"conv must be a registered name, a PyG conv class or a callable "  # noqa: TRY004
                         f"(in_dim, out_dim) -> MessagePassing, got {factory!r}")


def _spec(conv) -> ConvSpec:
    if isinstance(conv, str):
        if conv not in CONVS:
            raise ValueError(f"conv must be one of {sorted(CONVS)}, a PyG conv class or a callable "
                             f"(in_dim, out_dim) -> MessagePassing, got {conv!r} (a conv of your own "
                             "must be registered with gnnnas.nn.register_conv in this process before use)")
        return CONVS[conv]
    _check_factory(conv)
    name = conv_name(conv)
    return CONVS[name] if name is not None else ConvSpec(conv, False, "user")


def _build(factory, in_dim: int, out_dim: int) -> MessagePassing:
    conv = factory(in_dim, out_dim)
    if not isinstance(conv, MessagePassing):
        raise ValueError(f"conv factory {factory!r} returned {type(conv).__name__}, "  # noqa: TRY004
                         "not a torch_geometric.nn.MessagePassing")
    return conv


def _check_width(y: torch.Tensor, out_dim: int, conv: nn.Module) -> torch.Tensor:
    if y.shape[-1] != out_dim:
        raise ValueError(f"{type(conv).__name__} returned {y.shape[-1]} features per node, the encoder needs "
                         f"out_dim={out_dim} (a multi-head layer with concat=True returns heads * out_dim: "
                         "build it with concat=False)")
    return y


class RelationalConv(nn.Module):
    """One PyG conv per relation; ``mean_r ReLU(conv_r(x, edges_r))``: the R-GCN recipe
    (Schlichtkrull et al., arXiv 1703.06103), like ``torch_geometric.nn.HeteroConv(aggr="mean")``
    over one node type with a ReLU before the mean (as in the two-direction GCN).

    Multiplicities are passed as ``edge_weight`` to layers whose ``forward`` takes it.

    Args:
        factory: ``(in_dim, out_dim) -> MessagePassing``.
        in_dim, out_dim: feature sizes.
        rel: edge kinds of each relation (:func:`relations`).

    Raises:
        ValueError: the factory does not return a ``torch_geometric.nn.MessagePassing``, its
            ``forward`` needs ``edge_attr`` (register it with ``typed=True``), or (at the first
            forward) it returns another width than ``out_dim``.
    """

    def __init__(self, factory, in_dim: int, out_dim: int, rel: dict[str, tuple[int, ...]]) -> None:
        super().__init__()
        self.rel = {k: tuple(v) for k, v in rel.items()}
        self.out_dim = out_dim
        self.convs = nn.ModuleDict({name: _build(factory, in_dim, out_dim) for name in self.rel})
        forward = inspect.signature(next(iter(self.convs.values())).forward).parameters
        attr = forward.get("edge_attr")
        self.factory_name = getattr(factory, "__name__", repr(factory))
        if attr is not None and attr.default is inspect.Parameter.empty:
            raise ValueError(self._needs_attr())
        self.takes_attr = attr is not None
        self.takes_weight = "edge_weight" in forward

    def _needs_attr(self) -> str:
        return (f"conv {self.factory_name} needs edge_attr: register it with gnnnas.nn.register_conv(name, factory, "
                "typed=True) and build it with edge_dim=gnnnas.nn.convs.EDGE_FEATURES")

    def forward(self, x: torch.Tensor, graph: GraphBatch) -> torch.Tensor:
        out = 0.0
        for name, conv in self.convs.items():
            ei, w = graph.edges_of(self.rel[name])
            try:
                y = conv(x, ei, edge_weight=w) if self.takes_weight else conv(x, ei)
            except (AttributeError, TypeError, ValueError) as error:
                if self.takes_attr:  # e.g. GINEConv: edge_attr defaults to None, yet is required
                    raise ValueError(f"{self._needs_attr()} ({type(error).__name__}: {error})") from error
                raise
            out = out + torch.relu(_check_width(y, self.out_dim, conv))
        return out / len(self.convs)


class TypedEdgeConv(nn.Module):
    """One PyG conv over the edges of every relation, each edge's relation (one-hot) and
    multiplicity given as ``edge_attr [E, EDGE_FEATURES]``; output ``ReLU(conv(x, edges,
    edge_attr))``. Cheaper than :class:`RelationalConv` (one conv instead of four) for layers
    that take edge features. The relation, not the raw edge kind, is encoded, so
    ``global_mode="edges"`` (global edges joining the forward and backward relations) means the
    same here as for the other convs.

    Raises:
        ValueError: the factory does not return a ``torch_geometric.nn.MessagePassing``, or (at
            the first forward) it returns another width than ``out_dim``.
    """

    def __init__(self, factory, in_dim: int, out_dim: int, rel: dict[str, tuple[int, ...]]) -> None:
        super().__init__()
        self.relation_of = {kind: r for r, kinds in enumerate(rel.values()) for kind in kinds}
        self.out_dim = out_dim
        self.conv = _build(factory, in_dim, out_dim)

    def forward(self, x: torch.Tensor, graph: GraphBatch) -> torch.Tensor:
        key = ("typed", tuple(sorted(self.relation_of.items())))
        if key not in graph.cache:
            lookup = torch.full((len(EDGE_KINDS),), -1, dtype=torch.long, device=x.device)
            for kind, r in self.relation_of.items():
                lookup[kind] = r
            relation = lookup[graph.edge_type]
            keep = relation >= 0
            one_hot = torch.nn.functional.one_hot(relation[keep], len(EDGE_KINDS)).to(x.dtype)
            graph.cache[key] = (graph.edge_index[:, keep], torch.cat([one_hot, graph.edge_weight[keep, None]], 1))
        edge_index, edge_attr = graph.cache[key]
        return torch.relu(_check_width(self.conv(x, edge_index, edge_attr=edge_attr), self.out_dim, self.conv))


def make_layer(conv, in_dim: int, out_dim: int, rel: dict[str, tuple[int, ...]]) -> nn.Module:
    """One encoder layer for ``conv`` (registry name, PyG conv class or factory callable)."""
    spec = _spec(conv)
    if spec.factory is None:
        return DirectedGCNConv(in_dim, out_dim, rel)
    if spec.typed:
        return TypedEdgeConv(spec.factory, in_dim, out_dim, rel)
    return RelationalConv(spec.factory, in_dim, out_dim, rel)


def check_conv(conv: str | Callable) -> None:
    """``ValueError`` unless ``conv`` names a registered conv or is a conv class or factory."""
    _spec(conv)
