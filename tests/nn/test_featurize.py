import numpy as np
import pytest
import torch

import gnnnas
from gnnnas.graph import NODE_TYPES
from gnnnas.nn.featurize import GraphFeaturizer


def reference(arch, featurizer):
    """Per-graph path: prune/contract with ArchGraph methods, then featurise without reduction."""
    view = arch
    if featurizer.prune:
        view = view.prune()
    if featurizer.contract_identities:
        view = view.contract_identities()
    plain = GraphFeaturizer(
        featurizer.vocab, featurizer.node_feature_dim, featurizer.macro_names, prune=False, contract_identities=False
    )
    plain.macro_mean_, plain.macro_std_ = featurizer.macro_mean_, featurizer.macro_std_
    plain.node_mean_, plain.node_std_ = featurizer.node_mean_, featurizer.node_std_
    return plain.transform([view])


@pytest.mark.parametrize("space_name", ["nb201", "nb101", "darts", "vit", "macro", "nasbench_graph"])
@pytest.mark.parametrize("prune, contract", [(True, True), (True, False), (False, True)])
def test_vectorised_reduction_matches_graph_methods(space_name, prune, contract):
    space = gnnnas.get_space(space_name)
    rng = np.random.default_rng(1)
    archs = [space.sample(rng) for _ in range(40)]
    k = 0 if archs[0].node_features is None else archs[0].node_features.shape[1]
    fz = GraphFeaturizer(space.vocab, k, sorted(archs[0].macro), prune=prune, contract_identities=contract).fit(archs)
    batch = fz.transform(archs)
    for i, arch in enumerate(archs):
        ref = reference(arch, fz)
        n = ref.x.shape[1]
        assert int(batch.mask[i].sum()) == int(ref.mask[0].sum())
        torch.testing.assert_close(batch.x[i, :n], ref.x[0])
        torch.testing.assert_close(batch.adj[i, :n, :n], ref.adj[0])
        assert torch.equal(batch.cell[i, :n], ref.cell[0])
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
