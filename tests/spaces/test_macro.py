import numpy as np
import pytest

import gnnnas
from gnnnas.spaces.macro import MacroSpace


@pytest.fixture(scope="module")
def space():
    return gnnnas.get_space("macro")


def test_layout_and_features(space):
    assert space.layer_stride == [1, 1, 1, 2, 1, 1, 2, 1]
    arch = space.parse("01211212")
    assert arch.ops == (
        "input",
        "identity",
        "mbconv_k3_e3",
        "mbconv_k5_e6",
        "mbconv_k3_e3",
        "mbconv_k3_e3",
        "mbconv_k5_e6",
        "mbconv_k3_e3",
        "mbconv_k5_e6",
        "output",
    )
    assert arch.edges == tuple((i, i + 1) for i in range(9))
    assert arch.node_feature_names == ("stride", "in_channels", "out_channels")
    assert arch.node_features[4].tolist() == [2, 16, 32]  # layer 3
    assert arch.node_features[7].tolist() == [2, 32, 64]  # layer 6
    assert arch.node_features[1].tolist() == [1, 16, 16]
    m = arch.macro
    assert m["num_layers"] == 8 and m["stages"] == 3 and m["num_parametric_ops"] == 7
    assert m["params"] > 0 and m["flops"] > 0
    assert arch.to_pyg().num_nodes == 11


def test_block_costs():
    # one mbconv_k3_e3 layer, 8 -> 8 channels, 8x8 input, 2 classes
    space = MacroSpace(
        choices=["identity", "mbconv_k3_e3"],
        num_layers=1,
        downsample_at=[],
        channels=[8],
        stem_channels=8,
        num_classes=2,
        image_size=8,
    )
    stem_p, stem_f = 27 * 8 + 16, 27 * 8 * 64
    head_p, head_f = 8 * 2 + 2, 8 * 2
    mb_p = (8 * 24 + 48) + (9 * 24 + 48) + (24 * 8 + 16)
    mb_f = (8 * 24 + 9 * 24 + 24 * 8) * 64
    arch = space.parse("1")
    assert arch.macro["params"] == stem_p + mb_p + head_p
    assert arch.macro["flops"] == stem_f + mb_f + head_f
    assert space.parse("0").macro["params"] == stem_p + head_p


def test_identity_not_allowed_where_layer_reshapes(space):
    with pytest.raises(ValueError, match="layer 3 has stride 2 .*'identity' cannot be used"):
        space.parse("01201210")
    assert space.allowed[3] == (1, 2) and space.allowed[0] == (0, 1, 2)
    assert space.size == 3**6 * 2**2 == 2916


@pytest.mark.parametrize(
    "bad, match",
    [
        ("0121121", "needs 8 layers, got 7"),
        ("01211213x", "string of choice digits"),
        ("01211219", "layer 7: choice 9 out of range 0..2"),
        ("0121 212", "string of choice digits"),
        ([0, 1, 2, 1, 1, 2, 1, 2.0], "choice indices"),
        (12345678, "digit string or a sequence of ints"),
    ],
)
def test_parse_errors(space, bad, match):
    with pytest.raises(ValueError, match=match):
        space.parse(bad)


def test_bad_configuration():
    with pytest.raises(ValueError, match="one width per stage"):
        MacroSpace(channels=(16, 32))
    with pytest.raises(ValueError, match="1 to 10 choices"):
        MacroSpace(choices=[f"conv_k{k}" for k in range(1, 12)])
    with pytest.raises(ValueError, match="distinct layer indices"):
        MacroSpace(downsample_at=(3, 8))
    with pytest.raises(ValueError, match="every choice is an identity"):
        MacroSpace(choices=["identity"])


def test_enumerate_sample_mutate(space):
    archs = list(space.enumerate())
    strings = [space.format(a) for a in archs]
    assert len(strings) == len(set(strings)) == space.size
    assert strings == sorted(strings)
    assert all(space.parse(s) == a for s, a in zip(strings[:50], archs[:50]))
    rng = np.random.default_rng(0)
    allowed = set(strings)
    for _ in range(200):
        arch = space.sample(rng)
        s = space.format(arch)
        assert s in allowed
        child = space.format(space.mutate(arch, rng))
        assert child in allowed and sum(a != b for a, b in zip(s, child)) == 1
    assert space.format(space.sample(1)) == space.format(space.sample(1))
    assert space.parse([0, 1, 2, 1, 1, 2, 1, 2]) == space.parse("01211212")


def test_canonical_hash(space):
    # identity layers inside a stage pass through: swapping identity and a block of the same
    # stride and widths computes the same function
    a, b = space.parse("01211212"), space.parse("10211212")
    assert a.canonical_hash() == b.canonical_hash()
    assert a.canonical_hash() != space.parse("02211212").canonical_hash()
    # ... but not across a stage boundary (different widths)
    assert space.parse("11110121").canonical_hash() != space.parse("11011121").canonical_hash()


def test_user_blocks_without_costs():
    space = MacroSpace(
        choices=["identity", "my_block"], num_layers=4, downsample_at=[2], channels=[8, 16], stem_channels=8
    )
    arch = space.parse("0111")
    assert "params" not in arch.macro and arch.macro["num_parametric_ops"] == 3
    assert space.size == 2 * 2 * 1 * 2
    assert space.format(arch) == "0111"
