"""AutoFormer-style vision-transformer space (Chen et al. 2021), Tiny search space by default.

An architecture is ``{"hidden_dim": E, "depth": D, "mlp_ratio": [r_1..r_D], "num_heads":
[h_1..h_D]}`` (the ``arch`` dicts of ``vit/autoformer_ti_*.json``). AutoFormer-Ti choices:
embed dim {192, 216, 240}, depth {12, 13, 14}, MLP ratio {3.5, 4.0} and heads {3, 4} per
layer; every choice list is a constructor argument. Each head has ``head_dim = 64`` channels, so
the Q/K/V width of layer ``l`` is ``64 * h_l`` (AutoFormer's ``change_qkv``); the MLP hidden width
is ``int(E * r_l)``.

Graph: ``input`` (patch embedding + class/position tokens) -> ``attention_1`` -> ``mlp_1`` ->
... -> ``attention_D`` -> ``mlp_D`` -> ``output`` (final LayerNorm + classifier), a chain. The
residual stream is not drawn: in the sum-of-predecessors model every block would read the sum of
*all* earlier blocks (a dense DAG of ~D^2 edges) while carrying no choice of its own - every
subnet has the same residual wiring - so the chain keeps the graph small and the choices visible.
Node features (:attr:`ViTSpace.node_feature_names`): ``embed_dim`` (all nodes), ``num_heads`` and
``qkv_dim`` (attention nodes, else 0), ``mlp_ratio`` and ``mlp_hidden`` (MLP nodes, else 0).

Macro features: ``hidden_dim``, ``depth``, ``mean_mlp_ratio``, ``mean_num_heads``,
``num_parametric_ops`` (= 2 * depth), ``params`` and ``flops``. Params count the ViT exactly
(patch conv, class token, position embedding, per layer 2 LayerNorms, qkv and projection with
biases, the 2-layer MLP with biases, final LayerNorm, classifier of ``num_classes`` = 1000 by
default). Check against AutoFormer-Ti (E=192, D=13, published 5.7 M params, 1.3 GFLOPs): subnets
of that shape count 5.68 M (all ratios 3.5, 3 heads) to 6.80 M (all 4.0, 4 heads), and the 200
subnets of the data files 5.71-9.81 M. FLOPs are multiply-accumulates of all linear maps and the two
attention matmuls for ``image_size`` 224 / ``patch_size`` 16 (197 tokens): 1.26-1.55 G for
E=192, D=13 subnets (LayerNorm, softmax and GELU not counted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gnnnas.graph import ArchGraph, OpVocabulary
from gnnnas.spaces.base import SearchSpace, as_rng
from gnnnas.spaces.registry import register_space

__all__ = ["VIT_OPS", "ViTSpace"]

VIT_OPS: tuple[str, ...] = ("attention", "mlp")
_VOCAB = OpVocabulary(ops=VIT_OPS, parametric=set(VIT_OPS))
_KEYS = ("hidden_dim", "depth", "mlp_ratio", "num_heads")
_FEATURES = ("embed_dim", "num_heads", "qkv_dim", "mlp_ratio", "mlp_hidden")


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def _choices(name: str, values: Sequence[Any], kind: type) -> tuple:
    vals = tuple(kind(v) for v in values)
    if not vals or len(set(vals)) != len(vals):
        raise ValueError(f"{name} choices must be a non-empty list without duplicates, got {values!r}")
    return tuple(sorted(vals))


@register_space("vit")
class ViTSpace(SearchSpace):
    """AutoFormer vision transformers (Tiny choices by default).

    Args:
        embed_dims, depths, mlp_ratios, num_heads: the choice lists.
        head_dim: channels per attention head (AutoFormer: 64).
        image_size, patch_size: for the token count (224 / 16 -> 197 tokens with the class token).
        num_classes: classifier outputs counted in ``params`` / ``flops`` (1000: ImageNet).
    """

    name = "vit"
    vocab = _VOCAB
    node_feature_names: tuple[str, ...] = _FEATURES

    def __init__(
        self,
        embed_dims: Sequence[int] = (192, 216, 240),
        depths: Sequence[int] = (12, 13, 14),
        mlp_ratios: Sequence[float] = (3.5, 4.0),
        num_heads: Sequence[int] = (3, 4),
        head_dim: int = 64,
        image_size: int = 224,
        patch_size: int = 16,
        num_classes: int = 1000,
    ) -> None:
        self.embed_dims = _choices("embed_dims", embed_dims, int)
        self.depths = _choices("depths", depths, int)
        self.mlp_ratios = _choices("mlp_ratios", mlp_ratios, float)
        self.num_heads = _choices("num_heads", num_heads, int)
        if (
            min(self.depths) < 1
            or min(self.embed_dims) < 1
            or min(self.num_heads) < 1
            or min(self.mlp_ratios) <= 0
        ):
            raise ValueError("ViT choices must be positive")
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
        self.head_dim = int(head_dim)
        self.image_size = int(image_size)
        self.patch_size = int(patch_size)
        self.num_classes = int(num_classes)
        per_layer = len(self.mlp_ratios) * len(self.num_heads)
        #: Number of architectures (countable, too many to enumerate: ~1.06e9 for AutoFormer-Ti).
        self.size = len(self.embed_dims) * sum(per_layer**d for d in self.depths)

    # -------------------------------------------------------------- encoding
    def parse(self, encoding: Mapping[str, Any] | ArchGraph) -> ArchGraph:
        """Arch dict ``{hidden_dim, depth, mlp_ratio[depth], num_heads[depth]}`` -> ArchGraph."""
        if isinstance(encoding, ArchGraph):
            return self.check(encoding)
        if not isinstance(encoding, Mapping):
            raise ValueError(
                "ViT encoding must be a dict {hidden_dim, depth, mlp_ratio[], num_heads[]}, "
                f"got {type(encoding).__name__}"
            )
        missing = [k for k in _KEYS if k not in encoding]
        unknown = sorted(str(k) for k in encoding if k not in _KEYS)
        if missing or unknown:
            raise ValueError(
                f"ViT arch dict needs exactly the keys {list(_KEYS)}; missing {missing}, unknown {unknown}"
            )
        dim, depth = encoding["hidden_dim"], encoding["depth"]
        for key, value in (("hidden_dim", dim), ("depth", depth)):
            if not _is_int(value):
                raise ValueError(f"ViT {key} must be an int, got {value!r}")
        if dim not in self.embed_dims:
            raise ValueError(f"ViT hidden_dim {dim} is not a choice of this space: {list(self.embed_dims)}")
        if depth not in self.depths:
            raise ValueError(f"ViT depth {depth} is not a choice of this space: {list(self.depths)}")
        lists = {}
        for key, choices, check in (
            ("mlp_ratio", self.mlp_ratios, _is_number),
            ("num_heads", self.num_heads, _is_int),
        ):
            values = encoding[key]
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise ValueError(f"ViT {key} must be a list with one value per layer, got {values!r}")
            if len(values) != depth:
                raise ValueError(f"ViT {key} has {len(values)} entries for depth {depth}")
            kind = "an int" if key == "num_heads" else "a number"
            for layer, v in enumerate(values):
                if not check(v):
                    raise ValueError(f"ViT {key}[{layer}] = {v!r} must be {kind}")
                if v not in choices:
                    raise ValueError(
                        f"ViT {key}[{layer}] = {v!r} is not a choice of this space: {list(choices)}"
                    )
            lists[key] = values
        return self._build(
            int(dim),
            [float(r) for r in lists["mlp_ratio"]],
            [int(h) for h in lists["num_heads"]],
        )

    def format(self, arch: ArchGraph) -> dict[str, Any]:
        """ArchGraph -> ``{"hidden_dim", "depth", "mlp_ratio", "num_heads"}``."""
        self.check(arch)
        feats = arch.node_features
        if feats is None or arch.node_feature_names != _FEATURES:
            raise ValueError("ViT ArchGraph lacks its node features")
        attn = [i for i, op in enumerate(arch.ops) if op == "attention"]
        mlp = [i for i, op in enumerate(arch.ops) if op == "mlp"]
        if len(attn) != len(mlp) or arch.num_nodes != 2 * len(attn) + 2:
            raise ValueError("not a ViT ArchGraph (a pruned graph cannot be formatted)")
        col = {name: k for k, name in enumerate(_FEATURES)}
        return {
            "hidden_dim": int(feats[0, col["embed_dim"]]),
            "depth": len(attn),
            # features are float32: snap back to the exact choice (e.g. 3.3 is not a float32)
            "mlp_ratio": [
                min(self.mlp_ratios, key=lambda r: abs(r - float(feats[i, col["mlp_ratio"]]))) for i in mlp
            ],
            "num_heads": [int(feats[i, col["num_heads"]]) for i in attn],
        }

    # -------------------------------------------------------------- graph
    def _build(self, dim: int, mlp_ratio: Sequence[float], num_heads: Sequence[int]) -> ArchGraph:
        depth = len(mlp_ratio)
        ops = ["input"] + [op for _ in range(depth) for op in VIT_OPS] + ["output"]
        n = len(ops)
        feats = np.zeros((n, len(_FEATURES)), dtype=np.float32)
        feats[:, 0] = dim
        for layer, (r, h) in enumerate(zip(mlp_ratio, num_heads)):
            a, m = 1 + 2 * layer, 2 + 2 * layer
            feats[a, 1] = h
            feats[a, 2] = h * self.head_dim
            feats[m, 3] = r
            feats[m, 4] = int(dim * r)
        return ArchGraph(
            ops=ops,
            edges=[(i, i + 1) for i in range(n - 1)],
            vocab=_VOCAB,
            space=self.name,
            node_features=feats,
            node_feature_names=_FEATURES,
            macro=self.macro_features(dim, mlp_ratio, num_heads),
        )

    def macro_features(
        self, dim: int, mlp_ratio: Sequence[float], num_heads: Sequence[int]
    ) -> dict[str, float]:
        params, flops = self.cost(dim, mlp_ratio, num_heads)
        depth = len(mlp_ratio)
        return {
            "hidden_dim": dim,
            "depth": depth,
            "mean_mlp_ratio": float(np.mean(mlp_ratio)),
            "mean_num_heads": float(np.mean(num_heads)),
            "num_parametric_ops": 2 * depth,
            "params": params,
            "flops": flops,
        }

    def cost(self, dim: int, mlp_ratio: Sequence[float], num_heads: Sequence[int]) -> tuple[int, int]:
        """(params, FLOPs as multiply-accumulates) of the subnet; see the module docstring."""
        e = dim
        patches = (self.image_size // self.patch_size) ** 2
        tokens = patches + 1
        patch_in = 3 * self.patch_size**2
        params = patch_in * e + e + e + tokens * e  # patch conv (+bias), class token, position embedding
        flops = patches * patch_in * e
        for r, h in zip(mlp_ratio, num_heads):
            q = h * self.head_dim
            hidden = int(e * r)
            params += 2 * e + e * 3 * q + 3 * q + q * e + e  # LN, qkv, proj
            params += 2 * e + e * hidden + hidden + hidden * e + e  # LN, fc1, fc2
            flops += tokens * (e * 3 * q + q * e + 2 * e * hidden) + 2 * tokens * tokens * q
        params += 2 * e + e * self.num_classes + self.num_classes
        flops += e * self.num_classes
        return params, flops

    # -------------------------------------------------------------- sampling
    def _random_layers(self, rng: np.random.Generator, depth: int) -> tuple[list[float], list[int]]:
        ratios = [self.mlp_ratios[i] for i in rng.integers(len(self.mlp_ratios), size=depth)]
        heads = [self.num_heads[i] for i in rng.integers(len(self.num_heads), size=depth)]
        return ratios, heads

    def sample(self, rng: np.random.Generator | int | None = None) -> ArchGraph:
        """Embed dim and depth uniform over their choices, then every layer's choices uniform."""
        rng = as_rng(rng)
        dim = self.embed_dims[int(rng.integers(len(self.embed_dims)))]
        depth = self.depths[int(rng.integers(len(self.depths)))]
        ratios, heads = self._random_layers(rng, depth)
        return self._build(dim, ratios, heads)

    def mutate(self, arch: ArchGraph, rng: np.random.Generator | int | None = None) -> ArchGraph:
        """One change: the embed dim, the depth (drop / append last layers, new layers random),
        or the MLP ratio or head count of one layer. Only moves that exist in this space are drawn.
        """
        rng = as_rng(rng)
        enc = self.format(arch)
        dim, ratios, heads = enc["hidden_dim"], list(enc["mlp_ratio"]), list(enc["num_heads"])
        moves = []
        if len(self.embed_dims) > 1:
            moves.append("dim")
        if len(self.depths) > 1:
            moves.append("depth")
        if len(self.mlp_ratios) > 1:
            moves.append("ratio")
        if len(self.num_heads) > 1:
            moves.append("heads")
        if not moves:
            raise ValueError("this ViT space holds a single architecture; nothing to mutate")
        move = moves[int(rng.integers(len(moves)))]
        if move == "dim":
            dim = int(rng.choice([d for d in self.embed_dims if d != dim]))
        elif move == "depth":
            depth = int(rng.choice([d for d in self.depths if d != len(ratios)]))
            if depth < len(ratios):
                ratios, heads = ratios[:depth], heads[:depth]
            else:
                more_r, more_h = self._random_layers(rng, depth - len(ratios))
                ratios, heads = ratios + more_r, heads + more_h
        elif move == "ratio":
            layer = int(rng.integers(len(ratios)))
            ratios[layer] = float(rng.choice([r for r in self.mlp_ratios if r != ratios[layer]]))
        else:
            layer = int(rng.integers(len(heads)))
            heads[layer] = int(rng.choice([h for h in self.num_heads if h != heads[layer]]))
        return self._build(dim, ratios, heads)

    def enumerate(self):
        raise TypeError(
            f"search space 'vit' has {self.size:,} architectures: too many to enumerate (use sample)"
        )
