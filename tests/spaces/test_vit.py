import json

import numpy as np
import pytest

import gnnnas
from gnnnas.spaces.vit import ViTSpace

FILES = ("vit/autoformer_ti_100a.json", "vit/autoformer_ti_100b.json")
ARCH = {
    "hidden_dim": 192,
    "depth": 12,
    "mlp_ratio": [3.5, 4.0, 3.5, 4.0, 3.5, 3.5, 4.0, 3.5, 4.0, 4.0, 4.0, 3.5],
    "num_heads": [4, 4, 3, 4, 3, 3, 4, 4, 3, 3, 3, 4],
}


@pytest.fixture(scope="module")
def space():
    return gnnnas.get_space("vit")


@pytest.fixture(scope="module")
def file_archs(data_root):
    root = data_root(*FILES)
    archs = []
    for name in FILES:
        with open(root / name) as handle:
            archs.extend(r["arch"] for r in json.load(handle))
    return archs


def test_layout_and_features(space):
    arch = space.parse(ARCH)
    assert arch.ops == ("input",) + ("attention", "mlp") * 12 + ("output",)
    assert arch.edges == tuple((i, i + 1) for i in range(25))
    names = arch.node_feature_names
    assert names == ("embed_dim", "num_heads", "qkv_dim", "mlp_ratio", "mlp_hidden")
    f = arch.node_features
    assert (f[:, 0] == 192).all()
    assert f[1, names.index("num_heads")] == 4 and f[1, names.index("qkv_dim")] == 256
    assert f[2, names.index("mlp_ratio")] == 3.5 and f[2, names.index("mlp_hidden")] == 672
    assert f[2, names.index("num_heads")] == 0
    for key in ("hidden_dim", "depth", "params", "flops", "num_parametric_ops"):
        assert key in arch.macro
    assert arch.macro["depth"] == 12 and arch.macro["num_parametric_ops"] == 24
    data = arch.to_pyg()
    assert data.num_nodes == 27


def test_params_match_autoformer_ti():
    space = ViTSpace()
    # AutoFormer-Ti (embed 192, depth 13): published 5.7 M params and 1.3 GFLOPs
    params, flops = space.cost(192, [3.5] * 13, [3] * 13)
    assert params == 5_681_800
    assert flops == 1_261_323_648  # multiply-accumulates at 224 px, patch 16
    assert flops == pytest.approx(1.3e9, rel=0.05)
    # ViT-Ti/16 as a sanity check (DeiT-Ti: 5.72 M params, 1.26 GFLOPs)
    deit = ViTSpace(embed_dims=[192], depths=[12], mlp_ratios=[4.0], num_heads=[3])
    params, flops = deit.cost(192, [4.0] * 12, [3] * 12)
    assert params == 5_717_416
    assert flops == pytest.approx(1.26e9, rel=0.02)


def test_roundtrip_every_file_arch(space, file_archs):
    assert len(file_archs) == 200
    for enc in file_archs:
        arch = space.parse(enc)
        assert space.format(arch) == enc
        assert space.parse(space.format(arch)) == arch
    hashes = {space.parse(enc).canonical_hash() for enc in file_archs}
    assert len(hashes) == 200


@pytest.mark.parametrize(
    "patch, match",
    [
        ({"depth": 13}, "mlp_ratio has 12 entries for depth 13"),
        ({"num_heads": [4] * 11}, "num_heads has 11 entries for depth 12"),
        ({"hidden_dim": 200}, "hidden_dim 200 is not a choice"),
        ({"hidden_dim": 192.0}, "hidden_dim must be an int"),
        ({"depth": 15, "mlp_ratio": [4.0] * 15, "num_heads": [4] * 15}, "depth 15 is not a choice"),
        ({"mlp_ratio": [3.0] + ARCH["mlp_ratio"][1:]}, "mlp_ratio\\[0\\] = 3.0 is not a choice"),
        ({"num_heads": ARCH["num_heads"][:11] + [5]}, "num_heads\\[11\\] = 5 is not a choice"),
        ({"num_heads": [True] * 12}, "num_heads\\[0\\] = True"),
        ({"num_heads": [4.0] * 12}, "num_heads\\[0\\] = 4.0 must be an int"),
        ({"mlp_ratio": [None] * 12}, "mlp_ratio\\[0\\] = None must be a number"),
        ({"mlp_ratio": "4.0"}, "mlp_ratio must be a list"),
        ({"extra": 1}, "unknown \\['extra'\\]"),
    ],
)
def test_parse_errors(space, patch, match):
    with pytest.raises(ValueError, match=match):
        space.parse({**ARCH, **patch})


def test_parse_errors_structure(space):
    with pytest.raises(ValueError, match="must be a dict"):
        space.parse([192, 12])
    with pytest.raises(ValueError, match="missing \\['depth'\\]"):
        space.parse({k: v for k, v in ARCH.items() if k != "depth"})


def test_size_and_enumerate(space):
    assert space.size == 3 * (4**12 + 4**13 + 4**14) == 1_056_964_608
    assert isinstance(space.size, int)
    with pytest.raises(TypeError, match="too many to enumerate"):
        space.enumerate()
    small = ViTSpace(embed_dims=[192], depths=[2, 3], mlp_ratios=[4.0], num_heads=[3, 4])
    assert small.size == 2**2 + 2**3


def test_sample_and_mutate_stay_in_space(space):
    rng = np.random.default_rng(0)
    for _ in range(200):
        arch = space.sample(rng)
        enc = space.format(arch)
        assert space.parse(enc) == arch  # passes every check
        child = space.mutate(arch, rng)
        new = space.format(child)
        assert new != enc
        assert space.parse(new) == child
        changed = (new["hidden_dim"] != enc["hidden_dim"]) + (new["depth"] != enc["depth"])
        common = min(enc["depth"], new["depth"])
        changed += sum(a != b for a, b in zip(enc["mlp_ratio"][:common], new["mlp_ratio"][:common]))
        changed += sum(a != b for a, b in zip(enc["num_heads"][:common], new["num_heads"][:common]))
        assert changed == 1
    assert space.format(space.sample(5)) == space.format(space.sample(5))
    single = ViTSpace(embed_dims=[192], depths=[12], mlp_ratios=[4.0], num_heads=[3])
    with pytest.raises(ValueError, match="single architecture"):
        single.mutate(single.sample(0))


def test_custom_choices():
    space = ViTSpace(embed_dims=[64, 128], depths=[2], mlp_ratios=[2, 4], num_heads=[1, 2], num_classes=10)
    arch = space.parse({"hidden_dim": 64, "depth": 2, "mlp_ratio": [2, 4], "num_heads": [1, 2]})
    assert space.format(arch) == {"hidden_dim": 64, "depth": 2, "mlp_ratio": [2.0, 4.0], "num_heads": [1, 2]}
    odd = ViTSpace(mlp_ratios=[3.3, 3.7])
    enc = {**ARCH, "mlp_ratio": [3.3] * 12}
    assert odd.format(odd.parse(enc)) == enc
    with pytest.raises(ValueError, match="hidden_dim 192 is not a choice"):
        space.parse(ARCH)
    with pytest.raises(ValueError, match="without duplicates"):
        ViTSpace(depths=[12, 12])
