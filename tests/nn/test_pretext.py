"""Pretext tasks: spec parsing, exact cost targets, node masking, the pre-training loop."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gnnnas
from gnnnas import ArchGraph, OpVocabulary
from gnnnas.nn.encoder import ArchEncoder
from gnnnas.nn.featurize import GraphFeaturizer
from gnnnas.nn.pretext import MASK_RATE, PRETEXTS, cost_targets, format_pretrain, mask_ops, parse_pretrain
from gnnnas.nn.pretrain import pretrain_encoder

VOCAB = OpVocabulary(ops=("conv", "pool", "skip"), identity={"skip"}, parametric={"conv"})


def test_parse_pretrain():
    assert parse_pretrain("costs") == {"costs": 1.0}
    assert parse_pretrain("costs + 0.5*masked") == {"costs": 1.0, "masked": 0.5}
    assert parse_pretrain("2e-1*masked") == {"masked": 0.2}
    for bad, message in [("", "spec of tasks"), ("flops", "unknown task"), ("costs+costs", "twice"),
                         ("0*costs", "must be > 0"), ("costs+", "unknown task"), (3, "spec of tasks")]:
        with pytest.raises(ValueError, match=message):
            parse_pretrain(bad)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(PRETEXTS), min_size=1, max_size=len(PRETEXTS), unique=True),
       st.lists(st.one_of(st.just(1.0), st.floats(min_value=1e-12, max_value=1e12)), min_size=len(PRETEXTS),
                max_size=len(PRETEXTS)),
       st.sampled_from(["+", " + "]))
def test_format_pretrain_names_each_parse_once(names, weights, joiner):
    """format_pretrain is parse_pretrain's inverse, and every spelling of the same tasks (spaces,
    an explicit weight 1) gets the same name."""
    tasks = dict(zip(names, weights, strict=False))
    name = format_pretrain(tasks)
    assert parse_pretrain(name) == tasks
    spelt = joiner.join(f"{w!r} * {n}" if w != 1 else f"1*{n}" for n, w in tasks.items())
    assert format_pretrain(parse_pretrain(spelt)) == name


def test_cost_targets_by_hand():
    # input -> conv -> output, input -> pool -> conv -> output, input -> skip -> output
    diamond = ArchGraph(ops=["input", "conv", "pool", "conv", "skip", "output"],
                        edges=[(0, 1), (1, 5), (0, 2), (2, 3), (3, 5), (0, 4), (4, 5)], vocab=VOCAB,
                        macro={"params": 999.0})
    chain = ArchGraph(ops=["input", "conv", "output"], edges=[(0, 1), (1, 2)], vocab=VOCAB, macro={"params": 9.0})
    targets, names = cost_targets([diamond, chain])
    assert names == ["params", "longest_path", "num_paths", "count:conv", "count:pool", "count:skip"]
    row = dict(zip(names, targets[0], strict=True))
    assert row["params"] == pytest.approx(np.log1p(999.0))
    assert row["longest_path"] == 3  # input -> pool -> conv -> output
    assert row["num_paths"] == pytest.approx(np.log1p(3))  # the skip path survives contraction as an edge
    assert (row["count:conv"], row["count:pool"], row["count:skip"]) == (2, 1, 0)  # identities contracted
    assert list(targets[1]) == pytest.approx([np.log1p(9.0), 2, np.log1p(1), 1, 0, 0])


def test_dead_ops_cost_nothing():
    """An op that feeds no output is not part of what the network computes: NB201 cells that
    differ only in a dead op get the same structural targets."""
    nb201 = gnnnas.get_space("nb201")
    a = nb201.parse("|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    b = nb201.parse("|avg_pool_3x3~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    (ta, tb), names = cost_targets([a, b])
    assert np.array_equal(ta, tb)
    assert dict(zip(names, ta, strict=True))["count:nor_conv_3x3"] == 1
    # NB201 counts the dead op's parameters: invisible to the encoder, so not a target
    assert a.macro["params"] != b.macro["params"] and "params" not in names
    assert "params" in cost_targets([a, b], visible_only=False)[1]


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["nb201", "nb101", "darts", "vit", "macro"]), st.integers(0, 2**31 - 1))
def test_cost_targets_agree_with_the_computation_graph(space_name, seed):
    """Property: op counts sum to the computation graph's op nodes; depth and paths are positive
    for any arch that computes something."""
    space = gnnnas.get_space(space_name)
    arch = space.sample(np.random.default_rng(seed))
    targets, names = cost_targets([arch])
    row = dict(zip(names, targets[0], strict=True))
    graph = arch.computation_graph()
    ops = sum(op in arch.vocab.ops for op in graph.ops)
    assert sum(v for n, v in row.items() if n.startswith("count:")) == ops
    assert row["longest_path"] <= graph.num_nodes
    if any(op == "output" for op in graph.ops) and graph.edges:
        assert row["longest_path"] >= 1 and row["num_paths"] > 0
    assert np.isfinite(targets).all()


def test_mask_ops_masks_only_operations():
    space = gnnnas.get_space("nb201")
    archs = [space.sample(np.random.default_rng(i)) for i in range(64)]
    featurizer = GraphFeaturizer(space.vocab).fit(archs)
    batch = featurizer.transform(archs)
    masked, chosen = mask_ops(batch, featurizer.num_labels, torch.Generator().manual_seed(0))
    labels = featurizer.num_labels
    ops = (batch.op >= 2) & (batch.op < labels - 2)
    assert not (chosen & ~ops).any()  # never input, output, sum, global or padding
    assert (chosen.any(1) == ops.any(1)).all()  # every graph with an op contributes
    assert masked.x[chosen][:, :labels].abs().sum() == 0
    assert torch.equal(masked.x[~chosen], batch.x[~chosen])
    assert torch.equal(masked.op, batch.op)  # the truth is kept
    rate = chosen.sum().item() / ops.sum().item()
    assert MASK_RATE * 0.5 < rate < MASK_RATE * 3


@pytest.mark.parametrize("tasks", [{"costs": 1.0}, {"masked": 1.0}])
def test_pretrain_encoder_learns(tasks):
    space = gnnnas.get_space("nb201")
    archs = [space.sample(np.random.default_rng(i)) for i in range(128)]
    featurizer = GraphFeaturizer(space.vocab).fit(archs)
    encoder = ArchEncoder(featurizer.num_features, hidden_dim=32, num_layers=2)
    history = pretrain_encoder(encoder, featurizer, archs, tasks, epochs=20, batch_size=16, lr=3e-3, seed=0)
    assert [r["epoch"] for r in history] == list(range(1, 21))
    assert set(history[0]) == {"epoch", "loss", *tasks}
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]
    assert not encoder.training


def test_pretrain_encoder_errors():
    space = gnnnas.get_space("nb201")
    arch = space.sample(0)
    featurizer = GraphFeaturizer(space.vocab).fit([arch])
    encoder = ArchEncoder(featurizer.num_features, hidden_dim=8, num_layers=1)
    with pytest.raises(ValueError, match="at least 2"):
        pretrain_encoder(encoder, featurizer, [arch], {"costs": 1.0})
    with pytest.raises(ValueError, match="nothing to learn"):
        pretrain_encoder(encoder, featurizer, [arch, arch], {"costs": 1.0})
