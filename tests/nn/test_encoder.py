import numpy as np
import pytest
import torch

import gnnnas
from gnnnas.nn.encoder import ArchEncoder
from gnnnas.nn.featurize import GraphFeaturizer
from gnnnas.params import CONV_NAMES


def batch_of(space_name, n=6):
    space = gnnnas.get_space(space_name)
    archs = [space.sample(np.random.default_rng(i)) for i in range(n)]
    k = 0 if archs[0].node_features is None else archs[0].node_features.shape[1]
    fz = GraphFeaturizer(space.vocab, k, sorted(archs[0].macro)).fit(archs)
    return archs, fz, fz.transform(archs)


@pytest.mark.parametrize("global_mode", ["branch", "edges", "readout"])
@pytest.mark.parametrize("conv", CONV_NAMES)
def test_shapes_and_padding_invariance(global_mode, conv):
    archs, fz, batch = batch_of("nb201")
    torch.manual_seed(0)
    enc = ArchEncoder(fz.num_features, hidden_dim=16, num_layers=2, conv=conv, global_mode=global_mode).eval()
    nodes, graph = enc(batch)
    assert nodes.shape[:2] == batch.x.shape[:2] and graph.shape == (len(archs), enc.out_dim)
    # the embedding of a graph does not depend on the other graphs in the batch (padding)
    alone = enc(fz.transform(archs[:1]))[1]
    torch.testing.assert_close(alone[0], graph[0], atol=1e-5, rtol=1e-5)


def test_global_node_switch_changes_the_embedding():
    archs, fz, batch = batch_of("nb201")
    torch.manual_seed(0)
    with_g = ArchEncoder(fz.num_features, 16, 2, use_global_node=True, readout="mean").eval()
    torch.manual_seed(0)
    without = ArchEncoder(fz.num_features, 16, 2, use_global_node=False, readout="mean").eval()
    assert not torch.allclose(with_g(batch)[1], without(batch)[1])
    with pytest.raises(ValueError, match="readout='global' needs use_global_node"):
        ArchEncoder(fz.num_features, use_global_node=False, readout="global")


def test_cell_context_runs_the_cell_sequence():
    archs, fz, batch = batch_of("darts")
    seq = archs[0].cell_sequence
    assert seq == (0, 0, 1, 0, 0, 1, 0, 0)
    torch.manual_seed(0)
    enc = ArchEncoder(fz.num_features, 16, 2, cell_context=True, cell_sequence=seq).eval()
    torch.manual_seed(0)
    flat = ArchEncoder(fz.num_features, 16, 2, cell_context=False, cell_sequence=seq).eval()
    a, b = enc(batch)[1], flat(batch)[1]
    assert a.shape == b.shape and not torch.allclose(a, b)
    # gradients reach the context projection
    enc.train()
    enc(batch)[1].sum().backward()
    assert enc.context.weight.grad is not None and enc.context.weight.grad.abs().sum() > 0
