"""NAS-Bench-101 cell space (Ying et al., 2019).

A cell is a DAG of at most 7 vertices and 9 edges: vertex 0 is the input, the last vertex the
output, every other vertex applies one of ``conv3x3-bn-relu``, ``conv1x1-bn-relu``,
``maxpool3x3`` to the sum of its inputs. Native encoding: ``(matrix, ops)`` - an ``n x n``
upper-triangular 0/1 adjacency matrix (row = source) and ``n`` op names, ``ops[0] == "input"``,
``ops[-1] == "output"`` (a dict ``{"matrix": ..., "ops": ...}`` is accepted too).

Parsing prunes like NAS-Bench-101's ``ModelSpec``: vertices not on an input -> output path are
removed, and the pruned spec is what the ArchGraph holds (``format`` returns it). As in
``NASBench.is_valid``, the 9-edge limit applies to the pruned spec. ``space.hash(arch)`` is the
official module hash (``graph_util.hash_module``), the key of the NAS-Bench-101 data set.

ArchGraph node order: the spec's vertices in matrix order. Macro features follow the CIFAR-10
network of the benchmark: a 3x3 conv stem (128 channels), 3 stacks of 3 cells, 2x2 max pool and
channel doubling between stacks, global average pool and a dense layer. Inside a cell the output
channels are split among the vertices feeding the output (concatenated), the input is projected
by 1x1 conv-BN-ReLU wherever it feeds a vertex, and interior channel counts follow NAS-Bench-101's
``compute_vertex_channels``; ``params`` reproduces the data set's ``trainable_parameters`` exactly
and ``flops`` NASLib's ``flops`` column (x 1e6) exactly (see :func:`network_stats`).

The whole space (423,624 cells) comes from :mod:`gnnnas.spaces.nb101_enumerate` (vectorised,
cached): ``space.enumerate()`` yields ArchGraphs, ``space.enumeration()`` gives the arrays and a
hash -> row lookup.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from gnnnas.graph import ArchGraph, OpVocabulary
from gnnnas.spaces.base import SearchSpace, as_rng
from gnnnas.spaces.registry import register_space

__all__ = [
    "MAX_EDGES",
    "MAX_VERTICES",
    "NB101_OPS",
    "NB101Space",
    "module_hash",
    "network_stats",
    "prune_spec",
    "validate_spec",
]

INPUT = "input"
OUTPUT = "output"
CONV3X3 = "conv3x3-bn-relu"
CONV1X1 = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"
#: Interior ops in the official label order (label = index), as in NAS-Bench-101's config.
NB101_OPS: tuple[str, ...] = (CONV3X3, CONV1X1, MAXPOOL3X3)
MAX_VERTICES = 7
MAX_EDGES = 9
_LABEL = {INPUT: -1, OUTPUT: -2, CONV3X3: 0, CONV1X1: 1, MAXPOOL3X3: 2}
_OP_OF_LABEL = {v: k for k, v in _LABEL.items()}
_KERNEL = {CONV3X3: 3, CONV1X1: 1}

# The output concatenates its predecessors (the input, when it feeds the output, is projected and
# added). No op is mergeable: a vertex's width depends on the whole graph (compute_vertex_channels)
# and every vertex reading the input has its own projection, so two max-pools are two vertices.
_VOCAB = OpVocabulary(ops=NB101_OPS, parametric={CONV3X3, CONV1X1}, output="concat")


# ------------------------------------------------------------------------------------ spec utils
def _as_matrix(matrix: Any) -> np.ndarray:
    try:
        arr = np.asarray(matrix)
    except (TypeError, ValueError):
        raise ValueError(f"NB101 matrix must be a square 0/1 array, got {matrix!r}") from None
    if arr.dtype == object or arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"NB101 matrix must be square (n x n), got shape {arr.shape}")
    if arr.size and not ((arr == 0) | (arr == 1)).all():
        raise ValueError("NB101 matrix entries must be 0 or 1")
    return arr.astype(np.int64)


def _as_ops(ops: Any, n: int) -> list[str]:
    if isinstance(ops, str) or not isinstance(ops, Sequence) and not isinstance(ops, np.ndarray):
        raise ValueError(f"NB101 ops must be a list of op names, got {ops!r}")  # noqa: TRY004
    ops = list(ops)
    if len(ops) != n:
        raise ValueError(f"NB101 ops has {len(ops)} entries for a {n} x {n} matrix")
    out = []
    for i, op in enumerate(ops):
        # official integer labels are accepted; bools are not labels (True == 1 == conv1x1)
        if isinstance(op, (int, np.integer)) and not isinstance(op, bool) and int(op) in _OP_OF_LABEL:
            op = _OP_OF_LABEL[int(op)]
        if not isinstance(op, str) or op not in _LABEL:
            raise ValueError(
                f"unknown NB101 op {op!r} at vertex {i}; ops are {list(NB101_OPS)} "
                "(plus 'input' first and 'output' last)"
            )
        out.append(op)
    if out[0] != INPUT:
        raise ValueError(f"the first NB101 op must be 'input', got {out[0]!r}")
    if out[-1] != OUTPUT:
        raise ValueError(f"the last NB101 op must be 'output', got {out[-1]!r}")
    for i, op in enumerate(out[1:-1], start=1):
        if op in (INPUT, OUTPUT):
            raise ValueError(f"vertex {i} is {op!r}; only the first vertex is 'input' and the last 'output'")
    return out


def prune_spec(matrix: Any, ops: Sequence[str]) -> tuple[np.ndarray, list[str]] | None:
    """NAS-Bench-101 ``ModelSpec`` pruning: keep vertices on an input -> output path.

    Returns the pruned ``(matrix, ops)``, or ``None`` when the input does not reach the output.
    """
    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    from_input = {0}
    stack = [0]
    while stack:
        top = stack.pop()
        for v in range(top + 1, n):
            if matrix[top, v] and v not in from_input:
                from_input.add(v)
                stack.append(v)
    to_output = {n - 1}
    stack = [n - 1]
    while stack:
        top = stack.pop()
        for v in range(top):
            if matrix[v, top] and v not in to_output:
                to_output.add(v)
                stack.append(v)
    keep = sorted(from_input & to_output)
    if len(keep) < 2:
        return None
    return matrix[np.ix_(keep, keep)].copy(), [ops[i] for i in keep]


def validate_spec(matrix: Any, ops: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    """Check an NB101 spec, prune it, and return the pruned ``(matrix, ops)``.

    Raises ``ValueError`` for: a non-square or non-0/1 matrix, entries on or below the diagonal
    (the matrix must be strictly upper-triangular, which makes the cell a DAG), more than 7
    vertices, ops of the wrong length / unknown ops / first not ``input`` / last not ``output``,
    an input that does not reach the output, and more than 9 edges after pruning.
    """
    arr = _as_matrix(matrix)
    n = arr.shape[0]
    if n < 2:
        raise ValueError(f"an NB101 cell needs at least input and output vertices, got {n}")
    if n > MAX_VERTICES:
        raise ValueError(f"an NB101 cell has at most {MAX_VERTICES} vertices, got {n}")
    if np.tril(arr).any():
        i, j = map(int, np.argwhere(np.tril(arr))[0])
        raise ValueError(
            f"NB101 matrix must be strictly upper-triangular (edges i -> j need i < j, so the cell "
            f"is acyclic); entry [{i}][{j}] is set"
        )
    names = _as_ops(ops, n)
    pruned = prune_spec(arr, names)
    if pruned is None:
        raise ValueError("invalid NB101 cell: the input is not connected to the output")
    p_matrix, p_ops = pruned
    edges = int(p_matrix.sum())
    if edges > MAX_EDGES:
        raise ValueError(f"an NB101 cell has at most {MAX_EDGES} edges, got {edges} (after pruning)")
    return p_matrix, p_ops


def module_hash(matrix: Any, ops: Sequence[Any]) -> str:
    """The official NAS-Bench-101 module hash of ``(matrix, ops)`` (``ops``: names or labels).

    Hashes the spec as given (prune first - :func:`validate_spec` - to get the data-set key):
    labels -1 input, 0/1/2 for :data:`NB101_OPS`, -2 output; each vertex starts as
    ``md5(str((out_degree, in_degree, label)))``, then ``n`` rounds of
    ``md5(sorted in-neighbour hashes | sorted out-neighbour hashes | own)``; the fingerprint is
    ``md5(str(sorted(vertex hashes)))``.
    """
    arr = np.asarray(matrix)
    n = arr.shape[0]
    labels = [op if isinstance(op, (int, np.integer)) else _LABEL[op] for op in ops]
    labels = [int(x) for x in labels]
    in_deg = [int(x) for x in arr.sum(axis=0)]
    out_deg = [int(x) for x in arr.sum(axis=1)]
    hashes = [
        hashlib.md5(str((o, i, lab)).encode("utf-8")).hexdigest()
        for o, i, lab in zip(out_deg, in_deg, labels)
    ]
    preds = [[w for w in range(n) if arr[w, v]] for v in range(n)]
    succs = [[w for w in range(n) if arr[v, w]] for v in range(n)]
    for _ in range(n):
        hashes = [
            hashlib.md5(
                (
                    "".join(sorted(hashes[w] for w in preds[v]))
                    + "|"
                    + "".join(sorted(hashes[w] for w in succs[v]))
                    + "|"
                    + hashes[v]
                ).encode("utf-8")
            ).hexdigest()
            for v in range(n)
        ]
    return hashlib.md5(str(sorted(hashes)).encode("utf-8")).hexdigest()


def _vertex_channels(in_channels: int, out_channels: int, matrix: np.ndarray) -> list[int]:
    """NAS-Bench-101's ``compute_vertex_channels`` (pruned matrix)."""
    n = matrix.shape[0]
    channels = [0] * n
    channels[0] = in_channels
    channels[-1] = out_channels
    if n == 2:
        return channels
    fan_in = int(matrix[1:, n - 1].sum())
    base, extra = divmod(out_channels, fan_in)
    for v in range(1, n - 1):
        if matrix[v, n - 1]:
            channels[v] = base + (1 if extra > 0 else 0)
            extra -= 1 if extra > 0 else 0
    for v in range(n - 3, 0, -1):
        if not matrix[v, n - 1]:
            for dst in range(v + 1, n - 1):
                if matrix[v, dst]:
                    channels[v] = max(channels[v], channels[dst])
    return channels


