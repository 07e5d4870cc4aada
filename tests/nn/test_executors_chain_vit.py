"""Executors of the macro (layer chain) and ViT spaces: shapes, gradients, per-arch references."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import gnnnas
from gnnnas.nn.executors import get_executor, list_executors
from gnnnas.nn.executors.chain import ChainExecutor, parse_block
from gnnnas.nn.executors.vit import ViTExecutor
from gnnnas.nn.featurize import GraphFeaturizer
from gnnnas.nn.hypernet import HyperNetworkHead
from gnnnas.spaces.macro import MacroSpace
from gnnnas.spaces.vit import ViTSpace

EMBED = 16


def featurize(space, archs, contract=True):
    k = archs[0].node_features.shape[1]
    fz = GraphFeaturizer(space.vocab, node_feature_dim=k, prune=True, contract_identities=contract).fit(archs)
    return fz.transform(archs)


def kept_ops(arch, contract):
    """(op, raw features) of the nodes the featurizer keeps, in batch-position order (from 1)."""
    return [
        (op, feat)
        for op, feat in zip(arch.ops, arch.node_features)
        if not (contract and op in arch.vocab.identity)
    ]


def node_embeddings(archs, contract, seed=0):
    """``[B, N, EMBED]`` embeddings, each arch's rows drawn from its own seed (batch-independent)."""
    rows = []
    for i, arch in enumerate(archs):
        g = torch.Generator().manual_seed(seed * 1000 + i)
        rows.append(torch.randn(1 + len(kept_ops(arch, contract)), EMBED, generator=g))
    out = torch.zeros(len(archs), max(len(r) for r in rows), EMBED)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def run(executor, space, archs, images, contract=True, seed=0, emb=None):
    torch.manual_seed(123)
    head = HyperNetworkHead(EMBED, executor.weight_specs(), hidden_dim=32)
    batch = featurize(space, archs, contract)
    if emb is None:
        emb = node_embeddings(archs, contract, seed)
    weights = head(emb)
    return executor(batch, weights, head.unpack, images), weights, head, batch


def node_weights(head, weights, label, b, p):
    return {k: v[0] for k, v in head.unpack(label, weights[label][b, p][None]).items()}


def bn(t):
    return F.batch_norm(t, None, None, training=True)


