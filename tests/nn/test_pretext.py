"""Pretext tasks: spec parsing, exact cost targets, node masking, the pre-training loop."""

import math

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
                         ("0*costs", "must be a finite number > 0"), ("costs+", "empty term"), ("+costs", "empty term"),
                         ("costs++masked", "empty term"), ("costs+-1*masked", "finite number > 0"),
                         ("1e400*costs", "finite number > 0"), ("1e-400*costs", "finite number > 0"),
                         ("x*costs", "'x' of 'costs' .* is not a number"), ("costs*2", "unknown task '2'"),
                         (3, "spec of tasks")]:
        with pytest.raises(ValueError, match=message):
            parse_pretrain(bad)
    # every spelling float() reads is a weight, the exponent's sign included
    assert parse_pretrain("1.*costs+1E3*masked") == {"costs": 1.0, "masked": 1000.0}
    assert parse_pretrain("1e+3*costs+masked") == {"costs": 1000.0, "masked": 1.0}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PRETEXTS), st.floats(allow_nan=True, allow_infinity=True),
       st.sampled_from(["{w!r}*{n}", " {w!r} * {n} "]))
def test_a_weight_is_taken_iff_it_is_a_finite_positive_number(name, weight, template):
    """The rule behind every weight: taken exactly when finite and > 0, else a ValueError that
    names the weight (never a NaN or infinite weight that would train an encoder to NaN)."""
    spec = template.format(w=weight, n=name)
    if math.isfinite(weight) and weight > 0:
        assert parse_pretrain(spec) == {name: weight}
    else:
        with pytest.raises(ValueError, match=f"weight of {name!r} must be a finite number > 0"):
            parse_pretrain(spec)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(PRETEXTS), min_size=1, max_size=len(PRETEXTS), unique=True),
       st.lists(st.one_of(st.just(1.0), st.floats(min_value=5e-324, max_value=1.7e308)), min_size=len(PRETEXTS),
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


@pytest.mark.parametrize("tasks, lr", [({"costs": 1e300}, 1e-3), ({"costs": 1.0, "masked": 1e300}, 1e-3),
                                       ({"costs": 1.0}, 1e8), ({"masked": 1.0}, 1e8)])
def test_a_diverging_pretraining_raises(tasks, lr):
    """A weighted loss that overflows (a huge weight) or a run that diverges (a huge lr) stops with
    FloatingPointError naming the epoch and each task's loss: never an encoder of NaN weights."""
    space = gnnnas.get_space("nb201")
    archs = [space.sample(np.random.default_rng(i)) for i in range(64)]
    featurizer = GraphFeaturizer(space.vocab).fit(archs)
    encoder = ArchEncoder(featurizer.num_features, hidden_dim=16, num_layers=2)
    with pytest.raises(FloatingPointError, match=r"pre-training diverged: the pretext loss is (nan|inf) at epoch \d+ of 30 "
                                                 + "".join(f".*{task} " for task in tasks)):
        pretrain_encoder(encoder, featurizer, archs, tasks, epochs=30, batch_size=16, lr=lr, seed=0)


def test_weights_that_overflow_on_the_last_step_raise(monkeypatch):
    """The last step comes after the last loss checked: a step that leaves an infinite weight
    behind a finite loss (one epoch of one batch here; the step is made to overflow) raises too."""
    space = gnnnas.get_space("nb201")
    archs = [space.sample(np.random.default_rng(i)) for i in range(32)]
    featurizer = GraphFeaturizer(space.vocab).fit(archs)
    encoder = ArchEncoder(featurizer.num_features, hidden_dim=16, num_layers=2)
    real_step = torch.optim.AdamW.step

    def overflowing_step(self, *args, **kwargs):
        result = real_step(self, *args, **kwargs)
        with torch.no_grad():
            next(encoder.parameters()).view(-1)[0] = float("inf")
        return result

    monkeypatch.setattr(torch.optim.AdamW, "step", overflowing_step)
    with pytest.raises(FloatingPointError, match="after epoch 1 the encoder weight .* holds NaN or infinite values"):
        pretrain_encoder(encoder, featurizer, archs, {"costs": 1.0}, epochs=1, batch_size=32, seed=0)


def test_pretrain_encoder_errors():
    space = gnnnas.get_space("nb201")
    arch = space.sample(0)
    featurizer = GraphFeaturizer(space.vocab).fit([arch])
    encoder = ArchEncoder(featurizer.num_features, hidden_dim=8, num_layers=1)
    with pytest.raises(ValueError, match="at least 2"):
        pretrain_encoder(encoder, featurizer, [arch], {"costs": 1.0})
    with pytest.raises(ValueError, match="nothing to learn"):
        pretrain_encoder(encoder, featurizer, [arch, arch], {"costs": 1.0})
