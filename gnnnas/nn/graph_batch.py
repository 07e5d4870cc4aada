"""One batched sparse graph (torch-geometric layout) of many architectures, with typed edges.

:class:`GraphBatch` is what the encoder's PyG convolutions read: all graphs' nodes stacked in
``x [num_nodes, F]`` with ``batch`` naming each node's graph (the layout of a collated
``torch_geometric.data.Batch``), and every edge in one ``edge_index [2, E]`` with its kind in
``edge_type [E]``. It is built in one vectorised pass from the padded arrays of a
:class:`~gnnnas.nn.featurize.DenseGraphBatch` (no ``Data`` per architecture, no collate), so a
training step that slices a few graphs out of the padded store, or a prediction over 15,625
cells, costs a few tensor operations.

Edge kinds (columns ``(source, target)``, messages flow source -> target):

- ``FORWARD`` (0): a DAG edge, predecessor -> successor, weighted by its multiplicity (how many
  paths through removed identity ops join the two nodes);
- ``BACKWARD`` (1): the same edge flipped, so a node also hears its successors;
- ``GLOBAL_TO_NODE`` (2): the **global macro node** -> every DAG node of its graph;
- ``NODE_TO_GLOBAL`` (3): every DAG node -> its graph's global node.

Node order inside a graph is that of the dense rows: the global node first, then the DAG nodes,
so :func:`torch_geometric.utils.to_dense_batch` gives back the ``[B, N, D]`` layout the
hypernetwork's executors read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch_geometric.utils import dense_to_sparse, subgraph

__all__ = ["BACKWARD", "EDGE_KINDS", "FORWARD", "GLOBAL_TO_NODE", "NODE_TO_GLOBAL", "GraphBatch"]

FORWARD, BACKWARD, GLOBAL_TO_NODE, NODE_TO_GLOBAL = 0, 1, 2, 3
#: Names of the edge kinds, indexed by ``edge_type``.
EDGE_KINDS = ("forward", "backward", "global_to_node", "node_to_global")


@dataclass
class GraphBatch:
    """Architectures as one disconnected graph (PyG ``Batch`` layout).

    Attributes:
        x: ``[num_nodes, F]`` node features.
        edge_index: ``[2, E]`` (source, target) node indices of every edge of every kind.
        edge_type: ``[E]`` edge kind (:data:`EDGE_KINDS`).
        edge_weight: ``[E]`` multiplicity of DAG edges (1.0 for global edges).
        batch: ``[num_nodes]`` graph of each node.
        position: ``[num_nodes]`` row of each node in its graph (0 = global node).
        cell: ``[num_nodes]`` cell index of each DAG node (-1 for global nodes).
        num_graphs: number of graphs ``B``.
        max_nodes: largest graph (rows of the dense layout, global node included).
    """

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_type: torch.Tensor
    edge_weight: torch.Tensor
    batch: torch.Tensor
    position: torch.Tensor
    cell: torch.Tensor
    num_graphs: int
    max_nodes: int
    #: memo of per-batch edge selections and normalisations, shared by every layer
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_nodes(self) -> int:
        return self.x.shape[0]

    @property
    def is_global(self) -> torch.Tensor:
        """``[num_nodes]`` True for each graph's global macro node."""
        return self.position == 0

    @classmethod
    def from_dense(cls, dense) -> GraphBatch:
        """Vectorised conversion of a :class:`~gnnnas.nn.featurize.DenseGraphBatch`."""
        mask = dense.mask
        num_graphs, n = mask.shape
        device = mask.device
        flat = mask.reshape(-1).nonzero().squeeze(1)  # b * n + row of every real node
        batch, position = flat // n, flat % n
        first = torch.zeros(num_graphs + 1, dtype=torch.long, device=device)
        first[1:] = mask.sum(1).cumsum(0)
        (src, dst), weight = dense_to_sparse(dense.adj, dense.mask)  # node numbering of the masked rows
        dag = (position > 0).nonzero().squeeze(1)
        glob = first[batch[dag]]
        edge_index = torch.cat(
            [torch.stack([src, dst]), torch.stack([dst, src]), torch.stack([glob, dag]), torch.stack([dag, glob])], 1
        )
        kinds = torch.tensor([FORWARD, BACKWARD, GLOBAL_TO_NODE, NODE_TO_GLOBAL], device=device)
        edge_type = kinds.repeat_interleave(torch.tensor([len(src), len(src), len(dag), len(dag)], device=device))
        edge_weight = torch.cat([weight, weight, torch.ones(2 * len(dag), dtype=weight.dtype, device=device)])
        return cls(
            x=dense.x.reshape(num_graphs * n, dense.x.shape[-1])[flat],
            edge_index=edge_index,
            edge_type=edge_type,
            edge_weight=edge_weight,
            batch=batch,
            position=position,
            cell=dense.cell.reshape(-1)[flat],
            num_graphs=num_graphs,
            max_nodes=n,
        )

    def edges_of(self, kinds) -> tuple[torch.Tensor, torch.Tensor]:
        """``(edge_index [2, E_k], edge_weight [E_k])`` of the edges whose kind is in ``kinds``."""
        kinds = tuple(kinds)
        if ("edges", kinds) not in self.cache:
            keep = torch.isin(self.edge_type, torch.as_tensor(kinds, device=self.edge_type.device))
            self.cache["edges", kinds] = (self.edge_index[:, keep], self.edge_weight[keep])
        return self.cache["edges", kinds]

    def subgraph(self, nodes: torch.Tensor) -> GraphBatch:
        """The graph induced by the boolean node mask ``nodes [num_nodes]`` (nodes renumbered,
        order kept); :func:`torch_geometric.utils.subgraph` does the edge bookkeeping."""
        edge_index, _, edge_mask = subgraph(
            nodes, self.edge_index, num_nodes=self.num_nodes, relabel_nodes=True, return_edge_mask=True
        )
        return GraphBatch(
            x=self.x[nodes],
            edge_index=edge_index,
            edge_type=self.edge_type[edge_mask],
            edge_weight=self.edge_weight[edge_mask],
            batch=self.batch[nodes],
            position=self.position[nodes],
            cell=self.cell[nodes],
            num_graphs=self.num_graphs,
            max_nodes=self.max_nodes,
        )
