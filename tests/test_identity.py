"""One architecture, one identity: canonical hashes, featurised graphs, scores, lookups, splits.

The rules: two architectures that are the same network (same computation graph) get the same
``canonical_hash``, the same featurised graph and the same score; two different networks get
different hashes; every lookup, de-duplication and protocol split compares the space's identity.
"""

from __future__ import annotations

import collections
import itertools

import numpy as np
import pytest
import torch

from conftest import need_module

import gnnnas
import gnnnas.protocols
from gnnnas.nn.featurize import GraphFeaturizer
from gnnnas.search import BenchmarkOracle, random_search
from gnnnas.spaces.darts import DARTS_OPS
from gnnnas.spaces.nb101 import module_hash

# ------------------------------------------------------------------------------------- DARTS
SEP3, SEP5, DIL3, MAXP = (DARTS_OPS.index(o) for o in ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "max_pool_3x3"))
# node2 = sep3(c0) + sep5(c1), node3 = dil3(c0) + maxpool(c1); nodes 4, 5 read only c0/c1
CELL_A = ((0, SEP3), (1, SEP5), (0, DIL3), (1, MAXP), (0, 3), (1, 6), (1, 2), (0, 5))
CELL_B = ((0, SEP3), (1, MAXP), (0, DIL3), (1, SEP5), (0, 3), (1, 6), (1, 2), (0, 5))


def _darts_same_network(a, b) -> bool:
    """Brute-force reference: equal iff some renumbering of the intermediate nodes (inputs fixed)
    maps every node's set of (input, op) edges onto the other cell's, for both cells."""

    def cell_equal(x, y):
        for perm in itertools.permutations(range(2, 6)):
            mapping = {0: 0, 1: 1, **{2 + i: p for i, p in enumerate(perm)}}
            ok = True
            for i in range(4):
                mine = sorted((mapping[inp], op) for inp, op in x[2 * i : 2 * i + 2])
                j = mapping[2 + i] - 2
                if mine != sorted(y[2 * j : 2 * j + 2]):
                    ok = False
                    break
            if ok:
                return True
        return False

    return all(cell_equal(x, y) for x, y in zip(a, b))


def _relabel_darts(cell, rng):
    """An equivalent encoding: intermediate nodes in another topological order, edges swapped."""
    deps = {2 + i: {inp for inp, _ in cell[2 * i : 2 * i + 2] if inp >= 2} for i in range(4)}
    order, placed = [], set()
    while len(order) < 4:
        ready = [v for v in range(2, 6) if v not in placed and deps[v] <= placed]
        v = ready[rng.integers(len(ready))]
        order.append(v)
        placed.add(v)
    new_id = {0: 0, 1: 1, **{v: 2 + k for k, v in enumerate(order)}}
    out = []
    for v in order:
        pair = [(new_id[inp], op) for inp, op in cell[2 * (v - 2) : 2 * (v - 2) + 2]]
        if rng.random() < 0.5:
            pair.reverse()
        out.extend(pair)
    return tuple(out)


def test_darts_twins_one_swap_apart_are_different_networks():
    space = gnnnas.get_space("darts")
    a, b = space.parse((CELL_A, CELL_A)), space.parse((CELL_B, CELL_A))
    assert a.canonical_hash() != b.canonical_hash()
    assert a.canonical_hash("function") != b.canonical_hash("function")
    ga, gb = a.computation_graph(), b.computation_graph()
    assert ga.identity != gb.identity
    fz = GraphFeaturizer(space.vocab).fit([a, b])
    batch = fz.transform([a, b])
    assert not torch.equal(batch.adj[0], batch.adj[1]) or not torch.equal(batch.x[0], batch.x[1])