def _longest_path(matrix: np.ndarray, ops: Sequence[str]) -> tuple[int, int]:
    """(edges, parametric ops) on the longest input -> output path."""
    n = matrix.shape[0]
    edges = [0] + [-(10**9)] * (n - 1)
    convs = [0] * n
    for v in range(1, n):
        for u in range(v):
            if matrix[u, v] and edges[u] + 1 > edges[v]:
                edges[v] = edges[u] + 1
            if matrix[u, v]:
                convs[v] = max(convs[v], convs[u] + (ops[v] in _KERNEL))
    return edges[n - 1], convs[n - 1]


def network_stats(
    matrix: np.ndarray,
    ops: Sequence[str],
    *,
    stem_channels: int = 128,
    num_stacks: int = 3,
    cells_per_stack: int = 3,
    num_classes: int = 10,
    image_size: int = 32,
) -> dict[str, int]:
    """Trainable parameters and FLOPs of the NB101 CIFAR network of a pruned cell.

    ``params``: conv kernels (no bias), BatchNorm gamma and beta, dense weights and bias - the
    count NAS-Bench-101 reports as ``trainable_parameters`` (exact). ``flops`` for one 32x32
    image, NASLib's convention (its ``flops`` column x 1e6, exact): multiply-accumulates of
    convolutions and the dense layer, plus 3 per BatchNorm output element and ``k*k`` per
    max-pool output element (3x3 cell pools, 2x2 downsampling pools); ``macs`` counts only the
    multiply-accumulates.
    """
    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    hw = image_size * image_size
    params = 3 * 3 * 3 * stem_channels + 2 * stem_channels
    macs = 3 * 3 * 3 * stem_channels * hw
    other = 3 * stem_channels * hw  # stem BN
    in_c = stem_channels
    size = image_size
    for stack in range(num_stacks):
        out_c = in_c if stack == 0 else 2 * in_c
        if stack > 0:
            size //= 2
            other += 4 * in_c * size * size  # 2x2 max pool, stride 2
        hw = size * size
        for _ in range(cells_per_stack):
            ch = _vertex_channels(in_c, out_c, matrix)
            for t in range(1, n - 1):
                if matrix[0, t]:  # 1x1 conv-BN-ReLU projection of the cell input
                    params += in_c * ch[t] + 2 * ch[t]
                    macs += in_c * ch[t] * hw
                    other += 3 * ch[t] * hw
                k = _KERNEL.get(ops[t])
                if k is not None:
                    params += k * k * ch[t] * ch[t] + 2 * ch[t]
                    macs += k * k * ch[t] * ch[t] * hw
                    other += 3 * ch[t] * hw
                elif ops[t] == MAXPOOL3X3:
                    other += 9 * ch[t] * hw
            if matrix[0, n - 1]:
                params += in_c * out_c + 2 * out_c
                macs += in_c * out_c * hw
                other += 3 * out_c * hw
            in_c = out_c
    params += in_c * num_classes + num_classes
    macs += in_c * num_classes
    return {"params": params, "flops": macs + other, "macs": macs}


