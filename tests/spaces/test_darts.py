import json
from collections import namedtuple

import numpy as np
import pytest

import gnnnas
from gnnnas.spaces.darts import DARTS_OPS, DartsSpace, format_key

FILE = "nb301/nb301_725_valid_acc.json"
KEY = (
    "[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], "
    "[(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]"
)
Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
DARTS_V2 = Genotype(
    normal=[
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0),
        ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1),
        ("skip_connect", 0),
        ("skip_connect", 0),
        ("dil_conv_3x3", 2),
    ],
    normal_concat=[2, 3, 4, 5],
    reduce=[
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 1),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
        ("max_pool_3x3", 0),
        ("skip_connect", 2),
        ("skip_connect", 2),
        ("max_pool_3x3", 1),
    ],
    reduce_concat=range(2, 6),
)


def _cells(key=KEY):
    return [list(c) for c in eval(key)]


@pytest.fixture(scope="module")
def space():
    return gnnnas.get_space("darts")


@pytest.fixture(scope="module")
def table(data_root):
    root = data_root(FILE)
    with open(root / FILE) as handle:
        return json.load(handle)["cifar10"]


def test_registry_and_layout(space):
    assert isinstance(space, DartsSpace) and "darts" in gnnnas.list_spaces()
    arch = space.parse(KEY)
    assert arch.num_nodes == 30
    assert arch.ops[:2] == ("input", "input") and arch.ops[14] == "output" and arch.ops[29] == "output"
    assert arch.ops[10:14] == ("sum",) * 4 and arch.ops[25:29] == ("sum",) * 4
    assert arch.ops[2] == "max_pool_3x3" and arch.ops[3] == "dil_conv_3x3"  # (0, 0), (1, 5)
    assert arch.cell == (0,) * 15 + (1,) * 15
    assert arch.cell_sequence == (0, 0, 1, 0, 0, 1, 0, 0)
    assert arch.vocab.output == "concat"
    # tensor 3 is the sum node 11 of op nodes 4 and 5; normal edge 7 = (3, 2) reads it
    assert {s for s, d in arch.edges if d == 11} == {4, 5}
    assert {s for s, d in arch.edges if d == 9} == {11}
    assert {s for s, d in arch.edges if d == 4} == {1}  # edge 2 = (1, 1) reads input 1
    # the output concatenates the 4 intermediate tensors
    assert {s for s, d in arch.edges if d == 14} == {10, 11, 12, 13}
    # two components: nothing crosses between the cells
    assert all(arch.cell[s] == arch.cell[d] for s, d in arch.edges)
    for name in (
        "num_cells",
        "reduction_cells",
        "init_channels",
        "num_parametric_ops",
        "depth",
        "params",
        "flops",
    ):
        assert name in arch.macro
    assert arch.macro["num_cells"] == 8 and arch.macro["reduction_cells"] == 2
    assert arch.macro["num_parametric_ops"] == arch.num_parametric_ops == 7
    data = arch.to_pyg()
    assert data.num_nodes == 31 and data.x.shape[0] == 31
    assert data.cell.tolist() == [0] * 15 + [1] * 15 + [-1]


def test_key_roundtrip_and_params_on_every_file_cell(space, table):
    assert len(table) == 725
    for key, record in table.items():
        arch = space.parse(key)
        assert format_key(space.format(arch)) == key
        assert space.format_key(arch) == key
        assert format_key(key) == key
        assert space.parse(space.format(arch)) == arch
        # NAS-Bench-301 network (C=32, 8 cells): params exactly, FLOPs up to a constant
        assert arch.macro["params"] == round(record["params"]["score"] * 1e6)
        assert arch.macro["flops"] - round(record["flops"]["score"] * 1e6) == -8704


def test_darts_v2_parameter_count():
    # DARTS (2nd order) evaluation network, C=36, 20 cells: 3.349342 M params as DARTS reports
    arch = DartsSpace(init_channels=36, layers=20, affine_ops=True).parse(DARTS_V2)
    assert arch.macro["params"] == 3_349_342
    assert arch.cell_sequence == tuple(int(i in (6, 13)) for i in range(20))


def test_genotype_forms(space):
    arch = space.parse(DARTS_V2)
    compact = space.format(arch)
    assert compact[0][0] == (0, DARTS_OPS.index("sep_conv_3x3"))
    as_dict = {"normal": list(DARTS_V2.normal), "reduce": list(DARTS_V2.reduce)}
    assert space.parse(as_dict) == arch
    assert space.parse([list(map(list, c)) for c in compact]) == arch
    genotype = space.to_genotype(arch)
    assert genotype["normal"] == list(DARTS_V2.normal) and genotype["reduce_concat"] == [2, 3, 4, 5]
    assert space.parse(genotype) == arch
    assert space.parse(arch) is arch


