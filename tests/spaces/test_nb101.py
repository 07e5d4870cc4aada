import itertools
import json

import numpy as np
import pytest

import gnnnas
from gnnnas.spaces import nb101_enumerate as nbe
from gnnnas.spaces.nb101 import (
    CONV1X1,
    CONV3X3,
    MAXPOOL3X3,
    NB101Space,
    module_hash,
    network_stats,
    prune_spec,
)

FILE_1K = "nb101/nb101_1k_valid_acc_with_graphs.json"
FILE_20K = "nb101/nb101_20k_valid_acc_by_hash.json"
FILE_500 = "nb101/nb101_500_valid_acc.json"
I, O = "input", "output"
C3, C1, MP = CONV3X3, CONV1X1, MAXPOOL3X3
_NAMES = {-1: I, -2: O, 0: C3, 1: C1, 2: MP}

# first cell of the 20k / 1k files: hash, spec, trainable parameters
FIRST_KEY = "00005c142e6f48ac74fdcf73e3439874"
FIRST_MATRIX = [
    [0, 1, 0, 0, 1, 1, 0],
    [0, 0, 1, 0, 0, 0, 0],
    [0, 0, 0, 1, 0, 0, 1],
    [0, 0, 0, 0, 0, 1, 0],
    [0, 0, 0, 0, 0, 1, 0],
    [0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 0, 0],
]
FIRST_OPS = [I, C3, MP, C3, C3, C1, O]
FIRST_PARAMS = 8_555_530


@pytest.fixture(scope="module")
def space():
    return gnnnas.get_space("nb101")


@pytest.fixture(scope="session")
def nb101_enumeration(nb101_cache):
    """The whole space, enumerated once per test session into the session cache directory."""
    return nbe.load_enumeration()


def _load_1k(root):
    with open(root / FILE_1K) as handle:
        table = json.load(handle)
    cells = []
    for matrix, ops in zip(table["adjacency"], table["operations"]):
        v = sum(op != -3 for op in ops)
        cells.append(([[int(x) for x in row[:v]] for row in matrix[:v]], [_NAMES[op] for op in ops[:v]]))
    return table, cells


# ---------------------------------------------------------------------------------- basics
def test_registry_and_vocab(space):
    assert "nb101" in gnnnas.list_spaces()
    assert isinstance(space, NB101Space)
    assert space.size == 423_624
    assert set(space.vocab.ops) == {C3, C1, MP}
    assert space.vocab.parametric == {C3, C1}


def test_known_cell(space):
    arch = space.parse((FIRST_MATRIX, FIRST_OPS))
    assert arch.ops == tuple(FIRST_OPS)
    assert sorted(arch.edges) == sorted(
        (s, d) for s in range(7) for d in range(7) if FIRST_MATRIX[s][d]
    )
    assert space.hash(arch) == FIRST_KEY
    assert module_hash(FIRST_MATRIX, FIRST_OPS) == FIRST_KEY
    assert module_hash(FIRST_MATRIX, [-1, 0, 2, 0, 0, 1, -2]) == FIRST_KEY
    assert space.format(arch) == (FIRST_MATRIX, FIRST_OPS)
    assert space.parse(space.format(arch)) == arch
    assert space.parse({"matrix": np.array(FIRST_MATRIX), "ops": FIRST_OPS}) == arch
    macro = arch.macro
    assert macro["params"] == FIRST_PARAMS
    assert macro["num_parametric_ops"] == 4
    assert macro["stacks"] == 3 and macro["cells_per_stack"] == 3 and macro["init_channels"] == 128
    assert macro["cell_depth"] == 5  # 0-1-2-3-5-6
    assert arch.to_pyg().num_nodes == 8


def test_hash_is_isomorphism_invariant(space):
    # swap interior vertices 4 and 5 of a cell where both only read the input
    matrix = np.array(
        [
            [0, 1, 0, 0, 1, 1, 0],
            [0, 0, 1, 0, 0, 0, 0],
            [0, 0, 0, 1, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0, 0],
        ]
    )
    a = module_hash(matrix, [I, C3, C1, MP, C3, C1, O])
    b = module_hash(matrix, [I, C3, C1, MP, C1, C3, O])
    c = module_hash(matrix, [I, C3, C1, MP, C1, C1, O])
    assert a == b != c


def test_network_stats_simple_cells():
    # input -> output only: one 1x1 projection per cell (128->128, 128->256, 256->512)
    stats = network_stats(np.array([[0, 1], [0, 0]]), [I, O])
    stem = 27 * 128 + 256
    cells = 3 * (128 * 128 + 256) + (128 * 256 + 512) + 2 * (256 * 256 + 512) + (256 * 512 + 1024) + 2 * (
        512 * 512 + 1024
    )
    assert stats["params"] == stem + cells + 512 * 10 + 10