def test_darts_identity_property():
    """Random cells, equivalent re-encodings (same hash) and one-swap twins (hash equal iff same network)."""
    space = gnnnas.get_space("darts")
    rng = np.random.default_rng(0)
    swaps = equal = 0
    for _ in range(150):
        arch = space.sample(rng)
        normal, reduce = space.format(arch)
        twin = space.parse((_relabel_darts(normal, rng), _relabel_darts(reduce, rng)))
        assert twin.canonical_hash() == arch.canonical_hash()
        assert twin.computation_graph().ops == arch.computation_graph().ops
        # swap the ops of two edges of different intermediate nodes
        e, f = rng.choice(8, size=2, replace=False)
        if e // 2 == f // 2:
            continue
        cell = list(normal)
        cell[e], cell[f] = (cell[e][0], cell[f][1]), (cell[f][0], cell[e][1])
        other = space.parse((tuple(cell), reduce))
        same = _darts_same_network((normal, reduce), (tuple(cell), reduce))
        assert (other.canonical_hash() == arch.canonical_hash()) == same
        swaps += 1
        equal += same
    assert swaps > 50 and equal < swaps


def test_darts_pools_on_one_input_are_one_tensor():
    space = gnnnas.get_space("darts")
    cell = ((0, MAXP), (1, SEP3), (0, MAXP), (1, SEP5), (0, 3), (1, 3), (0, 3), (1, 3))
    graph = space.parse((cell, cell)).computation_graph()
    assert graph.ops.count("max_pool_3x3") == 2  # one per cell, read by two sums each
    assert graph.ops.count("sep_conv_3x3") + graph.ops.count("sep_conv_5x5") == 2 * 6


def test_darts_725_cells_are_725_networks(data_root):
    b = gnnnas.load_benchmark("darts", data_dir=data_root("nb301/nb301_725_valid_acc.json"))
    assert len({a.canonical_hash() for a in b.archs}) == 725


# ------------------------------------------------------------------------------------- NB101
def _renumber(matrix, ops, rng):
    """The same cell with its vertices in another topological order (input first, output last)."""
    matrix = np.asarray(matrix)
    n = len(ops)
    placed, order = {0}, [0]
    while len(order) < n - 1:
        ready = [v for v in range(1, n - 1) if v not in placed and all(u in placed for u in np.flatnonzero(matrix[:, v]))]
        v = ready[rng.integers(len(ready))]
        order.append(v)
        placed.add(v)
    order.append(n - 1)
    return matrix[np.ix_(order, order)], [ops[v] for v in order]


def test_nb101_identity_is_the_official_module_hash():
    """Random cells and renumberings: canonical hashes split exactly where module hashes do."""
    space = gnnnas.get_space("nb101")
    rng = np.random.default_rng(0)
    canonical, official = [], []
    for _ in range(300):
        arch = space.sample(rng)
        matrix, ops = space.format(arch)
        m2, o2 = _renumber(matrix, ops, rng)
        renumbered = space.parse((m2, o2))
        assert renumbered.canonical_hash() == arch.canonical_hash()
        assert module_hash(m2, o2) == space.hash(arch)
        assert space.identity(renumbered) == space.identity(arch)
        canonical.append(arch.canonical_hash())
        official.append(space.hash(arch))
    pairs = set(zip(canonical, official))
    assert len(pairs) == len(set(canonical)) == len(set(official))


