import numpy as np
import pytest
import torch

from gnnnas import ArchGraph, OpVocabulary
from gnnnas.graph import EDGE_TYPES, NODE_TYPES

VOCAB = OpVocabulary(
    ops=("conv", "pool", "skip", "zero"), identity={"skip"}, zero={"zero"}, parametric={"conv"}
)


def chain(*ops, **kw):
    labels = ["input", *ops, "output"]
    return ArchGraph(ops=labels, edges=[(i, i + 1) for i in range(len(labels) - 1)], vocab=VOCAB, **kw)


def test_basic_structure():
    g = chain("conv", "pool")
    assert g.num_nodes == 4
    assert g.inputs == (0,) and g.outputs == (3,)
    assert g.topological_order() == [0, 1, 2, 3]
    assert g.num_parametric_ops == 1
    assert g.adjacency().sum() == 3


@pytest.mark.parametrize(
    "ops, edges, match",
    [
        (["input", "conv", "output"], [(0, 1), (1, 2), (2, 1)], "leaves output"),
        (["input", "conv", "pool", "output"], [(0, 1), (1, 2), (2, 1), (2, 3)], "cycle"),
        (["input", "conv", "output"], [(0, 1), (1, 1), (1, 2)], "self-loop"),
        (["input", "conv", "output"], [(0, 1), (1, 5)], "outside"),
        (["input", "conv", "output"], [(0, 1), (0, 1), (1, 2)], "twice"),
        (["input", "bogus", "output"], [(0, 1), (1, 2)], "unknown op 'bogus'"),
        (["conv", "output"], [(0, 1)], "no 'input' node"),
        (["input", "conv"], [(0, 1)], "no 'output' node"),
        (["input", "conv", "pool", "output"], [(0, 1), (1, 3)], "node 2 \\(pool\\) is dangling"),
        (["input", "conv", "pool", "output"], [(0, 1), (0, 2), (1, 3)], "node 2 \\(pool\\) is dangling"),
        (["input", "conv", "output"], [(0, 1), (1, 2), (1, 0)], "enters input node 0"),
        (["input"], [], "at least an input and an output"),
    ],
)
def test_validation_errors(ops, edges, match):
    with pytest.raises(ValueError, match=match):
        ArchGraph(ops=ops, edges=edges, vocab=VOCAB)


def test_validation_of_attributes():
    with pytest.raises(ValueError, match="cell has 2 entries for 3 nodes"):
        chain("conv", cell=[0, 0])
    with pytest.raises(ValueError, match="node_features has 1 rows"):
        chain("conv", node_features=np.zeros((1, 2)))
    with pytest.raises(ValueError, match="finite"):
        chain("conv", node_features=np.array([[0.0], [np.nan], [0.0]]))
    with pytest.raises(ValueError, match="macro feature 'params' must be a number"):
        chain("conv", macro={"params": "many"})
    with pytest.raises(ValueError, match="duplicate ops"):
        OpVocabulary(ops=("a", "a"))
    with pytest.raises(ValueError, match="not in ops"):
        OpVocabulary(ops=("a",), identity={"b"})
    with pytest.raises(ValueError, match="reserved"):
        OpVocabulary(ops=("input",))


def test_empty_computation_is_allowed_only_without_ops():
    g = ArchGraph(ops=["input", "output"], edges=[], vocab=VOCAB)
    assert g.canonical_terms() == ()


def diamond(a, b):
    # input -> a, input -> b, a -> out, b -> out
    return ArchGraph(
        ops=["input", a, b, "output"], edges=[(0, 1), (0, 2), (1, 3), (2, 3)], vocab=VOCAB
    )


def test_prune_removes_zero_ops_and_dead_paths():
    g = diamond("conv", "zero")
    p = g.prune()
    assert p.ops == ("input", "conv", "output")
    assert sorted(p.edges) == [(0, 1), (1, 2)]
    # a node that only feeds a zero op is dead too
    g2 = ArchGraph(
        ops=["input", "conv", "zero", "pool", "output"],
        edges=[(0, 1), (1, 2), (2, 4), (0, 3), (3, 4)],
        vocab=VOCAB,
    )
    assert g2.prune().ops == ("input", "pool", "output")
    # fully dead architecture prunes to the empty computation
    dead = chain("zero")
    assert dead.prune().ops == ("input", "output") and dead.prune().edges == ()
    # already-pruned graphs come back unchanged
    assert chain("conv").prune() is not None and chain("conv").prune() == chain("conv")


