import numpy as np
import pytest
import torch

import gnnnas
from gnnnas.graph import NODE_TYPES
from gnnnas.nn.featurize import GraphFeaturizer


def reference(arch, featurizer):
    """The graph the featuriser should emit, node by node: (labels, weighted edges, cells, rows)."""
    if featurizer.prune and featurizer.contract_identities:
        graph = arch.computation_graph()
        return list(graph.ops), list(graph.edges), list(graph.origin)
    view = arch
    if featurizer.prune:
        view = view.prune()
    if featurizer.contract_identities:
        view = view.contract_identities()
    keep, _ = arch.reduced(prune=featurizer.prune, contract_identities=featurizer.contract_identities)
    return list(view.ops), [(s, d, 1) for s, d in view.edges], keep


@pytest.mark.parametrize("space_name", ["nb201", "nb101", "darts", "vit", "macro", "nasbench_graph"])
@pytest.mark.parametrize("prune, contract", [(True, True), (True, False), (False, True)])
def test_batch_holds_each_graph_node_by_node(space_name, prune, contract):
    space = gnnnas.get_space(space_name)
    rng = np.random.default_rng(1)
    archs = [space.sample(rng) for _ in range(40)]
    k = 0 if archs[0].node_features is None else archs[0].node_features.shape[1]
    fz = GraphFeaturizer(space.vocab, k, sorted(archs[0].macro), prune=prune, contract_identities=contract).fit(archs)
    batch = fz.transform(archs)
    t0 = fz.num_labels
    for i, arch in enumerate(archs):
        labels, edges, rows = reference(arch, fz)
        n = len(labels) + 1
        assert int(batch.mask[i].sum()) == n and not batch.mask[i, n:].any()
        ops = [space.vocab.index(label) for label in labels]
        assert batch.op[i, 1:n].tolist() == ops
        assert torch.all(batch.x[i, torch.arange(1, n), torch.tensor(ops)] == 1)
        for label, row in zip(labels, batch.x[i, 1:n]):
            kind = label if label in ("input", "output", "sum") else "op"
            assert row[t0 + NODE_TYPES.index(kind)] == 1
        adj = torch.zeros(n, n)
        for s, d, m in edges:
            adj[s + 1, d + 1] = m
        torch.testing.assert_close(batch.adj[i, :n, :n], adj)
        cells = [0] * len(rows) if arch.cell is None else [arch.cell[r] for r in rows]
        assert batch.cell[i, 1:n].tolist() == cells
        if k:
            torch.testing.assert_close(batch.features[i, 1:n], torch.from_numpy(arch.node_features[rows]))
        assert not batch.x[i, n:].any()


def test_layout_global_row_and_macro_standardisation():
    space = gnnnas.get_space("nb201")
    archs = [space.sample(s) for s in range(20)]
    names = sorted(archs[0].macro)
    fz = GraphFeaturizer(space.vocab, 0, names).fit(archs)
    batch = fz.transform(archs)
    assert batch.x.shape[-1] == fz.num_features
    t0 = fz.num_labels
    assert torch.all(batch.x[:, 0, t0 - 1] == 1)  # global op column
    assert torch.all(batch.x[:, 0, t0 + NODE_TYPES.index("global")] == 1)
    macro = batch.x[:, 0, -len(names):].numpy()
    varying = np.array([np.std([a.macro[n] for a in archs]) > 0 for n in names])
    np.testing.assert_allclose(macro[:, varying].mean(0), 0, atol=1e-5)
    assert not batch.adj[:, 0].any() and not batch.adj[:, :, 0].any()  # no DAG edges touch the global row


def test_fully_dead_cell_keeps_input_and_output():
    space = gnnnas.get_space("nb201")
    dead = space.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    batch = GraphFeaturizer(space.vocab).transform([dead])
    assert int(batch.mask[0].sum()) == 3 and not batch.adj.any()
