import itertools

import numpy as np
import pytest
from conftest import need_module

import gnnnas
from gnnnas.spaces.nasbench_graph import NBG_LINKS, NBG_OPS, NBG_PROTEINS_OPS, NASBenchGraphSpace

README_ARCH = ([0, 1, 2, 1], ["gcn", "gin", "fc", "cheb"])  # the NAS-Bench-Graph README example


def need_package():
    """The nas_bench_graph package, or skip (fail under CI=true, where every test must run)."""
    return need_module("nas_bench_graph", "pip install nas-bench-graph")


@pytest.fixture(scope="module")
def space():
    return gnnnas.get_space("nasbench_graph")


@pytest.fixture(scope="module")
def archs(space):
    return list(space.enumerate())


def all_raw_encodings():
    """Every well-formed (link, ops): 24 link patterns x 9^4 ops, minus all-skip."""
    links = itertools.product(*[range(i + 1) for i in range(4)])
    for link in links:
        for ops in itertools.product(NBG_OPS, repeat=4):
            if set(ops) != {"skip"}:
                yield list(link), list(ops)


def test_registry_and_size(space):
    assert "nasbench_graph" in gnnnas.list_spaces()
    assert isinstance(space, NASBenchGraphSpace)
    assert space.size == 26_206
    assert gnnnas.get_space("nasbench_graph", ops=NBG_PROTEINS_OPS).size == 2_021
    assert gnnnas.get_space("nasbench_graph", ops="proteins").ops == NBG_PROTEINS_OPS
    with pytest.raises(ValueError, match="or 'proteins'"):
        gnnnas.get_space("nasbench_graph", ops="citeseer")
    with pytest.raises(ValueError, match="unknown NAS-Bench-Graph ops"):
        gnnnas.get_space("nasbench_graph", ops=["gcn", "conv3x3"])
    with pytest.raises(ValueError, match="other than 'skip'"):
        gnnnas.get_space("nasbench_graph", ops=["skip"])


def test_graph_layout(space):
    arch = space.parse(README_ARCH)
    # canonical form: node 2 and 4 of the README swap places
    assert space.format(arch) == ((0, 1, 1, 2), ("gcn", "gin", "cheb", "fc"))
    assert arch.ops == ("input", "gcn", "gin", "cheb", "fc", "output")
    assert sorted(arch.edges) == [(0, 1), (1, 2), (1, 3), (2, 4), (3, 5), (4, 5)]
    assert space.key(arch) == space.key(README_ARCH) == 61_237
    assert arch.macro == {
        "num_op_nodes": 4, "num_parametric_ops": 4, "num_message_passing": 3,
        "num_skip": 0, "num_outputs": 2, "depth": 3,
    }
    data = arch.to_pyg()
    assert data.num_nodes == 7
    # a chain of skips feeding convolutions: skips are identities, the leaf reaches the output
    chain = space.parse(([0, 1, 2, 3], ["skip", "skip", "gcn", "gcn"]))
    assert chain.macro["depth"] == 2 and chain.macro["num_outputs"] == 1
    assert chain.num_parametric_ops == 2


def test_roundtrip_whole_space(space, archs):
    members = space.members
    assert len(archs) == len(members) == len(set(members)) == 26_206
    for enc, arch in zip(members, archs):
        assert space.format(arch) == enc
        assert space.format(space.parse(enc)) == enc
        assert space.parse(space.format(arch)) == arch
        assert enc[0] in NBG_LINKS
        assert space.contains(enc)
    keys = [space.key(enc) for enc in members]
    assert keys == sorted(keys)  # enumeration is in benchmark-key order
    assert [space.format(space.parse(k)) for k in keys[::97]] == list(members[::97])


def test_equivalent_encodings_share_one_representative(space):
    # leaves are unordered
    assert space.format(space.parse(([0, 0, 0, 0], ["gin", "gcn", "gat", "fc"]))) == (
        (0, 0, 0, 0), ("gat", "gcn", "gin", "fc"),
    )
    # an input-valued skip leaf is not aggregated: same class as a leading skip stub
    a = space.parse(([0, 0, 0, 0], ["gat", "gat", "gat", "skip"]))
    assert space.format(a) == ((0, 1, 1, 1), ("skip", "gat", "gat", "gat"))
    assert space.key(a) == 58_000
    assert not space.contains(([0, 0, 0, 0], ["gat", "gat", "gat", "skip"]))
    # a skip leaf of a node with no other child is the node itself being a leaf
    b = space.parse(([0, 1, 2, 3], ["gcn", "gcn", "gcn", "skip"]))
    assert space.format(b) == ((0, 1, 2, 3), ("skip", "gcn", "gcn", "gcn"))
    # dict and Arch-like objects
    enc = {"link": [0, 1, 2, 1], "ops": ["gcn", "gin", "fc", "cheb"]}
    assert space.parse(enc) == space.parse(README_ARCH)

    class ArchLike:
        link, ops = README_ARCH

    assert space.parse(ArchLike()) == space.parse(README_ARCH)


