"""GraphBatch: the padded batch as one PyG-layout graph with typed edges, nothing lost."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.utils import to_dense_batch

import gnnnas
from gnnnas.nn.featurize import GraphFeaturizer
from gnnnas.nn.graph_batch import BACKWARD, FORWARD, GLOBAL_TO_NODE, NODE_TO_GLOBAL, GraphBatch

SPACES = ["nb201", "nb101", "darts", "vit", "macro", "nasbench_graph"]


@settings(max_examples=30, deadline=None)
@given(space_name=st.sampled_from(SPACES), seed=st.integers(0, 10_000), n=st.integers(1, 6))
def test_from_dense_keeps_every_node_and_edge(space_name, seed, n):
    space = gnnnas.get_space(space_name)
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n)]
    k = 0 if archs[0].node_features is None else archs[0].node_features.shape[1]
    featurizer = GraphFeaturizer(space.vocab, k).fit(archs)
    dense = featurizer.transform(archs)
    graph = featurizer.transform_graph(archs)
    # nodes: the dense rows come back, in order, padding zeros included
    x, mask = to_dense_batch(graph.x, graph.batch, batch_size=n, max_num_nodes=graph.max_nodes)
    torch.testing.assert_close(x, dense.x * dense.mask[..., None])
    assert torch.equal(mask, dense.mask)
    assert torch.equal(graph.position[graph.is_global], torch.zeros(n, dtype=torch.long))
    # DAG edges: forward with their multiplicity, backward flipped; nothing else between DAG nodes
    rebuilt = torch.zeros_like(dense.adj)
    ptr = torch.cat([torch.zeros(1, dtype=torch.long), torch.bincount(graph.batch, minlength=n).cumsum(0)])
    src, dst = graph.edges_of([FORWARD])[0]
    g = graph.batch[src]
    rebuilt[g, src - ptr[g], dst - ptr[g]] = graph.edges_of([FORWARD])[1]
    torch.testing.assert_close(rebuilt, dense.adj)
    fwd, bwd = graph.edges_of([FORWARD])[0], graph.edges_of([BACKWARD])[0]
    assert torch.equal(bwd, fwd.flip(0))
    # global edges: each graph's global node to and from exactly its own DAG nodes
    to_nodes, from_nodes = graph.edges_of([GLOBAL_TO_NODE])[0], graph.edges_of([NODE_TO_GLOBAL])[0]
    assert torch.equal(from_nodes, to_nodes.flip(0))
    assert bool(graph.is_global[to_nodes[0]].all()) and not bool(graph.is_global[to_nodes[1]].any())
    assert torch.equal(graph.batch[to_nodes[0]], graph.batch[to_nodes[1]])
    assert len(to_nodes[1]) == int((~graph.is_global).sum()) == len(set(to_nodes[1].tolist()))
    assert (graph.edge_weight[graph.edge_type >= GLOBAL_TO_NODE] == 1).all()


def test_subgraph_keeps_order_and_drops_crossing_edges():
    space = gnnnas.get_space("darts")
    archs = [space.sample(np.random.default_rng(i)) for i in range(3)]
    graph = GraphBatch.from_dense(GraphFeaturizer(space.vocab).fit(archs).transform(archs))
    member = (graph.cell == 1) | graph.is_global
    sub = graph.subgraph(member)
    assert sub.num_nodes == int(member.sum()) and torch.equal(sub.x, graph.x[member])
    assert int(sub.is_global.sum()) == 3
    kept = member[graph.edge_index].all(0)
    assert sub.edge_index.shape[1] == int(kept.sum())
    torch.testing.assert_close(sub.edge_weight, graph.edge_weight[kept])


def test_edges_of_is_memoised_per_batch():
    space = gnnnas.get_space("nb201")
    archs = [space.sample(np.random.default_rng(0))]
    graph = GraphBatch.from_dense(GraphFeaturizer(space.vocab).fit(archs).transform(archs))
    assert graph.edges_of((FORWARD,)) is graph.edges_of((FORWARD,))
    assert graph.edges_of((FORWARD,)) is not graph.edges_of((BACKWARD,))


def test_an_empty_batch_gives_empty_embeddings():
    from gnnnas.nn.encoder import ArchEncoder

    space = gnnnas.get_space("nb201")
    archs = [space.sample(np.random.default_rng(0))]
    fz = GraphFeaturizer(space.vocab).fit(archs)
    empty = fz.transform(archs)[:0]
    graph = GraphBatch.from_dense(empty)
    assert graph.num_nodes == 0 and graph.edge_index.shape == (2, 0)
    nodes, emb = ArchEncoder(fz.num_features, hidden_dim=8, num_layers=1, readout="global+mean+sum")(empty)
    assert emb.shape == (0, 24) and nodes.shape[0] == 0
