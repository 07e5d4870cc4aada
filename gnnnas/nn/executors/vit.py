"""Executor for the ViT (AutoFormer) space: a tiny vision transformer per architecture.

The generated network is the AutoFormer subnet scaled down uniformly by ``width / head_dim``
(``head_dim`` = 64 in AutoFormer), so every choice of the space stays visible:

- each attention head has ``width`` channels (8 by default), and an attention node runs its own
  number of heads (raw ``num_heads`` feature: 3 or 4 in AutoFormer-Ti -> Q/K/V width 24 or 32);
- the token dimension of an arch is ``d = round(embed_dim * width / head_dim)`` (raw
  ``embed_dim`` feature: 192 / 216 / 240 -> 24 / 27 / 30);
- an MLP node's hidden width is ``int(d * mlp_ratio)`` (raw ``mlp_ratio``: 3.5 / 4.0).

Like AutoFormer's weight entanglement, tensors are laid out for the largest subnet (token dim
``d_max``, ``max_heads`` heads, hidden ``int(d_max * max_mlp_ratio)``; by default the largest
choices of :class:`~gnnnas.spaces.vit.ViTSpace`), the hypernetwork emits weights of that size,
and a smaller arch uses the leading slice: its channels beyond ``d`` stay exactly zero, and its
output weights are masked so that heads beyond its count and hidden units beyond its width
contribute nothing. Masking (rather than grouping archs by head count and width) keeps one
batched matmul per (position, label); the result is the same as slicing, which the tests check
against a per-arch reference.

Skeleton (documented simplifications; all shared parameters, none generated):

- patch embedding: a 2x2 convolution with stride 2 (with bias) on the proxy images; images of
  side >= 16 are first average-pooled 2x2, i.e. patch 4 whose kernel is constant on 2x2 blocks
  (8x8 digits -> a 4x4 token grid, 32x32 -> 8x8). The factory signature carries no image size,
  so the parameter cannot depend on it;
- no class token (tokens are mean-pooled) and no learned position table (its size would depend on
  the image size): position comes from a depthwise 3x3 convolution on the token grid added once
  after the patch embedding (CPVT's conditional positional encoding);
- pre-norm blocks with residuals: an attention node is ``x + proj(attn(LN(x)))`` with generated
  ``qkv [3 * heads * width, d]`` and ``proj [d, heads * width]``, an MLP node
  ``x + fc2(gelu(fc1(LN(x))))`` with generated ``fc1 [hidden, d]`` and ``fc2 [d, hidden]``; no
  biases in generated layers; every LayerNorm is without affine part;
- a final LayerNorm, mean pooling over tokens, a shared linear classifier.

Archs of different depths run together: positions are walked in graph order and only the archs
having a node there run (grouped by label), the others keep their tokens.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gnnnas.graph import OpVocabulary
from gnnnas.nn.executors.base import NetworkExecutor, arch_input, gather_node_weights, register_executor
from gnnnas.nn.hypernet import WeightSpec
from gnnnas.spaces.vit import ViTSpace

__all__ = ["ViTExecutor"]

_DEFAULT_SPACE = ViTSpace()
_COLUMNS = {name: i for i, name in enumerate(ViTSpace.node_feature_names)}


class ViTExecutor(NetworkExecutor):
    """Patch embedding -> the arch's attention / MLP blocks -> LayerNorm, mean pooling, classifier.

    Args:
        vocab, in_channels, num_classes, width: see :class:`NetworkExecutor` (``width``: channels
            per attention head).
        max_embed_dim, max_heads, max_mlp_ratio: largest choices of the space (raw units), which
            size the generated weights (default: AutoFormer-Ti's 240, 4, 4.0).
        head_dim: channels per head of the real space (64): raw widths are scaled by
            ``width / head_dim``.
        feature_columns: column of each raw node feature in ``batch.features`` (default: the
            order of :attr:`ViTSpace.node_feature_names`).
    """

    def __init__(
        self,
        vocab: OpVocabulary,
        in_channels: int,
        num_classes: int,
        width: int = 8,
        max_embed_dim: int = max(_DEFAULT_SPACE.embed_dims),
        max_heads: int = max(_DEFAULT_SPACE.num_heads),
        max_mlp_ratio: float = max(_DEFAULT_SPACE.mlp_ratios),
        head_dim: int = _DEFAULT_SPACE.head_dim,
        feature_columns: dict[str, int] | None = None,
    ) -> None:
        super().__init__(vocab, in_channels, num_classes, width)
        unknown = [op for op in vocab.ops if op not in ("attention", "mlp") and op not in vocab.identity]
        if unknown:
            raise ValueError(f"no ViT implementation for ops {unknown} (known: attention, mlp, identity ops)")
        self.scale = self.width / float(head_dim)
        self.dim = self._token_dim(max_embed_dim)
        self.max_heads = int(max_heads)
        self.max_mlp_ratio = float(max_mlp_ratio)
        self.hidden = int(self.dim * self.max_mlp_ratio)
        if self.dim < 1 or self.max_heads < 1 or self.hidden < 1:
            raise ValueError("ViT executor sizes must be positive")
        self.columns = dict(_COLUMNS if feature_columns is None else feature_columns)
        d = self.dim
        patch_in = self.in_channels * 4
        self.patch = nn.Parameter(torch.randn(d, self.in_channels, 2, 2) * (1.0 / patch_in) ** 0.5)
        self.patch_bias = nn.Parameter(torch.zeros(d))
        self.pos = nn.Parameter(torch.randn(d, 1, 3, 3) * (1.0 / 9) ** 0.5 * 0.1)
        self.pos_bias = nn.Parameter(torch.zeros(d))
        self.classifier = nn.Linear(d, self.num_classes)

    def _token_dim(self, embed_dim: float) -> int:
        return math.floor(float(embed_dim) * self.scale + 0.5)

    def weight_specs(self) -> dict[str, tuple[WeightSpec, ...]]:
        d, q, h = self.dim, self.max_heads * self.width, self.hidden
        specs = {
            "attention": (WeightSpec("qkv", (3 * q, d)), WeightSpec("proj", (d, q))),
            "mlp": (WeightSpec("fc1", (h, d)), WeightSpec("fc2", (d, h))),
        }
        return {op: s for op, s in specs.items() if op in self.vocab.ops}

    # -------------------------------------------------------------- per-arch sizes
    def arch_sizes(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Token dim ``[B]``, heads ``[B, N]`` and MLP hidden width ``[B, N]`` in executor units."""
        if batch.features is None:
            raise ValueError(
                "the ViT executor reads dims, heads and MLP ratios from batch.features; the batch has none"
            )
        feats = batch.features
        embed = feats[..., self.columns["embed_dim"]].amax(1)
        dims = torch.floor(embed * self.scale + 0.5).long()
        heads = feats[..., self.columns["num_heads"]].round().long()
        # int(d * r) as AutoFormer; the small epsilon guards float32 ratios such as 3.5
        hidden = torch.floor(
            dims[:, None].to(torch.float64) * feats[..., self.columns["mlp_ratio"]].double() + 1e-6
        )
        hidden = hidden.long()
        if bool((dims > self.dim).any()) or bool((dims < 1).any()):
            raise ValueError(
                f"embed dims {sorted(set(embed.tolist()))} do not fit this executor (max {self.dim / self.scale:g}); "
                "register an executor with a larger max_embed_dim"
            )
        if bool((heads > self.max_heads).any()):
            raise ValueError(
                f"{int(heads.max())} heads exceed this executor's max_heads={self.max_heads}; "
                "register an executor with a larger max_heads"
            )
        if bool((hidden > self.hidden).any()):
            raise ValueError(
                f"MLP ratio {float(feats[..., self.columns['mlp_ratio']].max()):g} exceeds this executor's "
                f"max_mlp_ratio={self.max_mlp_ratio:g}; register an executor with a larger max_mlp_ratio"
            )
        return dims, heads, hidden

    # -------------------------------------------------------------- forward
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Shared patch embedding + positional convolution: ``[I, T, d_max]``."""
        if images.shape[-1] >= 16:
            images = F.avg_pool2d(images, 2)
        grid = F.conv2d(images, self.patch, self.patch_bias, stride=2)
        grid = grid + F.conv2d(grid, self.pos, self.pos_bias, padding=1, groups=self.dim)
        return grid.flatten(2).transpose(1, 2)

    def forward(self, batch, weights, unpack, images):
        archs = len(batch)
        dims, heads, hidden = self.arch_sizes(batch)
        channels = torch.arange(self.dim, device=images.device)
        chan_mask = (channels[None] < dims[:, None]).to(images.dtype)  # [S, d_max]
        tokens = self.embed(images)  # [I, T, d_max]
        x = arch_input(tokens[None] * chan_mask[:, None, None, :], arch_dim=0)  # [S, I, T, d_max]; channels >= d stay 0

        # plan the (position, label) groups first: one weight gather per label (see chain.py)
        skip = {self._op_id("input"), self._op_id("output")} | {self._op_id(op) for op in self.vocab.identity}
        op = torch.where(batch.mask, batch.op, torch.full_like(batch.op, -1))
        plan: list[tuple[str, int, torch.Tensor]] = []
        requests: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        for p in range(1, op.shape[1]):
            for label_id in torch.unique(op[:, p]).tolist():
                if label_id < 0 or label_id in skip:
                    continue
                label = self.vocab.labels[label_id]
                sel = torch.nonzero(op[:, p] == label_id).squeeze(1)
                requests.setdefault(label, []).append((sel, torch.full_like(sel, p)))
                plan.append((label, p, sel))
        node_weights = {
            label: iter(ws) for label, ws in gather_node_weights(weights, unpack, requests).items()
        }

        for label, p, sel in plan:
            w = next(node_weights[label])
            full = len(sel) == archs
            xs, m, d = (x, chan_mask, dims) if full else (x[sel], chan_mask[sel], dims[sel])
            h = _masked_layer_norm(xs, m, d)
            if label == "attention":
                out = self._attention(h, w, heads[sel, p], m)
            else:
                out = self._mlp(h, w, hidden[sel, p], m)
            x = xs + out if full else x.index_copy(0, sel, xs + out)

        h = _masked_layer_norm(x, chan_mask, dims)
        return self.classifier(h.mean(2))  # [S, I, classes]

    # Smaller archs use the leading slice of the weights: instead of masking activations, the
    # output layers' weights are masked (rows beyond the arch's d, columns of heads / hidden
    # units beyond its count), which is cheaper; inputs beyond d are already exactly zero.
    def _attention(self, h, w, heads, chan_mask):
        s, i, t, d = h.shape
        hd, hmax = self.width, self.max_heads
        qkv = torch.bmm(h.reshape(s, i * t, d), w["qkv"].transpose(1, 2))  # [s, I*T, 3*H*hd]
        q, k, v = qkv.view(s, i, t, 3, hmax, hd).permute(3, 0, 1, 4, 2, 5).unbind(0)  # [s, I, H, T, hd]
        # explicit softmax attention: for 16-64 tokens a little faster on CPU than SDPA
        att = torch.softmax((q * hd**-0.5) @ k.transpose(-1, -2), dim=-1) @ v
        att = att.permute(0, 1, 3, 2, 4).reshape(s, i * t, hmax * hd)
        head_mask = (torch.arange(hmax, device=h.device)[None] < heads[:, None]).to(h.dtype)
        proj = w["proj"] * (chan_mask[:, :, None] * head_mask.repeat_interleave(hd, 1)[:, None, :])
        return torch.bmm(att, proj.transpose(1, 2)).view(s, i, t, d)

    def _mlp(self, h, w, hidden, chan_mask):
        s, i, t, d = h.shape
        z = F.gelu(torch.bmm(h.reshape(s, i * t, d), w["fc1"].transpose(1, 2)))  # [s, I*T, hidden_max]
        unit_mask = (torch.arange(self.hidden, device=h.device)[None] < hidden[:, None]).to(h.dtype)
        fc2 = w["fc2"] * (chan_mask[:, :, None] * unit_mask[:, None, :])
        return torch.bmm(z, fc2.transpose(1, 2)).view(s, i, t, d)


def _masked_layer_norm(
    x: torch.Tensor, mask: torch.Tensor, dims: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """LayerNorm (no affine) over each arch's first ``dims`` channels; the rest stay zero.

    ``x [S, I, T, d_max]``, ``mask [S, d_max]``, ``dims [S]``.
    """
    m = mask[:, None, None, :]
    n = dims.to(x.dtype)[:, None, None, None]
    mean = x.sum(-1, keepdim=True) / n  # channels beyond dims are zero
    centred = (x - mean) * m
    var = centred.square().sum(-1, keepdim=True) / n
    return centred * torch.rsqrt(var + eps)


def _vit(vocab, in_channels, num_classes, width=8):
    return ViTExecutor(vocab, in_channels, num_classes, width)


register_executor("vit", _vit)
