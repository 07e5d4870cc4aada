"""NAS-Bench-201 / NATS-Bench topology space.

One cell: 4 tensors, an op on each of the 6 edges ``i -> j`` (``i < j``), chosen from
``none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3``; 5^6 = 15,625 cells.
Native encoding: ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (edges 0->1 | 0->2, 1->2 | 0->3,
1->3, 2->3). The network stacks 3 stages x 5 cells (16, 32, 64 channels) with a ResNet
basic block (stride 2) between stages, a 3x3 stem and a linear classifier.

Node order of the ArchGraph: ``input``, the 6 edge ops in arch-string order, ``output``.
``enumerate()`` yields the cells in ``itertools.product`` order of the op list; the
official index order 0..15624 is a property of the benchmark files and comes with
``gnnnas.load_benchmark("nb201")``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence

import numpy as np

from gnnnas.graph import ArchGraph, OpVocabulary
from gnnnas.spaces.base import SearchSpace, as_rng
from gnnnas.spaces.edge_cells import edge_cell_to_nodes
from gnnnas.spaces.registry import register_space

__all__ = ["NB201_EDGES", "NB201_OPS", "NB201Space"]

NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: (src, dst) tensor pair of each edge, in arch-string order.
NB201_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))

_VOCAB = OpVocabulary(
    ops=NB201_OPS,
    identity={"skip_connect"},
    zero={"none"},
    parametric={"nor_conv_1x1", "nor_conv_3x3"},
    mergeable={"avg_pool_3x3"},
)
_TOKEN = re.compile(r"^([A-Za-z0-9_]+)~(\d+)$")
_KERNEL = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}


_TEMPLATE: list[ArchGraph] = []


def _template() -> ArchGraph:
    """The validated wiring shared by all NB201 cells (all-conv cell)."""
    if not _TEMPLATE:
        ops, edges, _ = edge_cell_to_nodes(
            num_inputs=1,
            edge_ops=[(s, d, "nor_conv_3x3") for s, d in NB201_EDGES],
            output_tensors=[3],
        )
        graph = ArchGraph(ops=ops, edges=edges, vocab=_VOCAB, space="nb201")
        assert graph.topological_order() == list(range(8))
        _TEMPLATE.append(graph)
    return _TEMPLATE[0]


@register_space("nb201")
class NB201Space(SearchSpace):
    """NAS-Bench-201 cells; macro skeleton of the CIFAR network (``num_classes`` for params)."""

    name = "nb201"
    vocab = _VOCAB
    size = 5**6
    max_nodes = 8

    def __init__(
        self,
        init_channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        image_size: int = 32,
    ) -> None:
        self.init_channels = init_channels
        self.cells_per_stage = cells_per_stage
        self.num_classes = num_classes
        self.image_size = image_size

    # -------------------------------------------------------------- encoding
    def parse(self, encoding: str | Sequence[str] | ArchGraph) -> ArchGraph:
        """Arch string (or a sequence of 6 op names in arch-string order) -> ArchGraph."""
        if isinstance(encoding, ArchGraph):
            return self.check(encoding)
        if isinstance(encoding, str):
            ops = self._ops_from_string(encoding)
        elif isinstance(encoding, Sequence) and len(encoding) == 6 and all(isinstance(o, str) for o in encoding):
            ops = tuple(encoding)
        else:
            raise ValueError(
                f"NB201 encoding must be an arch string or 6 op names, got {encoding!r}"
            )
        for op in ops:
            if op not in NB201_OPS:
                raise ValueError(f"unknown NB201 op {op!r}; known: {list(NB201_OPS)}")
        return self._build(ops)

    def format(self, arch: ArchGraph) -> str:
        ops = self.edge_ops(arch)
        return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops)

    def identity(self, arch: str | Sequence[str] | ArchGraph) -> str:
        """The arch string: NAS-Bench-201 trained all 15,625 cells, functionally equal ones
        included, and its API (``query_index_by_arch``) looks them up by string. Equal
        computations still share one :meth:`~gnnnas.ArchGraph.canonical_hash` and one score."""
        return self.format(self.parse(arch))

    def edge_ops(self, arch: ArchGraph) -> tuple[str, ...]:
        """The 6 edge ops of ``arch`` in arch-string order."""
        self.check(arch)
        if arch.num_nodes != 8:
            raise ValueError(
                f"an NB201 ArchGraph has 8 nodes (a pruned graph cannot be formatted), got {arch.num_nodes}"
            )
        return arch.ops[1:7]

    @staticmethod
    def _ops_from_string(text: str) -> tuple[str, ...]:
        stripped = text.strip()
        nodes = stripped.split("+")
        if len(nodes) != 3:
            raise ValueError(
                f"NB201 arch string needs 3 '+'-separated nodes like "
                f"'|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|', got {text!r}"
            )
        ops: list[str] = []
        for j, node in enumerate(nodes, start=1):
            if not (node.startswith("|") and node.endswith("|")):
                raise ValueError(f"node {j} of NB201 arch string {text!r} must be wrapped in '|'")
            tokens = node[1:-1].split("|")
            if len(tokens) != j:
                raise ValueError(f"node {j} of NB201 arch string {text!r} needs {j} inputs, got {len(tokens)}")
            for i, token in enumerate(tokens):
                match = _TOKEN.match(token)
                if match is None or int(match.group(2)) != i:
                    raise ValueError(f"bad token {token!r} in NB201 arch string {text!r} (expected 'op~{i}')")
                ops.append(match.group(1))
        return tuple(ops)

    # -------------------------------------------------------------- graph
    def _build(self, edge_ops: tuple[str, ...]) -> ArchGraph:
        # Every NB201 cell has the same wiring: validate it once, then fill in the ops.
        template = _template()
        return ArchGraph._trusted(
            topological_order=range(8),
            ops=("input", *edge_ops, "output"),
            edges=template.edges,
            vocab=_VOCAB,
            space=self.name,
            macro={k: float(v) for k, v in self.macro_features(edge_ops).items()},
        )

    def macro_features(self, edge_ops: Sequence[str]) -> dict[str, float]:
        """Macro structure of the full network built from this cell.

        Params and FLOPs (multiply-accumulates of convolutions and the classifier, batch 1)
        follow the NAS-Bench-201 CIFAR network, dead ops included (they still hold weights).
        ``cell_depth`` counts parametric ops on the longest live path through the cell.
        """
        c0, n, hw = self.init_channels, self.cells_per_stage, self.image_size
        channels = [c0, 2 * c0, 4 * c0]
        sizes = [hw, hw // 2, hw // 4]
        params = 9 * 3 * c0 + 2 * c0  # stem conv + BN
        flops = 9 * 3 * c0 * hw * hw
        for stage, (c, s) in enumerate(zip(channels, sizes)):
            if stage > 0:  # ResNet basic block, stride 2
                cin = channels[stage - 1]
                params += 9 * cin * c + 2 * c + 9 * c * c + 2 * c + cin * c
                flops += (9 * cin * c + 9 * c * c + cin * c) * s * s
            for op in edge_ops:
                k = _KERNEL.get(op)
                if k is not None:
                    params += n * (k * k * c * c + 2 * c)
                    flops += n * k * k * c * c * s * s
        params += 2 * channels[-1] + channels[-1] * self.num_classes + self.num_classes
        flops += channels[-1] * self.num_classes
        depth = self._cell_depth(edge_ops)
        return {
            "stages": 3,
            "cells_per_stage": n,
            "num_cells": 3 * n,
            "init_channels": c0,
            "num_parametric_ops": sum(op in _KERNEL for op in edge_ops),
            "cell_depth": depth,
            "depth": 3 * n * depth + 2 * 2 + 2,  # cells + reduction blocks + stem + classifier
            "params": params,
            "flops": flops,
        }

    @staticmethod
    def _cell_depth(edge_ops: Sequence[str]) -> int:
        best = {0: 0}
        for j in (1, 2, 3):
            candidates = [
                best[i] + (op in _KERNEL)
                for (i, d), op in zip(NB201_EDGES, edge_ops)
                if d == j and op != "none" and i in best
            ]
            if candidates:
                best[j] = max(candidates)
        return best.get(3, 0)

    # -------------------------------------------------------------- sampling
    def sample(self, rng: np.random.Generator | int | None = None) -> ArchGraph:
        rng = as_rng(rng)
        return self._build(tuple(NB201_OPS[i] for i in rng.integers(0, len(NB201_OPS), size=6)))

    def mutate(self, arch: ArchGraph, rng: np.random.Generator | int | None = None) -> ArchGraph:
        """Change the op of one edge to a different op."""
        rng = as_rng(rng)
        ops = list(self.edge_ops(arch))
        edge = int(rng.integers(6))
        choices = [op for op in NB201_OPS if op != ops[edge]]
        ops[edge] = choices[int(rng.integers(len(choices)))]
        return self._build(tuple(ops))

    def enumerate(self) -> Iterator[ArchGraph]:
        for ops in itertools.product(NB201_OPS, repeat=6):
            yield self._build(ops)