# ------------------------------------------------------------------------------------ the space
@register_space("nb101")
class NB101Space(SearchSpace):
    """NAS-Bench-101 cells (423,624 unique); ``(matrix, ops)`` encoding, official hash."""

    name = "nb101"
    vocab = _VOCAB
    size = 423_624
    max_nodes = MAX_VERTICES
    ops = NB101_OPS

    def __init__(
        self,
        stem_channels: int = 128,
        num_stacks: int = 3,
        cells_per_stack: int = 3,
        num_classes: int = 10,
    ) -> None:
        self.stem_channels = stem_channels
        self.num_stacks = num_stacks
        self.cells_per_stack = cells_per_stack
        self.num_classes = num_classes

    # ------------------------------------------------------------------ encoding
    def parse(self, encoding: Any) -> ArchGraph:
        """``(matrix, ops)`` or ``{"matrix": ..., "ops": ...}`` -> pruned ArchGraph."""
        if isinstance(encoding, ArchGraph):
            return self.check(encoding)
        if isinstance(encoding, Mapping):
            if "matrix" not in encoding or "ops" not in encoding:
                raise ValueError(
                    f"an NB101 dict encoding needs 'matrix' and 'ops' keys, got {sorted(encoding)}"
                )
            matrix, ops = encoding["matrix"], encoding["ops"]
        elif isinstance(encoding, (tuple, list)) and len(encoding) == 2:
            matrix, ops = encoding
        else:
            raise ValueError(
                f"NB101 encoding must be (matrix, ops) or {{'matrix': ..., 'ops': ...}}, got {encoding!r}"
            )
        p_matrix, p_ops = validate_spec(matrix, ops)
        return self._build(p_matrix, p_ops)

    def _build(self, matrix: np.ndarray, ops: list[str]) -> ArchGraph:
        edges = [(int(s), int(d)) for s, d in np.argwhere(matrix)]
        return ArchGraph(
            ops=ops, edges=edges, vocab=_VOCAB, space=self.name, macro=self.macro_features(matrix, ops)
        )

    def format(self, arch: ArchGraph) -> tuple[list[list[int]], list[str]]:
        """ArchGraph -> pruned ``(matrix as list of lists of int, ops)``."""
        matrix, ops = self.spec(arch)
        return matrix.astype(int).tolist(), ops

    def spec(self, arch: ArchGraph) -> tuple[np.ndarray, list[str]]:
        """The pruned spec of ``arch`` as ``(numpy int matrix, ops)``."""
        self.check(arch)
        n = arch.num_nodes
        if arch.ops[0] != INPUT or arch.ops[-1] != OUTPUT:
            raise ValueError("an NB101 ArchGraph has 'input' first and 'output' last")
        matrix = arch.adjacency().astype(np.int64)
        if np.tril(matrix).any() or n > MAX_VERTICES:
            raise ValueError("ArchGraph is not an NB101 cell (edges must go from lower to higher vertex)")
        return matrix, list(arch.ops)

    def hash(self, arch: Any) -> str:
        """Official NAS-Bench-101 module hash (of the pruned spec) of ``arch`` or an encoding."""
        matrix, ops = self.spec(self.parse(arch))
        return module_hash(matrix, ops)

    def macro_features(self, matrix: np.ndarray, ops: Sequence[str]) -> dict[str, float]:
        """Macro structure of the NB101 CIFAR network built from the pruned cell."""
        stats = network_stats(
            matrix,
            ops,
            stem_channels=self.stem_channels,
            num_stacks=self.num_stacks,
            cells_per_stack=self.cells_per_stack,
            num_classes=self.num_classes,
        )
        path_edges, path_convs = _longest_path(matrix, ops)
        num_cells = self.num_stacks * self.cells_per_stack
        return {
            "stacks": self.num_stacks,
            "cells_per_stack": self.cells_per_stack,
            "num_cells": num_cells,
            "init_channels": self.stem_channels,
            "num_vertices": len(ops),
            "num_edges": int(np.sum(matrix)),
            "num_parametric_ops": sum(op in _KERNEL for op in ops),
            "cell_depth": path_edges,
            # parametric layers on the longest path: stem + cells + dense
            "depth": 1 + num_cells * max(path_convs, 1 if matrix[0, -1] else 0) + 1,
            "params": stats["params"],
            "flops": stats["flops"],
        }

    # ------------------------------------------------------------------ sampling
    def _try_build(self, matrix: np.ndarray, ops: list[str]) -> ArchGraph | None:
        try:
            p_matrix, p_ops = validate_spec(matrix, ops)
        except ValueError:
            return None
        return self._build(p_matrix, p_ops)

    def sample(self, rng: np.random.Generator | int | None = None) -> ArchGraph:
        """NASLib / NAS-Bench-101 sampling: uniform 7x7 upper-triangular matrix and ops, pruned,
        rejected until valid (connected, <= 9 edges)."""
        rng = as_rng(rng)
        while True:
            matrix = np.triu(rng.integers(0, 2, size=(MAX_VERTICES, MAX_VERTICES)), 1)
            ops = [INPUT] + [NB101_OPS[i] for i in rng.integers(0, 3, size=MAX_VERTICES - 2)] + [OUTPUT]
            arch = self._try_build(matrix, ops)
            if arch is not None:
                return arch

    def mutate(self, arch: ArchGraph, rng: np.random.Generator | int | None = None) -> ArchGraph:
        """One edge flip or one op change (random among those giving a valid, different cell).

        Cells without such a neighbour (only ``input -> output``) get two changes.

        The pruned cell is padded to 7 vertices (new vertices get random ops, inserted before
        the output) so that edge flips can also add vertices; the result is pruned again.
        """
        rng = as_rng(rng)
        matrix, ops = self.spec(self.parse(arch))
        n = matrix.shape[0]
        old_hash = module_hash(matrix, ops)
        pad = MAX_VERTICES - n
        full = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.int64)
        keep = list(range(n - 1)) + [MAX_VERTICES - 1]
        full[np.ix_(keep, keep)] = matrix
        full_ops = ops[:-1] + [NB101_OPS[i] for i in rng.integers(0, 3, size=pad)] + [OUTPUT]
        moves: list[tuple[str, int, int]] = [
            ("edge", s, d) for s in range(MAX_VERTICES) for d in range(s + 1, MAX_VERTICES)
        ]
        moves += [("op", v, j) for v in range(1, MAX_VERTICES - 1) for j in range(len(NB101_OPS) - 1)]

        def attempt(chosen) -> ArchGraph | None:
            new_matrix, new_ops = full.copy(), list(full_ops)
            for kind, a, b in chosen:
                if kind == "edge":
                    new_matrix[a, b] = 1 - new_matrix[a, b]
                else:
                    new_ops[a] = [op for op in NB101_OPS if op != full_ops[a]][b]
            try:
                p_matrix, p_ops = validate_spec(new_matrix, new_ops)
            except ValueError:
                return None
            if module_hash(p_matrix, p_ops) == old_hash:
                return None
            return self._build(p_matrix, p_ops)

        for k in rng.permutation(len(moves)):
            child = attempt([moves[k]])
            if child is not None:
                return child
        # no single change works (e.g. input -> output only: a new vertex needs two edges)
        pairs = list(itertools.combinations(range(len(moves)), 2))
        for k in rng.permutation(len(pairs)):
            child = attempt([moves[i] for i in pairs[k]])
            if child is not None:
                return child
        raise ValueError("no edge flip or op change gives a different valid NB101 cell")  # pragma: no cover

    # ------------------------------------------------------------------ enumeration
    def enumerate(self, data_dir: str | os.PathLike | None = None) -> Iterator[ArchGraph]:
        """All 423,624 unique cells (official canonical spec of each hash), generation order.

        Uses the cached enumeration (:func:`gnnnas.spaces.nb101_enumerate.load_enumeration`),
        computing it on first use (about a minute or two).
        """
        from gnnnas.spaces.nb101_enumerate import load_enumeration

        enum = load_enumeration(data_dir)
        for i in range(len(enum)):
            yield self.from_row(enum, i)

    def from_row(self, enum, i: int) -> ArchGraph:
        """ArchGraph of row ``i`` of an :class:`~gnnnas.spaces.nb101_enumerate.NB101Enumeration`."""
        v = int(enum.num_vertices[i])
        ops = [_OP_OF_LABEL[int(x)] for x in enum.ops[i, :v]]
        return self._build(enum.matrices[i, :v, :v].astype(np.int64), ops)

    def enumeration(self, data_dir: str | os.PathLike | None = None):
        """The cached enumeration arrays and hash -> row lookup (an ``NB101Enumeration``)."""
        from gnnnas.spaces.nb101_enumerate import load_enumeration

        return load_enumeration(data_dir)
