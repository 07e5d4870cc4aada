"""Cell executors (NB201, NB101, DARTS): shapes, a hand-built numerical check, batch independence."""

import pytest
import torch
import torch.nn.functional as F

import gnnnas
from gnnnas.nn.executors import get_executor, list_executors
from gnnnas.nn.featurize import GraphFeaturizer
from gnnnas.nn.hypernet import HyperNetworkHead

SPACES = ["nb201", "nb101", "darts"]


def _setup(name, archs, prune=True, contract=True, width=4):
    space = gnnnas.get_space(name)
    feat = GraphFeaturizer(space.vocab, prune=prune, contract_identities=contract).fit(archs)
    batch = feat.transform(archs)
    torch.manual_seed(0)
    executor = get_executor(name, space.vocab, in_channels=1, num_classes=3, width=width)
    head = HyperNetworkHead(16, executor.weight_specs(), hidden_dim=16)
    return space, batch, executor, head


def _label_weights(executor, head, batch, seed=0):
    """The same random weights for every node of a label (so graph reductions must not matter)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for label, specs in executor.weight_specs().items():
        size = sum(s.numel for s in specs)
        row = torch.randn(size, generator=g) * 0.5
        out[label] = row.expand(len(batch), batch.op.shape[1], size)
    return out


@pytest.mark.parametrize("name", SPACES)
def test_generated_weight_shapes_and_logits(name):
    space = gnnnas.get_space(name)
    archs = [space.sample(i) for i in range(5)]
    _, batch, executor, head = _setup(name, archs)
    emb = torch.randn(len(archs), batch.op.shape[1], 16, requires_grad=True)
    weights = head(emb)
    specs = executor.weight_specs()
    assert set(weights) == set(specs) == {op for op in space.vocab.parametric}
    for label, flat in weights.items():
        assert flat.shape[:2] == batch.op.shape
        unpacked = head.unpack(label, flat[:, 1])
        assert {k: tuple(v.shape[1:]) for k, v in unpacked.items()} == {s.name: s.shape for s in specs[label]}
    logits = executor(batch, weights, head.unpack, torch.randn(6, 1, 8, 8))
    assert logits.shape == (5, 6, 3) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert emb.grad.abs().sum() > 0  # gradient reaches the node embeddings


@pytest.mark.parametrize("name", SPACES)
def test_raw_pruned_and_computation_graphs_compute_the_same_network(name):
    # the computation graph keeps path multiplicities (x + skip(x) = 2x), merges only copies of
    # parameter-free ops and keeps the inputs in rank order, so with one weight per label all
    # views run the same network. (DARTS: a concatenation's pieces may come in another order in
    # the computation graph, a channel permutation that shared test weights do not absorb, so
    # there only the raw and pruned graphs are compared; the input order is checked below.)
    space = gnnnas.get_space(name)
    archs = [space.sample(i) for i in range(12)]
    images = torch.randn(5, 1, 8, 8)
    views = ((False, False), (True, False)) + (((True, True),) if name != "darts" else ())
    outs = []
    for prune, contract in views:
        _, batch, executor, head = _setup(name, archs, prune, contract)
        outs.append(executor(batch, _label_weights(executor, head, batch), head.unpack, images))
    for out in outs[1:]:
        torch.testing.assert_close(outs[0], out, atol=1e-4, rtol=1e-4)


def test_computation_graph_keeps_cell_inputs_in_rank_order():
    # the executor feeds the k-th input node of a cell with the k-th previous cell output
    # (DARTS: c_{k-2}, c_{k-1}); a colour-ordered input list swapped them in about half the cells
    space = gnnnas.get_space("darts")
    for seed in range(100):
        arch = space.sample(seed)
        graph = arch.computation_graph()
        inputs = [graph.origin[i] for i, op in enumerate(graph.ops) if op == "input"]
        assert inputs == list(arch.inputs)


@pytest.mark.parametrize("name", SPACES)
def test_each_arch_runs_as_if_alone(name):
    space = gnnnas.get_space(name)
    archs = [space.sample(i) for i in range(3)]
    images = torch.randn(5, 1, 8, 8)
    _, batch, executor, head = _setup(name, archs)
    emb = torch.randn(len(archs), batch.op.shape[1], 16)
    together = executor(batch, head(emb), head.unpack, images)
    for i in range(len(archs)):
        alone_batch = GraphFeaturizer(space.vocab, prune=True, contract_identities=True).transform([archs[i]])
        n = alone_batch.op.shape[1]
        alone = executor(alone_batch, head(emb[i : i + 1, :n]), head.unpack, images)
        torch.testing.assert_close(alone[0], together[i], atol=1e-4, rtol=1e-4)


def _bn(t):
    return F.batch_norm(t, None, None, training=True)


def test_nb201_matches_hand_built_network():
    """One NB201 cell written out by hand with plain functional ops."""
    encoding = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
    space = gnnnas.get_space("nb201")
    arch = space.parse(encoding)
    _, batch, executor, head = _setup("nb201", [arch], prune=False, contract=False)
    g = torch.Generator().manual_seed(1)
    # one weight per node position: the op-node order follows the edge order of the string
    w3a, w1, w3b = (torch.randn(4, 4, k, k, generator=g) for k in (3, 1, 3))
    n = batch.op.shape[1]
    weights = {"nor_conv_3x3": torch.zeros(1, n, 144), "nor_conv_1x1": torch.zeros(1, n, 16)}
    pos = {op_index + 1: op for op_index, op in enumerate(arch.ops)}  # row 0 is the global node
    conv3_positions = [p for p, op in pos.items() if op == "nor_conv_3x3"]
    weights["nor_conv_3x3"][0, conv3_positions[0]] = w3a.flatten()
    weights["nor_conv_3x3"][0, conv3_positions[1]] = w3b.flatten()
    weights["nor_conv_1x1"][0, next(p for p, op in pos.items() if op == "nor_conv_1x1")] = w1.flatten()
    images = torch.randn(7, 1, 8, 8, generator=g)
    got = executor(batch, weights, head.unpack, images)[0]

    def rcb(x, w):
        return _bn(F.conv2d(torch.relu(x), w, padding=w.shape[-1] // 2))

    def cell(x0):
        x1 = rcb(x0, w3a)
        x2 = x0 + rcb(x1, w1)
        x3 = F.avg_pool2d(x0, 3, 1, 1, count_include_pad=False) + rcb(x2, w3b)  # none~1 adds nothing
        return _bn(x3)

    def resblock(x, w):
        h = _bn(F.conv2d(torch.relu(x), w[0], stride=2, padding=1))
        h = _bn(F.conv2d(torch.relu(h), w[1], padding=1))
        return h + F.avg_pool2d(x, 2)

    x = _bn(F.conv2d(images, executor.stem, padding=1))
    x = cell(x)
    x = resblock(x, executor.res_weights[0])
    x = cell(x)
    x = resblock(x, executor.res_weights[1])
    x = cell(x)
    want = executor.classifier(F.adaptive_avg_pool2d(torch.relu(x), 2).flatten(1))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_darts_sep_conv_matches_hand_built_op():
    from gnnnas.nn.executors.cells import CELL_OPS

    g = torch.Generator().manual_seed(2)
    x = torch.randn(6, 2, 4, 5, 5, generator=g)  # [images, archs, C, H, W]
    w = {k: torch.randn(2, *shape, generator=g) for k, shape in
         (("dw1", (4, 1, 3, 3)), ("pw1", (4, 4, 1, 1)), ("dw2", (4, 1, 3, 3)), ("pw2", (4, 4, 1, 1)))}
    got = CELL_OPS["sep_conv_3x3"].fn(x, w)
    for a in range(2):
        h = x[:, a]
        for i in (1, 2):
            h = F.conv2d(torch.relu(h), w[f"dw{i}"][a], padding=1, groups=4)
            h = _bn(F.conv2d(h, w[f"pw{i}"][a]))
        torch.testing.assert_close(got[:, a], h, atol=1e-5, rtol=1e-4)


def test_registry_and_opt_out():
    assert {"nb201", "nb101", "darts"} <= set(list_executors())
    space = gnnnas.get_space("nasbench_graph")
    with pytest.raises(ValueError, match="graph neural networks"):
        get_executor("nasbench_graph", space.vocab, 1, 10)