def test_nb101_duplicated_max_pools_are_two_vertices():
    # The function terms merge these two cells (maxpool(v) twice vs once): NAS-Bench-101 trains
    # them as two networks (vertex widths differ), and so must the identity tell them apart.
    space = gnnnas.get_space("nb101")
    a = space.parse(([[0, 1, 0, 0, 0, 0], [0, 0, 1, 0, 1, 0], [0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 1, 0],
                      [0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]], ["input"] + ["maxpool3x3"] * 4 + ["output"]))
    b = space.parse(([[0, 1, 0, 0, 0, 0, 0], [0, 0, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 1, 0],
                      [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
                     ["input"] + ["maxpool3x3"] * 5 + ["output"]))
    assert space.hash(a) != space.hash(b)
    assert a.canonical_hash("function") == b.canonical_hash("function")
    assert a.canonical_hash() != b.canonical_hash()


def test_nb101_tables_identity_matches_module_hash(data_root):
    root = data_root("nb101/nb101_500_valid_acc.json")
    b = gnnnas.load_benchmark("nb101_500", data_dir=root)
    official = [b.space.hash(a) for a in b.archs]
    canonical = [a.canonical_hash() for a in b.archs]
    assert len(set(official)) == len(set(canonical)) == len(set(zip(official, canonical))) == 292


def test_nb101_oracle_finds_a_renumbered_cell(data_root):
    b = gnnnas.load_benchmark("nb101_500", data_dir=data_root("nb101/nb101_500_valid_acc.json"))
    matrix, ops = b.space.format(b.archs[0])
    assert ops[2:4] == ["maxpool3x3", "conv3x3-bn-relu"]
    order = [0, 1, 3, 2, 4, 5]  # swap interior vertices 2 and 3
    renumbered = (np.asarray(matrix)[np.ix_(order, order)].tolist(), [ops[i] for i in order])
    oracle = BenchmarkOracle(b)
    assert oracle(renumbered) == 92.578125
    assert renumbered in oracle
    assert len(oracle) == len(oracle.archs) == 292


def test_search_never_queries_one_nb101_cell_twice(data_root):
    b = gnnnas.load_benchmark("nb101_500", data_dir=data_root("nb101/nb101_500_valid_acc.json"))
    oracle = BenchmarkOracle(b)
    result = random_search("nb101", oracle, budget=292, candidates=b.archs, rng=0)
    keys = [b.space.identity(a) for a in result.archs]
    assert len(keys) == len(set(keys)) == 292


# ------------------------------------------------------------------------------------- NB201
ISOMORPHS = (
    "|avg_pool_3x3~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
    "|skip_connect~0|+|skip_connect~0|avg_pool_3x3~1|+|avg_pool_3x3~0|skip_connect~1|skip_connect~2|",
)


@pytest.fixture(scope="module")
def nb201_classes():
    space = gnnnas.get_space("nb201")
    archs = list(space.enumerate())
    classes = collections.defaultdict(list)
    for i, arch in enumerate(archs):
        classes[arch.canonical_hash()].append(i)
    return archs, classes


def test_nb201_issue_pair_is_one_network():
    space = gnnnas.get_space("nb201")
    a, b = (space.parse(s) for s in ISOMORPHS)
    # both compute 2x + 2 avg_pool(x): one pool node read twice, the input read twice
    assert a.canonical_hash() == b.canonical_hash()
    assert a.computation_graph().ops == ("input", "avg_pool_3x3", "output")
    assert a.computation_graph().edges == b.computation_graph().edges == ((0, 1, 1), (0, 2, 2), (1, 2, 2))
    assert space.identity(a) != space.identity(b)  # the benchmark trained both


def test_nb201_every_class_is_one_featurised_graph(nb201_classes):
    archs, classes = nb201_classes
    assert len(classes) == 5_260
    batch = GraphFeaturizer(archs[0].vocab).transform(archs)
    for members in classes.values():
        first = members[0]
        for i in members[1:]:
            assert torch.equal(batch.x[i], batch.x[first]) and torch.equal(batch.adj[i], batch.adj[first])


@pytest.mark.parametrize("n_members", [1, 3])
def test_nb201_every_class_gets_one_score(nb201_classes, n_members):
    archs, classes = nb201_classes
    rng = np.random.default_rng(n_members)
    train = rng.choice(len(archs), size=64, replace=False)
    y = np.array([archs[i].macro["params"] + 1e5 * archs[i].macro["cell_depth"] for i in train])
    model = gnnnas.Predictor(space="nb201", epochs=3, hidden_dim=32, num_layers=2, n_members=n_members,
                             bootstrap=n_members > 1, seed=0, device="cpu")
    model.fit([archs[i] for i in train], y)
    scores, std = model.predict(archs, return_std=True)
    spread = max(np.ptp(scores[m]) for m in classes.values())
    assert spread <= 1e-6
    assert max(np.ptp(std[m]) for m in classes.values()) <= 1e-6
    assert len(np.unique(scores)) > 100  # the scores are not constant


# ------------------------------------------------------------------------------------- splits
def test_deduplicated_groups_rows_and_averages_labels():
    space = gnnnas.get_space("nb101")
    rng = np.random.default_rng(3)
    cells = [space.sample(rng) for _ in range(3)]
    m, o = space.format(cells[0])
    renumbered = space.parse(_renumber(m, o, rng))
    bench = gnnnas.Benchmark(
        name="toy", space=space, metric="acc", archs=[cells[0], cells[1], renumbered, cells[2]],
        y=[90.0, 80.0, 92.0, 70.0], encodings=[None] * 4,
        extra={"zc": np.array([1.0, 2.0, np.nan, 4.0]), "all_nan": np.array([np.nan, 1.0, np.nan, 2.0])},
    )
    distinct = bench.deduplicated()
    assert len(distinct) == 3 and distinct.archs[0] is cells[0]
    np.testing.assert_array_equal(distinct.y, [91.0, 80.0, 70.0])
    np.testing.assert_array_equal(distinct.extra["zc"], [1.0, 2.0, 4.0])
    assert np.isnan(distinct.extra["all_nan"][0])
    assert distinct.deduplicated() is distinct


def _protocol_names():
    return sorted(gnnnas.protocols.PROTOCOLS)


@pytest.mark.parametrize("name", _protocol_names())
def test_no_protocol_tests_on_its_training_architectures(name, data_root, nb101_cache):
    protocol = gnnnas.protocols.get_protocol(name)
    files = {
        "nb201": "nb201/nb201_test_acc_200ep.csv", "nb101": "nb101/nb101_20k_valid_acc_by_hash.json",
        "nb101_500": "nb101/nb101_500_valid_acc.json", "darts": "nb301/nb301_725_valid_acc.json",
        "vit": "vit/autoformer_ti_100a.json",
    }
    if protocol.benchmark == "nasbench_graph":
        need_module("nas_bench_graph", "pip install nas-bench-graph (the tables of NAS-Bench-Graph)")
        bench = protocol.load()
    else:
        bench = protocol.load(data_root(files[protocol.benchmark]))
    keys = np.array(bench.identities())
    if protocol.test_on == "all":
        # the P201 family scores every row, training rows included, by definition
        split = protocol.split(len(bench), protocol.resolve_sizes(len(bench))[0], 0)
        assert len(split.test) == len(bench)
        return
    assert len(set(keys)) == len(keys)  # one row per architecture
    for size in protocol.resolve_sizes(len(bench)):
        for seed in range(5):
            split = protocol.split(len(bench), size, seed)
            assert not set(keys[split.train]) & set(keys[split.test])
            if protocol.train_pool is None:
                assert len(split.test) == len(bench) - size
            else:  # PC201: a fixed test half, the pool is the other
                assert len(split.test) == len(bench) - protocol.train_pool


def test_p101_500_splits_292_distinct_cells(data_root):
    protocol = gnnnas.protocols.get_protocol("P101-500")
    bench = protocol.load(data_root("nb101/nb101_500_valid_acc.json"))
    assert len(bench) == 292
    assert [len(bench) - n for n in protocol.resolve_sizes(len(bench))] == [242, 192, 120]


# ------------------------------------------------------------------------------ featurised graphs
def _same_tensors(archs):
    batch = GraphFeaturizer(archs[0].vocab).transform(archs)
    return all(torch.equal(batch.x[i], batch.x[0]) and torch.equal(batch.adj[i], batch.adj[0])
               for i in range(1, len(archs)))


def test_equal_identity_gives_equal_tensors_whatever_the_numbering():
    """Ties that WL refinement leaves (parallel chains, twin convolutions) do not leak the
    numbering of the graph into the featurised tensors."""
    rng = np.random.default_rng(5)
    nb101 = gnnnas.get_space("nb101")
    ops = ["input", "conv3x3-bn-relu", "conv3x3-bn-relu", "conv1x1-bn-relu", "conv1x1-bn-relu", "output"]
    m = np.zeros((6, 6), dtype=int)
    m[0, 1] = m[0, 2] = m[1, 3] = m[2, 4] = m[3, 5] = m[4, 5] = 1  # two parallel conv3 -> conv1 chains
    m2 = m.copy()
    m2[1, 3] = m2[2, 4] = 0
    m2[1, 4] = m2[2, 3] = 1
    a, b = nb101.parse((m, ops)), nb101.parse((m2, ops))
    assert a.canonical_hash() == b.canonical_hash() and _same_tensors([a, b])
    for _ in range(60):
        arch = nb101.sample(rng)
        twin = nb101.parse(_renumber(*nb101.format(arch), rng))
        assert _same_tensors([arch, twin])
    darts = gnnnas.get_space("darts")
    for _ in range(60):
        arch = darts.sample(rng)
        normal, reduce = darts.format(arch)
        twin = darts.parse((_relabel_darts(normal, rng), _relabel_darts(reduce, rng)))
        assert _same_tensors([arch, twin])


def test_concat_piece_takes_nothing_from_a_contracted_node():
    # a sum node made for a piece of a concatenation carries the output's cell and features,
    # not those of an identity op that was contracted into it (which the hash does not see)
    from gnnnas.graph import ArchGraph, OpVocabulary

    vocab = OpVocabulary(ops=("conv3", "skip"), identity={"skip"}, parametric={"conv3"}, output="concat")

    def graph(feature):
        return ArchGraph(("input", "conv3", "conv3", "skip", "output"), [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4)],
                         vocab, node_features=np.array([[0.0], [1.0], [1.0], [feature], [0.0]]))

    a, b = graph(5.0), graph(7.0)
    assert a.canonical_hash() == b.canonical_hash()
    batch = GraphFeaturizer(vocab, node_feature_dim=1).fit([a, b]).transform([a, b])
    assert torch.equal(batch.x[0], batch.x[1]) and torch.equal(batch.features[0], batch.features[1])


def test_outputs_are_ranked():
    from gnnnas.graph import ArchGraph, OpVocabulary

    vocab = OpVocabulary(ops=("conv", "pool"))
    a = ArchGraph(("input", "conv", "pool", "output", "output"), [(0, 1), (0, 2), (1, 3), (2, 4)], vocab)
    b = ArchGraph(("input", "conv", "pool", "output", "output"), [(0, 1), (0, 2), (1, 4), (2, 3)], vocab)
    assert a.canonical_hash() != b.canonical_hash()
    assert a.canonical_hash("function") != b.canonical_hash("function")


def test_deduplicated_keeps_ids_and_categories():
    space = gnnnas.get_space("nb101")
    rng = np.random.default_rng(4)
    cell = space.sample(rng)
    twin = space.parse(_renumber(*space.format(cell), rng))
    other = space.sample(rng)
    bench = gnnnas.Benchmark(
        name="toy", space=space, metric="acc", archs=[cell, twin, other], y=[1.0, 3.0, 5.0], encodings=[0, 1, 2],
        extra={"index": np.array([10, 11, 12]), "name": np.array(["a", "b", "c"]), "curve": np.ones((3, 4))},
    )
    distinct = bench.deduplicated()
    np.testing.assert_array_equal(distinct.y, [2.0, 5.0])
    np.testing.assert_array_equal(distinct.extra["index"], [10, 12])
    assert list(distinct.extra["name"]) == ["a", "c"] and distinct.extra["curve"].shape == (2, 4)
    assert distinct.encodings == [0, 2]