def test_canonical_hash_function_semantics():
    # node order does not matter
    a = diamond("conv", "pool")
    b = diamond("pool", "conv")
    assert a.canonical_hash() == b.canonical_hash()
    # dead ops do not matter
    assert diamond("conv", "zero").canonical_hash() == chain("conv").canonical_hash()
    # identity chains collapse
    assert chain("skip", "conv", "skip").canonical_hash() == chain("conv").canonical_hash()
    # but the op and the order of ops along a path do matter
    assert chain("conv", "pool").canonical_hash() != chain("pool", "conv").canonical_hash()
    assert chain("conv").canonical_hash() != chain("pool").canonical_hash()
    # every fully dead graph is the same (zero) function
    assert chain("zero").canonical_hash() == diamond("zero", "zero").canonical_hash()
    # node features take part (e.g. different widths compute different functions)
    f1 = chain("conv", node_features=[[0.0], [1.0], [0.0]])
    f2 = chain("conv", node_features=[[0.0], [2.0], [0.0]])
    assert f1.canonical_hash() != f2.canonical_hash()
    with pytest.raises(ValueError, match="unknown canonical hash style"):
        a.canonical_hash(style="bogus")


def test_canonical_hash_sum_grouping():
    # out = conv(x) + (x + pool(x)) vs (conv(x) + x) + pool(x): same function,
    # but NAS-Bench-201's unique-string convention keeps the grouping
    g1 = ArchGraph(
        ops=["input", "conv", "skip", "pool", "output"],
        edges=[(0, 1), (0, 2), (0, 3), (3, 2), (1, 4), (2, 4)],
        vocab=VOCAB,
    )
    g2 = ArchGraph(
        ops=["input", "conv", "skip", "pool", "output"],
        edges=[(0, 1), (0, 2), (1, 2), (0, 3), (2, 4), (3, 4)],
        vocab=VOCAB,
    )
    assert g1.canonical_hash() == g2.canonical_hash()
    assert g1.canonical_hash("nb201") != g2.canonical_hash("nb201")


def test_to_pyg_global_node():
    g = chain("conv", "pool", macro={"params": 1e6, "depth": 3})
    data = g.to_pyg()
    n = g.num_nodes
    assert data.num_nodes == n + 1
    assert int(data.global_index) == n
    assert data.node_type[n] == NODE_TYPES.index("global")
    edge_type = data.edge_type.tolist()
    # forward and backward copies of each DAG edge
    assert edge_type.count(EDGE_TYPES.index("forward")) == len(g.edges)
    assert edge_type.count(EDGE_TYPES.index("backward")) == len(g.edges)
    # global node linked to every node, both ways
    to_nodes = data.edge_index[:, data.edge_type == EDGE_TYPES.index("global_to_node")]
    from_nodes = data.edge_index[:, data.edge_type == EDGE_TYPES.index("node_to_global")]
    assert sorted(to_nodes[1].tolist()) == list(range(n)) and set(to_nodes[0].tolist()) == {n}
    assert sorted(from_nodes[0].tolist()) == list(range(n)) and set(from_nodes[1].tolist()) == {n}
    # backward edges are the reversed forward edges
    fwd = data.edge_index[:, data.edge_type == 0]
    bwd = data.edge_index[:, data.edge_type == 1]
    assert torch.equal(fwd.flip(0), bwd)
    # one-hot op rows, macro features on the global node only (log scale)
    assert torch.all(data.x[:n, : len(VOCAB.labels) + 1].sum(1) == 1)
    macro_cols = data.x[:, -2:]
    assert torch.all(macro_cols[:n] == 0)
    assert torch.allclose(macro_cols[n], torch.tensor([np.log1p(3.0), np.log1p(1e6)], dtype=torch.float32))
    assert data.op[n] == len(VOCAB.labels)


def test_equality_and_repr():
    assert chain("conv") == chain("conv")
    assert chain("conv") != chain("pool")
    assert hash(chain("conv")) == hash(chain("conv"))
    assert "3 nodes" in repr(chain("conv"))


def test_contract_identities():
    g = chain("skip", "conv", "skip")
    c = g.contract_identities()
    assert c.ops == ("input", "conv", "output") and sorted(c.edges) == [(0, 1), (1, 2)]
    assert c.canonical_hash() == g.canonical_hash()
    # an identity path from input to output becomes a direct edge
    d = diamond("conv", "skip").contract_identities()
    assert d.ops == ("input", "conv", "output")
    assert sorted(d.edges) == [(0, 1), (0, 2), (1, 2)]
    assert d.canonical_hash() == diamond("conv", "skip").canonical_hash()
    # graphs without identity ops come back unchanged
    plain = chain("conv")
    assert plain.contract_identities() is plain