# ---------------------------------------------------------------------------------- pruning
def test_prune_dangling_vertex(space):
    # vertex 1 has no input edge: dropped (as NAS-Bench-101's ModelSpec does)
    matrix = [[0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    arch = space.parse((matrix, [I, C1, C3, O]))
    assert arch.ops == (I, C3, O)
    assert space.format(arch) == ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [I, C3, O])
    assert space.hash(arch) == module_hash([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [I, C3, O])


def test_prune_vertex_not_reaching_output(space):
    # vertex 2 reads vertex 1 but feeds nothing: dropped
    matrix = [[0, 1, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    arch = space.parse((matrix, [I, C1, MP, O]))
    assert arch.ops == (I, C1, O)
    assert sorted(arch.edges) == [(0, 1), (1, 2)]
    pruned = prune_spec(np.array(matrix), [I, C1, MP, O])
    assert pruned[0].tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]


def test_disconnected_cell_rejected(space):
    matrix = [[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    with pytest.raises(ValueError, match="not connected to the output"):
        space.parse((matrix, [I, C1, C3, O]))
    assert prune_spec(np.array(matrix), [I, C1, C3, O]) is None


def test_edge_limit_applies_after_pruning(space):
    chain = np.zeros((7, 7), dtype=int)
    for s in range(6):
        chain[s, s + 1] = 1
    chain[0, 2] = chain[0, 3] = chain[1, 3] = 1
    assert chain.sum() == 9
    space.parse((chain, [I, C3, C3, C3, C3, C3, O]))
    too_many = chain.copy()
    too_many[0, 4] = 1
    with pytest.raises(ValueError, match="at most 9 edges"):
        space.parse((too_many, [I, C3, C3, C3, C3, C3, O]))
    # 10 edges, but vertex 5 reaches nothing: pruning leaves 8 (valid, as NASBench.is_valid)
    dangling = chain.copy()
    dangling[4, 5] = dangling[5, 6] = 0
    dangling[4, 6] = 1
    dangling[0, 5] = dangling[2, 5] = 1
    assert dangling.sum() == 10
    arch = space.parse((dangling, [I, C3, C3, C3, C3, MP, O]))
    assert arch.num_nodes == 6 and len(arch.edges) == 8 and MP not in arch.ops


# ---------------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    "encoding, message",
    [
        (([[0, 1, 0], [0, 0, 1]], [I, C3, O]), "must be square"),
        (([[0, 1], [1, 0]], [I, O]), "upper-triangular"),
        (([[1, 1], [0, 0]], [I, O]), "upper-triangular"),
        ((np.triu(np.ones((8, 8), int), 1), [I] + [C3] * 6 + [O]), "at most 7 vertices"),
        ((np.triu(np.ones((7, 7), int), 1), [I] + [C3] * 5 + [O]), "at most 9 edges"),
        (([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [I, "conv5x5", O]), "unknown NB101 op 'conv5x5'"),
        (([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [C3, C3, O]), "first NB101 op must be 'input'"),
        (([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [I, C3, C3]), "last NB101 op must be 'output'"),
        (([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [I, O]), "ops has 2 entries for a 3 x 3 matrix"),
        (([[0, 2], [0, 0]], [I, O]), "entries must be 0 or 1"),
        (([[0, 0, 0], [0, 0, 0], [0, 0, 0]], [I, C3, O]), "not connected to the output"),
        (([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [I, O, O]), "only the first vertex is 'input'"),
        ("not a cell", "encoding must be"),
        ({"matrix": [[0, 1], [0, 0]]}, "needs 'matrix' and 'ops'"),
    ],
)
def test_bad_inputs(space, encoding, message):
    with pytest.raises(ValueError, match=message):
        space.parse(encoding)


def test_foreign_graph_rejected(space):
    other = gnnnas.get_space("nb201").sample(0)
    with pytest.raises(ValueError, match="belongs to space"):
        space.format(other)


# ---------------------------------------------------------------------------------- vectorised hash
def test_intern_rows_fast_matches_exact():
    rng = np.random.default_rng(0)
    cols = [rng.integers(0, 4, size=5000) for _ in range(6)]
    fast_inv, fast_first = nbe._intern_rows(cols, 4)
    exact_inv, exact_first = nbe._intern_rows_exact(cols, 4)
    rows = np.stack(cols, axis=1)
    for inv, first in ((fast_inv, fast_first), (exact_inv, exact_first)):
        assert np.array_equal(rows[first][inv], rows)
        assert len(first) == len({tuple(r) for r in rows.tolist()})


@pytest.mark.parametrize("vertices, unique", [(2, 1), (3, 6), (4, 84), (5, 2441)])
def test_vectorised_hash_matches_reference(vertices, unique):
    mats = nbe._full_dag_matrices(vertices)
    labelings = np.array(
        list(itertools.product(range(3), repeat=vertices - 2)), dtype=np.int64
    ).reshape(3 ** (vertices - 2), vertices - 2)
    first, fingerprints = nbe._hash_group(mats, labelings)
    assert len(fingerprints) == unique
    expected: dict[str, int] = {}
    for m, matrix in enumerate(mats):
        for j, labeling in enumerate(labelings):
            h = module_hash(matrix, [-1] + labeling.tolist() + [-2])
            expected.setdefault(h, m * len(labelings) + j)
    assert dict(zip(fingerprints, first.tolist())) == expected


# ---------------------------------------------------------------------------------- sample / mutate
def test_sample_and_mutate_stay_in_space(space, nb101_enumeration):
    index = nb101_enumeration.index
    rng = np.random.default_rng(0)
    arch = space.sample(rng)
    for step in range(60):
        for a in (arch, space.sample(rng)):
            matrix, ops = space.format(a)
            assert len(ops) <= 7 and np.sum(matrix) <= 9
            assert space.parse((matrix, ops)) == a
            assert space.hash(a) in index
        child = space.mutate(arch, rng)
        assert space.hash(child) != space.hash(arch)
        arch = child
    assert space.sample(3) == space.sample(3)


def test_mutate_small_cell(space):
    arch = space.parse(([[0, 1], [0, 0]], [I, O]))
    child = space.mutate(arch, 0)
    assert space.hash(child) != space.hash(arch)


# ---------------------------------------------------------------------------------- enumeration
def test_enumeration(space, nb101_enumeration, data_root, monkeypatch):
    enum = nb101_enumeration
    assert len(enum) == 423_624
    assert len(set(enum.hashes.tolist())) == 423_624
    counts = np.bincount(enum.num_vertices, minlength=8)
    assert counts[2:].tolist() == [1, 6, 84, 2441, 62010, 359082]
    # cached: a second load reads the cache file (no enumeration) and is identical
    nbe._MEMO.clear()
    monkeypatch.setattr(nbe, "enumerate_nb101", lambda **_: pytest.fail("enumerated again instead of reading the cache"))
    again = nbe.load_enumeration()
    assert np.array_equal(again.hashes, enum.hashes) and np.array_equal(again.matrices, enum.matrices)
    # rows rebuild their own hash; enumerate() yields ArchGraphs of the space
    for i in (0, 1, 100, 5000, 423_623):
        matrix, labels = enum.spec(i)
        assert module_hash(matrix, labels) == enum.hashes[i].decode()
        assert space.hash(space.from_row(enum, i)) == enum.hashes[i].decode()
    first = next(space.enumerate())
    assert first.ops == (I, O)
    # every hash of the 20k file is an NB101 cell
    root = data_root(FILE_20K)
    with open(root / FILE_20K) as handle:
        keys = json.load(handle)["key"]
    assert len(keys) == 20_001
    assert (enum.rows(keys) >= 0).all()


def test_enumeration_canonical_specs_match_1k_file(nb101_enumeration, data_root):
    table, cells = _load_1k(data_root(FILE_1K))
    for key, (matrix, ops) in zip(table["key"], cells):
        got_matrix, got_labels = nb101_enumeration.spec(nb101_enumeration.row(key))
        assert got_matrix == matrix and [_NAMES[x] for x in got_labels] == ops


# ---------------------------------------------------------------------------------- data files
def test_1k_file_hash_round_trip_params(space, data_root):
    table, cells = _load_1k(data_root(FILE_1K))
    assert len(cells) == 1000
    for key, params, cell in zip(table["key"], table["trainable_parameters"], cells):
        arch = space.parse(cell)
        assert space.hash(arch) == key
        assert space.parse(space.format(arch)) == arch
        assert arch.macro["params"] == params


def test_500_file_round_trip(space, data_root):
    from gnnnas.data.nb101 import parse_naslib_key

    root = data_root(FILE_500)
    with open(root / FILE_500) as handle:
        table = json.load(handle)["nasbench101"]["cifar10"]
    assert len(table) == 500
    for key, record in table.items():
        arch = space.parse(parse_naslib_key(key))
        assert space.parse(space.format(arch)) == arch
        assert arch.num_nodes <= 7 and len(arch.edges) <= 9
        assert arch.macro["params"] == pytest.approx(record["params"] * 1e6, abs=0.5)
        assert arch.macro["flops"] == pytest.approx(record["flops"] * 1e6, abs=0.5)