# ---------------------------------------------------------------------- macro references
def macro_reference(ex, arch, weights, head, b, images, contract=True):
    """One arch, plain torch: stem -> blocks in chain order -> ReLU, pooling, classifier."""
    x = F.relu6(bn(F.conv2d(images, ex.stem, padding=1)))
    c = ex.width
    for p, (op, feat) in enumerate(kept_ops(arch, contract), start=1):
        if op in ("input", "output") or op in arch.vocab.identity:
            continue
        kind, k, e = parse_block(op)
        stride = int(feat[0])
        w = node_weights(head, weights, op, b, p)
        if kind == "conv":
            x = torch.relu(bn(F.conv2d(x, w["weight"], stride=stride, padding=k // 2)))
            continue
        h = F.relu6(bn(F.conv2d(x, w["expand"]))) if e != 1 else x
        h = F.relu6(bn(F.conv2d(h, w["dw"], stride=stride, padding=k // 2, groups=e * c)))
        h = bn(F.conv2d(h, w["project"]))
        x = h + x if stride == 1 else h
    return ex.classifier(F.adaptive_avg_pool2d(torch.relu(x), 2).flatten(1))


def macro_archs(space, count, seed=0):
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(count)]


MACRO_SPACES = {
    "default": lambda: MacroSpace(),
    # three downsamplings: 8x8 proxy images end at 1x1
    "three_downsamplings": lambda: MacroSpace(
        num_layers=7, downsample_at=(1, 3, 5), channels=(8, 16, 32, 64), image_size=8
    ),
    # other block labels: e == 1 (no expansion), a 7x7 kernel, a plain convolution
    "user_blocks": lambda: MacroSpace(choices=("identity", "mbconv_k3_e1", "mbconv_k7_e2", "conv_k3")),
}


def test_registry():
    assert {"macro", "vit"} <= set(list_executors())
    macro = get_executor("macro", gnnnas.get_space("macro").vocab, in_channels=1, num_classes=10)
    vit = get_executor("vit", gnnnas.get_space("vit").vocab, in_channels=1, num_classes=10, width=4)
    assert isinstance(macro, ChainExecutor) and macro.width == 8
    assert isinstance(vit, ViTExecutor) and vit.width == 4


def test_macro_weight_specs():
    ex = ChainExecutor(MacroSpace().vocab, 1, 10, width=8)
    specs = {op: {s.name: s.shape for s in spec} for op, spec in ex.weight_specs().items()}
    assert specs == {
        "mbconv_k3_e3": {"expand": (24, 8, 1, 1), "dw": (24, 1, 3, 3), "project": (8, 24, 1, 1)},
        "mbconv_k5_e6": {"expand": (48, 8, 1, 1), "dw": (48, 1, 5, 5), "project": (8, 48, 1, 1)},
    }
    user = ChainExecutor(MACRO_SPACES["user_blocks"]().vocab, 3, 10, width=4)
    assert {s.name for s in user.weight_specs()["mbconv_k3_e1"]} == {"dw", "project"}
    assert user.weight_specs()["conv_k3"][0].shape == (4, 4, 3, 3)
    with pytest.raises(ValueError, match="no chain implementation"):
        ChainExecutor(MacroSpace(choices=("identity", "mystery_block")).vocab, 1, 10)


@pytest.mark.parametrize("contract", [True, False])
@pytest.mark.parametrize("space_name", sorted(MACRO_SPACES))
def test_macro_forward_matches_reference(space_name, contract):
    space = MACRO_SPACES[space_name]()
    torch.manual_seed(0)
    ex = ChainExecutor(space.vocab, 1, 10, width=4)
    archs = macro_archs(space, 6, seed=1)
    images = torch.randn(5, 1, 8, 8)
    logits, weights, head, batch = run(ex, space, archs, images, contract)
    assert logits.shape == (6, 5, 10)
    assert torch.isfinite(logits).all()
    if contract and space_name == "default":
        # identities were contracted away: archs downsample at different positions
        stride_pos = {
            tuple(torch.nonzero(batch.features[i, :, 0] == 2).squeeze(1).tolist()) for i in range(6)
        }
        assert len(stride_pos) > 1
    for b, arch in enumerate(archs):
        ref = macro_reference(ex, arch, weights, head, b, images, contract)
        torch.testing.assert_close(logits[b], ref, atol=1e-4, rtol=1e-4)


def test_macro_batch_independence():
    space = MacroSpace()
    torch.manual_seed(0)
    ex = ChainExecutor(space.vocab, 1, 10, width=4)
    archs = macro_archs(space, 8, seed=3)
    # mixed: one without any identity, one with as many as allowed
    archs += [space.parse("12121212"), space.parse("00010010")]
    assert len({sum(op == "identity" for op in a.ops) for a in archs}) > 2
    images = torch.randn(4, 1, 8, 8)
    emb = node_embeddings(archs, True)
    together, *_ = run(ex, space, archs, images, emb=emb)
    for b, arch in enumerate(archs):
        alone, *_ = run(ex, space, [arch], images, emb=emb[b : b + 1, : 1 + len(kept_ops(arch, True))])
        torch.testing.assert_close(together[b], alone[0], atol=1e-5, rtol=1e-5)


def test_macro_gradients():
    space = MacroSpace()
    ex = ChainExecutor(space.vocab, 1, 10, width=4)
    archs = macro_archs(space, 4, seed=2)
    emb = node_embeddings(archs, True).requires_grad_(True)
    logits, _, _, batch = run(ex, space, archs, torch.randn(6, 1, 8, 8), emb=emb)
    F.cross_entropy(logits.reshape(-1, 10), torch.randint(10, (24,))).backward()
    parametric = batch.mask & (batch.op >= space.vocab.index("mbconv_k3_e3"))
    parametric[:, 0] = False
    assert (emb.grad.abs().sum(-1)[parametric] > 0).all()
    assert (emb.grad[~parametric] == 0).all()
    assert ex.stem.grad is not None and ex.classifier.weight.grad.abs().sum() > 0


def test_macro_mismatched_downsamplings_rejected():
    a = MacroSpace(num_layers=4, downsample_at=(1,), channels=(8, 16))
    b = MacroSpace(num_layers=4, downsample_at=(1, 3), channels=(8, 16, 32))
    archs = [a.sample(0), b.parse("1111")]
    ex = ChainExecutor(a.vocab, 1, 10, width=4)
    with pytest.raises(ValueError, match="same number of times"):
        run(ex, a, archs, torch.randn(3, 1, 8, 8))


# ---------------------------------------------------------------------- ViT references
def vit_reference(ex, arch, weights, head, b, images):
    """One arch, plain torch, with its weights SLICED to its own sizes (no masking)."""
    cols = {n: i for i, n in enumerate(ViTSpace.node_feature_names)}
    feats = arch.node_features
    d = math.floor(float(feats[0, cols["embed_dim"]]) * ex.width / 64 + 0.5)
    hd, hmax, dmax = ex.width, ex.max_heads, ex.dim
    if images.shape[-1] >= 16:
        images = F.avg_pool2d(images, 2)
    grid = F.conv2d(images, ex.patch[:d], ex.patch_bias[:d], stride=2)
    grid = grid + F.conv2d(grid, ex.pos[:d], ex.pos_bias[:d], padding=1, groups=d)
    x = grid.flatten(2).transpose(1, 2)  # [I, T, d]
    n_img, t = x.shape[:2]
    for p, (op, feat) in enumerate(zip(arch.ops, feats), start=1):
        if op not in ("attention", "mlp"):
            continue
        w = node_weights(head, weights, op, b, p)
        h = F.layer_norm(x, (d,))
        if op == "attention":
            nh = int(feat[cols["num_heads"]])
            qkv = w["qkv"].view(3, hmax, hd, dmax)[:, :nh, :, :d].reshape(3 * nh * hd, d)
            q, k, v = (h @ qkv.T).view(n_img, t, 3, nh, hd).permute(2, 0, 3, 1, 4)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), -1) @ v  # [I, H, T, hd]
            proj = w["proj"][:d].view(d, hmax, hd)[:, :nh].reshape(d, nh * hd)
            x = x + att.transpose(1, 2).reshape(n_img, t, nh * hd) @ proj.T
        else:
            hidden = int(d * float(feat[cols["mlp_ratio"]]))
            x = x + F.gelu(h @ w["fc1"][:hidden, :d].T) @ w["fc2"][:d, :hidden].T
    x = F.layer_norm(x, (d,)).mean(1)
    return x @ ex.classifier.weight[:, :d].T + ex.classifier.bias


def vit_archs(space, count, seed=0):
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(count)]


def test_vit_weight_specs_and_sizes():
    ex = ViTExecutor(ViTSpace().vocab, 1, 10, width=8)
    assert ex.dim == 30 and ex.max_heads == 4 and ex.hidden == 120
    specs = {op: {s.name: s.shape for s in spec} for op, spec in ex.weight_specs().items()}
    assert specs == {
        "attention": {"qkv": (96, 30), "proj": (30, 32)},
        "mlp": {"fc1": (120, 30), "fc2": (30, 120)},
    }
    space = ViTSpace()
    arch = space.parse({"hidden_dim": 216, "depth": 12, "mlp_ratio": [3.5] * 12, "num_heads": [3] * 12})
    dims, heads, hidden = ex.arch_sizes(featurize(space, [arch]))
    assert dims.tolist() == [27]
    assert heads[0, 2].item() == 3 and hidden[0, 3].item() == 94  # int(27 * 3.5)


@pytest.mark.parametrize("image_size, channels", [(8, 1), (16, 3)])
def test_vit_forward_matches_reference(image_size, channels):
    space = ViTSpace()
    torch.manual_seed(0)
    ex = ViTExecutor(space.vocab, channels, 10, width=4)
    with torch.no_grad():  # a non-trivial positional convolution
        ex.pos.normal_()
        ex.patch_bias.normal_()
    archs = vit_archs(space, 5, seed=4)
    assert len({a.num_nodes for a in archs}) > 1 and len({a.node_features[0, 0] for a in archs}) > 1
    images = torch.randn(3, channels, image_size, image_size)
    logits, weights, head, _ = run(ex, space, archs, images, contract=True)
    assert logits.shape == (5, 3, 10)
    assert torch.isfinite(logits).all()
    for b, arch in enumerate(archs):
        ref = vit_reference(ex, arch, weights, head, b, images)
        torch.testing.assert_close(logits[b], ref, atol=1e-4, rtol=1e-4)


def test_vit_batch_independence():
    space = ViTSpace()
    torch.manual_seed(0)
    ex = ViTExecutor(space.vocab, 1, 10, width=4)
    archs = vit_archs(space, 6, seed=5)
    assert len({a.num_nodes for a in archs}) > 1
    images = torch.randn(4, 1, 8, 8)
    emb = node_embeddings(archs, True)
    together, *_ = run(ex, space, archs, images, emb=emb)
    for b, arch in enumerate(archs):
        alone, *_ = run(ex, space, [arch], images, emb=emb[b : b + 1, : 1 + arch.num_nodes])
        torch.testing.assert_close(together[b], alone[0], atol=1e-5, rtol=1e-5)


def test_vit_gradients():
    space = ViTSpace(depths=(2, 3))
    ex = ViTExecutor(space.vocab, 1, 10, width=4)
    archs = vit_archs(space, 4, seed=6)
    emb = node_embeddings(archs, True).requires_grad_(True)
    logits, _, _, batch = run(ex, space, archs, torch.randn(5, 1, 8, 8), emb=emb)
    F.cross_entropy(logits.reshape(-1, 10), torch.randint(10, (20,))).backward()
    parametric = batch.mask & (batch.op >= space.vocab.index("attention"))
    parametric[:, 0] = False
    assert (emb.grad.abs().sum(-1)[parametric] > 0).all()
    assert (emb.grad[~parametric] == 0).all()
    for p in (ex.patch, ex.pos, ex.classifier.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_vit_too_large_choices_rejected():
    space = ViTSpace(num_heads=(4, 6))
    ex = ViTExecutor(space.vocab, 1, 10, width=4)
    arch = space.parse({"hidden_dim": 192, "depth": 12, "mlp_ratio": [4.0] * 12, "num_heads": [6] * 12})
    with pytest.raises(ValueError, match="max_heads"):
        run(ex, space, [arch], torch.randn(2, 1, 8, 8))
    big = ViTExecutor(space.vocab, 1, 10, width=4, max_heads=6)
    logits, *_ = run(big, space, [arch], torch.randn(2, 1, 8, 8))
    assert logits.shape == (1, 2, 10)