def test_every_raw_encoding_lands_in_the_space(space):
    classes = {space.canonical(enc) for enc in all_raw_encodings()}
    assert classes == set(space.members)


def test_canonical_hash_classes(space, archs):
    # the identity (computation graph) tells the 26,206 benchmark archs apart; the function hash is
    # coarser: it identifies two nodes with the same op and the same input (e.g. gat(x) + gat(x) +
    # gat(gat(x)) whether or not the chained gat shares its first layer with a leaf): 23,822
    assert len({a.canonical_hash() for a in archs}) == 26_206
    assert len({a.canonical_hash("function") for a in archs}) == 23_822
    assert len({a.canonical_hash("nb201") for a in archs}) == 23_822
    # every encoding of one benchmark arch has the same hash (parse canonicalises)
    h = space.parse(README_ARCH).canonical_hash()
    assert space.parse(([0, 1, 1, 2], ["gcn", "gin", "cheb", "fc"])).canonical_hash() == h


@pytest.mark.parametrize(
    "encoding, match",
    [
        ("gcn gcn gcn gcn", "must be \\(link, ops\\)"),
        (([0, 1, 2], ["gcn"] * 4), "link must be a list of 4 ints"),
        (([0, 1, 2, 4], ["gcn"] * 4), "link\\[3\\] = 4 is out of range"),
        (([1, 0, 0, 0], ["gcn"] * 4), "link\\[0\\] = 1 is out of range"),
        (([0, 0, 0, 0.5], ["gcn"] * 4), "link\\[3\\] must be an int"),
        (([0, 0, 0, 0], ["gcn"] * 3), "ops must be a list of 4 op names"),
        (([0, 0, 0, 0], ["gcn", "gcn", "gcn", "conv"]), "unknown NAS-Bench-Graph op 'conv'"),
        (([0, 0, 0, 0], ["skip"] * 4), "all four ops are 'skip'"),
        ({"link": [0, 0, 0, 0]}, "needs keys 'link' and 'ops'"),
        (99_999, "is not a NAS-Bench-Graph key"),
        (8, "not the benchmark's representative"),
    ],
)
def test_bad_encodings(space, encoding, match):
    with pytest.raises(ValueError, match=match):
        space.parse(encoding)


def test_foreign_archgraph_and_op_subset(space):
    nb201 = gnnnas.get_space("nb201").sample(0)
    with pytest.raises(ValueError, match="belongs to space 'nb201'"):
        space.format(nb201)
    proteins = gnnnas.get_space("nasbench_graph", ops=NBG_PROTEINS_OPS)
    with pytest.raises(ValueError, match="op 'gat' is not in this space's op set"):
        proteins.parse(([0, 0, 0, 0], ["gat", "gcn", "gcn", "gcn"]))


def test_sample_and_mutate_stay_inside(space):
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(300):
        arch = space.sample(rng)
        enc = space.format(arch)
        assert space.contains(enc)
        seen.add(enc)
        child = space.mutate(arch, rng)
        assert space.contains(space.format(child))
        assert space.format(child) != enc
    assert len(seen) > 290  # uniform over 26,206
    assert space.format(space.sample(5)) == space.format(space.sample(5))
    proteins = gnnnas.get_space("nasbench_graph", ops=NBG_PROTEINS_OPS)
    arch = proteins.sample(1)
    for _ in range(100):
        arch = proteins.mutate(arch, rng)
        assert set(proteins.format(arch)[1]) <= set(NBG_PROTEINS_OPS)
        assert proteins.contains(proteins.format(arch))


def test_agrees_with_the_package(space):
    nbg = need_package()
    keys = {space.key(enc) for enc in space.members}
    assert keys == set(nbg.light_read("cora"))
    assert {space.key(e) for e in space.members if set(e[1]) <= set(NBG_PROTEINS_OPS)} == set(
        nbg.light_read("proteins")
    )
    # the canonical form reproduces Arch.valid_hash() on every well-formed encoding
    for link, ops in all_raw_encodings():
        assert space.key((link, ops)) == nbg.Arch(list(link), list(ops)).valid_hash(), (link, ops)
    # the package's own test of a representative accepts ours
    assert all(nbg.Arch(list(lk), list(ops)).check_isomorph() for lk, ops in space.members[::25])
    arch = nbg.Arch([0, 1, 1, 2], ["gcn", "cheb", "gin", "fc"])
    assert space.key(arch) == arch.valid_hash()
    assert space.parse(arch) == space.parse(([0, 1, 1, 2], ["gcn", "cheb", "gin", "fc"]))
    assert tuple(nbg.gnn_list) == NBG_OPS and tuple(nbg.gnn_list_proteins) == NBG_PROTEINS_OPS
    assert [tuple(link) for link in nbg.link_list] == list(NBG_LINKS)
