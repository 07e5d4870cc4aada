"""The hypernetwork head: operation-node embeddings -> that operation's weights.

HyperNAS's shared hypernetwork is a multi-head MLP: a trunk shared by all operations, then one
output head per kind of operation (one per weight shape: a 1x1 conv, a 3x3 conv, the depthwise and
pointwise kernels of a separable conv, the expand / depthwise / project kernels of an MBConv...).
The output layer's bias is a weight shared by every architecture (what a one-shot supernet would
learn); the rest is the node-specific part, and that part is what sends gradient into the encoder.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["HyperNetworkHead", "WeightSpec"]


@dataclass(frozen=True)
class WeightSpec:
    """One weight tensor of an operation, e.g. ``WeightSpec("dw", (8, 1, 3, 3))``."""

    name: str
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def fan_in(self) -> int:
        return max(1, math.prod(self.shape[1:]))


class HyperNetworkHead(nn.Module):
    """Emits the weights of every parametric operation node of a batch.

    Args:
        embed_dim: node-embedding width of the encoder.
        specs: op label -> the weight tensors that op needs (from the executor).
        hidden_dim: width of the shared trunk.

    ``forward(node_embeddings [B, N, E])`` returns ``{label: [B, N, P_label]}`` (flat weights for
    every node, whatever its op: computing all heads on all nodes is cheaper than gathering for
    these tiny graphs); :meth:`unpack` turns the rows of one label into named tensors. Outputs are
    scaled by ``1/sqrt(fan_in)`` so a unit-scale head output is a He-style initial kernel.
    """

    def __init__(self, embed_dim: int, specs: Mapping[str, Sequence[WeightSpec]], hidden_dim: int = 128) -> None:
        super().__init__()
        self.specs = {label: tuple(s) for label, s in specs.items() if s}
        self.labels = tuple(self.specs)
        self.trunk = nn.Sequential(nn.Linear(embed_dim, hidden_dim), nn.ReLU())
        self.heads = nn.ModuleList(nn.Linear(hidden_dim, sum(w.numel for w in s)) for s in self.specs.values())
        for label, spec in self.specs.items():
            scale = torch.cat([torch.full((w.numel,), math.sqrt(2.0 / w.fan_in)) for w in spec])
            self.register_buffer(f"_scale_{self.labels.index(label)}", scale, persistent=False)

    def forward(self, node_embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.trunk(node_embeddings)
        return {
            label: head(hidden) * getattr(self, f"_scale_{i}")
            for i, (label, head) in enumerate(zip(self.labels, self.heads))
        }

    def unpack(self, label: str, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """``[S, P]`` rows of ``label`` -> ``{name: [S, *shape]}``."""
        out, start = {}, 0
        for spec in self.specs[label]:
            out[spec.name] = flat[:, start : start + spec.numel].reshape(-1, *spec.shape)
            start += spec.numel
        return out