@pytest.mark.parametrize(
    "bad, match",
    [
        (42, "DARTS encoding must be"),
        ("[[(0, 0)], [(1, 0)]]", "the normal cell needs 8 \\(input, op\\) pairs, got 1"),
        ("[[(0, 0)]]", "2 cells"),
        ("[[(0, 0), (1, 5)], [(1, 0)], []]", "2 cells"),
        ("__import__('os')", "may only hold digits"),
        ("[[(0, 0), (1, 5)", "not a nested list"),
        (KEY.replace("(1, 5)", "(1, 7)", 1), "op index 7 out of range"),
        (KEY.replace("(0, 0)", "(2, 0)", 1), "input 2 of intermediate node 2 must be in 0..1"),
        (KEY.replace("(1, 5)", "(0, 5)", 1), "two inputs of intermediate node 2 must be distinct"),
        ([_cells()[0], [(0, "sep_conv_3x3")] * 8], "reduce edge 0 must be a pair of ints"),
        ([[(0, True)] * 8, _cells()[1]], "normal edge 0 must be a pair of ints"),
        ([[(0, 1, 2)] * 8, _cells()[1]], "must be an \\(input, op\\) pair"),
        ({"normal": DARTS_V2.normal}, "needs keys 'normal' and 'reduce'"),
        (
            {"normal": DARTS_V2.normal, "reduce": [("none", 0)] + DARTS_V2.reduce[1:]},
            "unknown DARTS op 'none'",
        ),
        ({"normal": DARTS_V2.normal, "reduce": [(0, "skip_connect")] * 8}, "\\(op_name, input\\) pair"),
        (DARTS_V2._replace(normal_concat=[2, 3, 4, 5, 6]), "normal_concat must be \\[2, 3, 4, 5\\]"),
        (DARTS_V2._replace(reduce=DARTS_V2.reduce[:7]), "the reduce cell needs 8"),
    ],
)
def test_parse_errors(space, bad, match):
    with pytest.raises(ValueError, match=match):
        space.parse(bad)


def test_format_rejects_foreign_and_pruned(space):
    nb201 = gnnnas.get_space("nb201").sample(0)
    with pytest.raises(ValueError, match="belongs to space 'nb201'"):
        space.format(nb201)
    other = gnnnas.ArchGraph(ops=["input", "output"], edges=[], vocab=space.vocab, space="darts")
    with pytest.raises(ValueError, match="pruned graph cannot be formatted"):
        space.format(other)


def test_canonical_hash(space):
    cells = _cells()
    swapped = [list(c) for c in cells]
    swapped[0][2], swapped[0][3] = swapped[0][3], swapped[0][2]  # node 3's two edges
    swapped[1][6], swapped[1][7] = swapped[1][7], swapped[1][6]  # reduce node 5
    a, b = space.parse(cells), space.parse(swapped)
    assert space.format(a) != space.format(b)
    assert a.canonical_hash() == b.canonical_hash()
    # the same cell used as normal vs reduce cell is a different network
    flipped = space.parse([cells[1], cells[0]])
    assert flipped.canonical_hash() != a.canonical_hash()
    # a changed op changes the hash
    changed = [list(c) for c in cells]
    changed[0][0] = (0, 1)
    assert space.parse(changed).canonical_hash() != a.canonical_hash()


def test_sample_and_mutate_stay_in_space(space):
    rng = np.random.default_rng(0)
    hashes = set()
    for _ in range(200):
        arch = space.sample(rng)
        compact = space.format(arch)
        assert space.parse(format_key(compact)) == arch  # valid: re-parses through every check
        hashes.add(arch.canonical_hash())
        child = space.mutate(arch, rng)
        new = space.format(child)
        diffs = [(c, k) for c in range(2) for k in range(8) if compact[c][k] != new[c][k]]
        assert len(diffs) == 1
        assert space.parse(new) == child
        assert child.canonical_hash() != arch.canonical_hash()
    assert len(hashes) == 200
    assert space.format(space.sample(3)) == space.format(space.sample(3))
    assert space.size is None
    with pytest.raises(TypeError):
        next(iter(space.enumerate()))
