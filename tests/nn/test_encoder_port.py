"""The PyG two-direction GCN computes what gnnnas's former dense encoder computed (issue 16).

``tests/dense_reference.py`` is that encoder, frozen. With the same weights (the state-dict keys are
the same), both must give the same node and graph embeddings and the same gradients, on random
architectures of every built-in space, in every global-node mode and with the cell context.
"""

import numpy as np
import pytest
import torch
from dense_reference import DenseArchEncoder

import gnnnas
from gnnnas.nn.encoder import ArchEncoder
from gnnnas.nn.featurize import GraphFeaturizer

SPACES = ["nb201", "nb101", "darts", "vit", "macro", "nasbench_graph"]
MODES = [("branch", True), ("edges", True), ("readout", True), ("branch", False)]


def random_batch(space_name, seed, n=9):
    space = gnnnas.get_space(space_name)
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n)]
    k = 0 if archs[0].node_features is None else archs[0].node_features.shape[1]
    fz = GraphFeaturizer(space.vocab, k, sorted(archs[0].macro)).fit(archs)
    return archs, fz, fz.transform(archs)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("global_mode, use_global", MODES)
@pytest.mark.parametrize("space_name", SPACES)
def test_pyg_gcn_equals_the_dense_encoder(space_name, global_mode, use_global, seed):
    archs, fz, batch = random_batch(space_name, seed)
    options = dict(
        hidden_dim=16, num_layers=3, use_global_node=use_global, global_mode=global_mode,
        readout="global+mean+sum" if use_global else "mean+sum", cell_sequence=archs[0].cell_sequence,
    )
    torch.manual_seed(seed)
    old = DenseArchEncoder(fz.num_features, aggr="mean", **options).eval()
    new = ArchEncoder(fz.num_features, conv="gcn", **options).eval()
    assert set(new.state_dict()) == set(old.state_dict())
    new.load_state_dict(old.state_dict())
    (old_nodes, old_graph), (new_nodes, new_graph) = old(batch), new(batch)
    torch.testing.assert_close(new_nodes, old_nodes, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(new_graph, old_graph, atol=1e-5, rtol=1e-5)
    # the same function has the same gradients
    weights = torch.randn_like(old_graph)
    (old_graph * weights).sum().backward()
    (new_graph * weights).sum().backward()
    old_grads = {k: p.grad for k, p in old.named_parameters() if p.grad is not None}
    new_grads = {k: p.grad for k, p in new.named_parameters() if p.grad is not None}
    assert set(new_grads) == set(old_grads)
    for name, grad in old_grads.items():
        torch.testing.assert_close(new_grads[name], grad, atol=1e-4, rtol=1e-4, msg=name)


def test_the_reference_is_really_the_former_encoder():
    """Guard against a reference that was edited into agreement: it is dense (``[B, N, N]``
    matrix products), and another conv of the new encoder does not match it."""
    _, fz, batch = random_batch("nb201", 0)
    torch.manual_seed(0)
    old = DenseArchEncoder(fz.num_features, hidden_dim=16, num_layers=2).eval()
    new = ArchEncoder(fz.num_features, hidden_dim=16, num_layers=2, conv="graphconv").eval()
    assert not torch.allclose(old(batch)[1], new(batch)[1], atol=1e-3)
    assert "_operators" in vars(DenseArchEncoder)
