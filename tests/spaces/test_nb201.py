import collections
import csv

import numpy as np
import pytest

import gnnnas
from gnnnas.spaces.nb201 import NB201_OPS

ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def space():
    return gnnnas.get_space("nb201")


@pytest.fixture(scope="module")
def table(data_root):
    root = data_root("nb201/nb201_test_acc_200ep.csv")
    with open(root / "nb201/nb201_test_acc_200ep.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_registry():
    assert "nb201" in gnnnas.list_spaces()
    with pytest.raises(ValueError, match="unknown search space 'nope'"):
        gnnnas.get_space("nope")


def test_graph_layout(space):
    arch = space.parse(ALL_CONV)
    assert arch.ops == ("input",) + ("nor_conv_3x3",) * 6 + ("output",)
    # op on edge 1->2 (node 3) reads the op writing tensor 1 (node 1)
    assert (1, 3) in arch.edges and (0, 1) in arch.edges
    # ops on edges into tensor 3 feed the output
    assert {s for s, d in arch.edges if d == 7} == {4, 5, 6}
    assert arch.macro["params"] == 1_531_546  # NAS-Bench-201's largest CIFAR-10 network
    assert arch.macro["num_parametric_ops"] == 6
    assert arch.macro["cell_depth"] == 3
    assert arch.to_pyg().num_nodes == 9


def test_parse_format_roundtrip_every_arch(space, table):
    strings = [row["ArchitectureString"] for row in table]
    assert len(strings) == 15_625 == space.size
    for s in strings:
        assert space.format(space.parse(s)) == s
    assert {space.format(a) for a in space.enumerate()} == set(strings)


def test_unique_string_and_canonical_hash(space, table):
    archs = [space.parse(row["ArchitectureString"]) for row in table]
    unique = [row["UniqueString"] for row in table]
    # NAS-Bench-201's own convention is reproduced string for string
    assert [a.nb201_unique_string() for a in archs] == unique
    nb201_hash = [a.canonical_hash("nb201") for a in archs]
    assert len(set(unique)) == len(set(nb201_hash)) == 6_466
    # ... and the hash partition is exactly the UniqueString partition
    pairs = set(zip(unique, nb201_hash))
    assert len(pairs) == 6_466
    # the function-level hash never splits one of those classes, and merges the cells that
    # differ only by the grouping of sums or by ops reading dead tensors
    function_hash = [a.canonical_hash("function") for a in archs]
    by_unique = collections.defaultdict(set)
    for u, h in zip(unique, function_hash):
        by_unique[u].add(h)
    assert all(len(hs) == 1 for hs in by_unique.values())
    assert len(set(function_hash)) == 4_930
    # the identity (computation graph) keeps two convolutions on one input apart, which the
    # function terms merge: it refines the function classes into 5,260
    graph_hash = [a.canonical_hash() for a in archs]
    by_function = collections.defaultdict(set)
    for f, g in zip(function_hash, graph_hash):
        by_function[g].add(f)
    assert all(len(fs) == 1 for fs in by_function.values())
    assert len(set(graph_hash)) == 5_260


def test_params_match_zero_cost_file(space, data_root):
    import json

    root = data_root("nb201/nb201_725_zero_cost.json")
    with open(root / "nb201/nb201_725_zero_cost.json") as handle:
        table = json.load(handle)["cifar10"]
    file_ops = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
    for key, record in list(table.items())[:200]:
        ids = [int(t) for t in key.strip("()").split(",")]
        # file edge order 0->1, 0->2, 0->3, 1->2, 1->3, 2->3 -> arch-string order
        ops = [file_ops[ids[i]] for i in (0, 1, 3, 2, 4, 5)]
        arch = space.parse(ops)
        assert arch.macro["params"] == pytest.approx(record["params"]["score"] * 1e6, abs=0.5)


@pytest.mark.parametrize(
    "bad, match",
    [
        ("|nor_conv_3x3~0|+|none~0|none~1|", "3 '\\+'-separated nodes"),
        ("|nor_conv_3x3~0|+|none~0|+|none~0|none~1|none~2|", "node 2 .* needs 2 inputs"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown NB201 op 'conv'"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "expected 'op~0'"),
        ("nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "wrapped in '\\|'"),
        (42, "must be an arch string"),
        (["none"] * 5, "must be an arch string or 6 op names"),
    ],
)
def test_parse_errors(space, bad, match):
    with pytest.raises(ValueError, match=match):
        space.parse(bad)


def test_arch_of_another_space_is_rejected(space):
    other = gnnnas.ArchGraph(ops=["input", "output"], edges=[], vocab=space.vocab, space="other")
    with pytest.raises(ValueError, match="belongs to space 'other'"):
        space.format(other)
    pruned = space.parse(ALL_CONV.replace("nor_conv_3x3~2", "none~2")).prune()
    with pytest.raises(ValueError, match="pruned graph cannot be formatted"):
        space.format(pruned)


def test_sample_and_mutate_stay_in_space(space):
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        arch = space.sample(rng)
        s = space.format(arch)
        assert space.parse(s) == arch
        seen.add(s)
        child = space.mutate(arch, rng)
        diff = sum(a != b for a, b in zip(space.edge_ops(arch), space.edge_ops(child)))
        assert diff == 1
        assert all(op in NB201_OPS for op in space.edge_ops(child))
    assert len(seen) > 190
    # seeds make sampling reproducible
    assert space.format(space.sample(7)) == space.format(space.sample(7))
