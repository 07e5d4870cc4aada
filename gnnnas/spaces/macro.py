"""Macro (layer-chain) search space, as in ADWPNAS-style whole-network search.

A network is a stem, a chain of ``num_layers`` layers and a classifier. Every layer chooses one
block from ``choices`` (default ``identity``, ``mbconv_k3_e3``, ``mbconv_k5_e6``). The layers at
``downsample_at`` (0-based layer indices; default ``(3, 6)`` for 8 layers: stages = layers 0-2,
3-5, 6-7) have stride 2 and open a new stage whose width is the next entry of ``channels``.

Native encoding: a string with one choice digit per layer, e.g. ``"01201210"`` (digit = index
into ``choices``, so at most 10 choices); a sequence of ints is accepted too. ``format`` returns
the string.

Identity at a downsampling layer: an identity cannot halve the resolution or change the width,
so identity-like choices (``identity_ops``, default ``{"identity"}``) are **not allowed** at a
layer whose stride is 2 or whose input and output widths differ (ProxylessNAS' rule: the first
block of a stage is never skipped). ``parse`` raises ``ValueError`` there; ``sample``, ``mutate``
and ``enumerate`` never produce it. So ``size`` is the product of the allowed choices per layer:
3^6 * 2^2 = 2,916 for the default space (not 3^8).

Graph: ``input`` -> one node per layer (op = block name, identity layers included) -> ``output``.
Node features (``stride``, ``in_channels``, ``out_channels``): per layer; the input row describes
the stem (1, 3, stem width), the output row the classifier (1, last width, classes). The layer
index is not a feature: it does not change what a block computes, so chains that differ only in
where an identity sits inside a stage get the same :meth:`~gnnnas.ArchGraph.canonical_hash`
(identity is pass-through); the chain order itself carries position.

Block costs (``params``, ``flops`` = multiply-accumulates of convolutions and the classifier for
an ``image_size`` x ``image_size`` input, default 32; BatchNorm counted in params only):
``identity`` 0; ``mbconv_k{k}_e{e}`` = 1x1 expansion to ``e * c_in`` (omitted when ``e == 1``),
depthwise ``k x k`` (stride of the layer), 1x1 projection, a BatchNorm after each;
``conv_k{k}`` = one ``k x k`` convolution + BatchNorm. The stem is a 3x3 convolution + BatchNorm,
the head global average pooling + linear. A space with any other block name still works (user
blocks), but then its architectures carry no ``params`` / ``flops`` macro features.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from gnnnas.graph import ArchGraph, OpVocabulary
from gnnnas.spaces.base import SearchSpace, as_rng
from gnnnas.spaces.registry import register_space

__all__ = ["MACRO_CHOICES", "MacroSpace"]

MACRO_CHOICES: tuple[str, ...] = ("identity", "mbconv_k3_e3", "mbconv_k5_e6")
_FEATURES = ("stride", "in_channels", "out_channels")
_MBCONV = re.compile(r"^mbconv_k(\d+)_e(\d+)$")
_CONV = re.compile(r"^conv_k(\d+)$")


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


@register_space("macro")
class MacroSpace(SearchSpace):
    """A chain of layers choosing blocks; stride-2 layers open stages.

    Args:
        choices: block names (at most 10, one digit each); ``identity_ops`` are pass-through.
        num_layers: chain length ``L``.
        downsample_at: 0-based indices of the stride-2 layers (stage starts).
        channels: width of every stage (``len(downsample_at) + 1`` entries).
        stem_channels: width of the stem convolution (input of layer 0).
        num_classes: classifier outputs; image_size: input resolution for FLOPs.
        identity_ops: choices that pass their input through unchanged.
    """

    name = "macro"

    def __init__(
        self,
        choices: Sequence[str] = MACRO_CHOICES,
        num_layers: int = 8,
        downsample_at: Sequence[int] = (3, 6),
        channels: Sequence[int] = (16, 32, 64),
        stem_channels: int = 16,
        num_classes: int = 10,
        image_size: int = 32,
        identity_ops: Sequence[str] = ("identity",),
    ) -> None:
        choices = tuple(str(c) for c in choices)
        if not 1 <= len(choices) <= 10:
            raise ValueError(f"a macro space needs 1 to 10 choices (one digit per layer), got {len(choices)}")
        if not _is_int(num_layers) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
        down = tuple(sorted(int(i) for i in downsample_at))
        if len(set(down)) != len(down) or any(not 0 <= i < num_layers for i in down):
            raise ValueError(
                f"downsample_at must be distinct layer indices in 0..{num_layers - 1}, got {downsample_at!r}"
            )
        channels = tuple(int(c) for c in channels)
        if len(channels) != len(down) + 1:
            raise ValueError(
                f"channels needs one width per stage: {len(down) + 1} for "
                f"downsample_at={down}, got {len(channels)}"
            )
        if min(channels + (int(stem_channels),)) < 1:
            raise ValueError("channel widths must be positive")
        if image_size >> len(down) < 1:
            raise ValueError(f"image_size {image_size} is too small for {len(down)} downsamplings")
        self.choices = choices
        self.identity_ops = frozenset(identity_ops) & set(choices)
        self.vocab = OpVocabulary(
            ops=choices,
            identity=self.identity_ops,
            parametric=[c for c in choices if c not in self.identity_ops],
        )
        self.num_layers = int(num_layers)
        self.downsample_at = down
        self.channels = channels
        self.stem_channels = int(stem_channels)
        self.num_classes = int(num_classes)
        self.image_size = int(image_size)
        # per-layer stride, widths and input resolution
        self.layer_stride: list[int] = []
        self.layer_channels: list[tuple[int, int]] = []
        self.layer_resolution: list[int] = []
        c_in, stage, hw = self.stem_channels, 0, self.image_size
        for layer in range(self.num_layers):
            stride = 2 if layer in down else 1
            if stride == 2:
                stage += 1
            c_out = channels[stage]
            self.layer_stride.append(stride)
            self.layer_channels.append((c_in, c_out))
            self.layer_resolution.append(hw)
            c_in, hw = c_out, hw // stride
        self.final_resolution = hw
        self.allowed: list[tuple[int, ...]] = []
        for layer in range(self.num_layers):
            reshapes = self.layer_stride[layer] != 1 or len(set(self.layer_channels[layer])) != 1
            allowed = tuple(i for i, c in enumerate(choices) if not (reshapes and c in self.identity_ops))
            if not allowed:
                raise ValueError(
                    f"layer {layer} downsamples or changes width, and every choice is an identity"
                )
            self.allowed.append(allowed)
        self.size = int(np.prod([len(a) for a in self.allowed], dtype=object))
        self._costs_known = all(self._block_cost(c, 1, 1, 1, 1) is not None for c in choices)

    # -------------------------------------------------------------- encoding
    def parse(self, encoding: str | Sequence[int] | ArchGraph) -> ArchGraph:
        """Digit string (or sequence of choice indices), one per layer -> ArchGraph."""
        if isinstance(encoding, ArchGraph):
            return self.check(encoding)
        if isinstance(encoding, str):
            if not encoding.isascii() or not encoding.isdigit():
                raise ValueError(
                    f"macro encoding must be a string of choice digits like '01201210', got {encoding!r}"
                )
            digits = [int(ch) for ch in encoding]
        elif isinstance(encoding, Sequence) and not isinstance(encoding, (bytes, bytearray)):
            if not all(_is_int(d) for d in encoding):
                raise ValueError(f"macro encoding must hold choice indices (ints), got {list(encoding)!r}")
            digits = [int(d) for d in encoding]
        else:
            raise ValueError(
                f"macro encoding must be a digit string or a sequence of ints, got {type(encoding).__name__}"
            )
        if len(digits) != self.num_layers:
            raise ValueError(f"macro encoding needs {self.num_layers} layers, got {len(digits)}")
        for layer, d in enumerate(digits):
            if not 0 <= d < len(self.choices):
                raise ValueError(
                    f"layer {layer}: choice {d} out of range "
                    f"0..{len(self.choices) - 1} ({list(self.choices)})"
                )
            if d not in self.allowed[layer]:
                raise ValueError(
                    f"layer {layer} has stride {self.layer_stride[layer]} and widths "
                    f"{self.layer_channels[layer]}: {self.choices[d]!r} cannot be used there"
                )
        return self._build(tuple(digits))

    def format(self, arch: ArchGraph) -> str:
        """ArchGraph -> digit string."""
        self.check(arch)
        if arch.num_nodes != self.num_layers + 2 or arch.vocab != self.vocab:
            raise ValueError(
                f"not an ArchGraph of this macro space ({self.num_layers} layers; "
                "a pruned graph cannot be formatted)"
            )
        return "".join(str(self.choices.index(op)) for op in arch.ops[1:-1])

    # -------------------------------------------------------------- graph
    def _build(self, digits: tuple[int, ...]) -> ArchGraph:
        names = [self.choices[d] for d in digits]
        ops = ["input", *names, "output"]
        feats = np.zeros((len(ops), len(_FEATURES)), dtype=np.float32)
        feats[0] = (1, 3, self.stem_channels)
        for layer in range(self.num_layers):
            feats[layer + 1] = (self.layer_stride[layer], *self.layer_channels[layer])
        feats[-1] = (1, self.channels[-1], self.num_classes)
        return ArchGraph(
            ops=ops,
            edges=[(i, i + 1) for i in range(len(ops) - 1)],
            vocab=self.vocab,
            space=self.name,
            node_features=feats,
            node_feature_names=_FEATURES,
            macro=self.macro_features(names),
        )

    @staticmethod
    def _block_cost(name: str, c_in: int, c_out: int, stride: int, hw: int) -> tuple[int, int] | None:
        """(params, MACs) of one block at input resolution ``hw``; None for unknown blocks."""
        out = hw // stride
        if name in ("identity", "skip_connect"):
            return 0, 0
        match = _MBCONV.match(name)
        if match:
            k, e = int(match.group(1)), int(match.group(2))
            mid = c_in * e
            params = flops = 0
            if e != 1:
                params += c_in * mid + 2 * mid
                flops += c_in * mid * hw * hw
            params += k * k * mid + 2 * mid + mid * c_out + 2 * c_out
            flops += (k * k * mid + mid * c_out) * out * out
            return params, flops
        match = _CONV.match(name)
        if match:
            k = int(match.group(1))
            return k * k * c_in * c_out + 2 * c_out, k * k * c_in * c_out * out * out
        return None

    def macro_features(self, names: Sequence[str]) -> dict[str, float]:
        """Layers, stages, widths, depth, parametric ops and (for known blocks) params/FLOPs."""
        n_par = sum(name not in self.identity_ops for name in names)
        feats: dict[str, float] = {
            "num_layers": self.num_layers,
            "stages": len(self.channels),
            "stem_channels": self.stem_channels,
            "final_channels": self.channels[-1],
            "num_parametric_ops": n_par,
            "depth": n_par + 2,  # non-identity layers + stem + classifier
        }
        if self._costs_known:
            s, c = self.image_size, self.stem_channels
            params, flops = 27 * c + 2 * c, 27 * c * s * s
            for layer, name in enumerate(names):
                p, f = self._block_cost(
                    name, *self.layer_channels[layer], self.layer_stride[layer], self.layer_resolution[layer]
                )
                params += p
                flops += f
            params += self.channels[-1] * self.num_classes + self.num_classes
            flops += self.channels[-1] * self.num_classes
            feats["params"] = params
            feats["flops"] = flops
        return feats

    # -------------------------------------------------------------- sampling
    def sample(self, rng: np.random.Generator | int | None = None) -> ArchGraph:
        """Every layer uniform over its allowed choices."""
        rng = as_rng(rng)
        return self._build(tuple(int(a[rng.integers(len(a))]) for a in self.allowed))

    def mutate(self, arch: ArchGraph, rng: np.random.Generator | int | None = None) -> ArchGraph:
        """Change the block of one layer (among layers that have another allowed choice)."""
        rng = as_rng(rng)
        digits = [int(ch) for ch in self.format(arch)]
        layers = [i for i, a in enumerate(self.allowed) if len(a) > 1]
        if not layers:
            raise ValueError("this macro space holds a single architecture; nothing to mutate")
        layer = layers[int(rng.integers(len(layers)))]
        options = [d for d in self.allowed[layer] if d != digits[layer]]
        digits[layer] = int(options[int(rng.integers(len(options)))])
        return self._build(tuple(digits))

    def enumerate(self) -> Iterator[ArchGraph]:
        """All architectures, in lexicographic order of their digit strings."""
        for digits in itertools.product(*self.allowed):
            yield self._build(digits)

    def __repr__(self) -> str:
        return f"MacroSpace(choices={list(self.choices)}, num_layers={self.num_layers}, size={self.size})"
