"""DARTS search space (Liu et al. 2019; NAS-Bench-301 flavour).

A genotype is a **normal** and a **reduction** cell. Each cell has two input tensors (0, 1 = the
outputs of the two previous cells) and four intermediate tensors 2..5; intermediate tensor
``i + 2`` is the sum of two edges ``(input, op)`` (pairs ``k = 2i, 2i+1`` of the cell list), and
the cell output is the channel concatenation of the four intermediate tensors. Ops:
``max_pool_3x3, avg_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3,
dil_conv_5x5`` (:data:`DARTS_OPS`, the index order of NAS-Bench-301 / NASLib "compact" keys).

Constraints (checked by :meth:`DartsSpace.parse`): 8 edges per cell; the input of an edge of
tensor ``j`` is one of ``0 .. j-1``; the two inputs of one tensor are **distinct** (DARTS derives
a genotype by keeping the two strongest edges *from different predecessors*; NAS-Bench-301's
configuration space encodes them as an unordered pair ``inputs_node_normal_j = "a_b"``, and all 725
cells of the data file satisfy it). The order of a tensor's two edges is kept by parse/format but
does not change the computation (equal :meth:`~gnnnas.ArchGraph.canonical_hash`).

Accepted encodings (:meth:`DartsSpace.parse`):

* the key string of ``nb301_725_valid_acc.json``, ``"[[(in, op) x 8 normal], [(in, op) x 8
  reduce]]"`` (:func:`format_key` writes it back character for character);
* the same nested structure as lists/tuples: two sequences of 8 pairs ``(input: int, op: int)``
  with ``op`` an index into :data:`DARTS_OPS` (what :meth:`DartsSpace.format` returns, as tuples);
* a DARTS ``Genotype`` (any object with ``normal`` and ``reduce`` attributes) or a mapping with
  keys ``"normal"`` and ``"reduce"``; each a list of 8 pairs ``(op_name: str, input: int)`` in the
  order of the original DARTS code. ``normal_concat`` / ``reduce_concat``, when given, must be
  ``[2, 3, 4, 5]`` (the graph always concatenates all four intermediate tensors).

Graph layout: both cells in ONE :class:`~gnnnas.ArchGraph`, as two components built with
:func:`~gnnnas.spaces.edge_cells.edge_cell_to_nodes`: nodes ``0, 1`` = normal-cell inputs,
``2..9`` = its 8 edge ops in genotype order, ``10..13`` = ``sum`` nodes of the intermediate
tensors 2..5, ``14`` = its output, which concatenates them (``OpVocabulary(output="concat")``);
``15..29`` the same for the reduction cell. The explicit sums keep which two edges feed one
tensor: swapping ops between two tensors gives another network and another
:meth:`~gnnnas.ArchGraph.canonical_hash`. ``cell`` is 0 for normal-cell nodes and 1 for
reduction-cell nodes; ``cell_sequence = (0, 0, 1, 0, 0, 1, 0, 0)`` (8 cells, reductions at 1/3 and
2/3 of the depth). The two cells are *not* wired together: an ``output`` node may not feed other
nodes, and in the network a cell reads the outputs of the *two* previous cells (the stem, normal
or reduction cells), which one edge between two cell graphs would misrepresent. The macro order is
carried by ``cell_sequence`` (cell-to-cell context in the encoder) and by the global node, which
links every node of both cells.

Macro features: the network that NAS-Bench-301 trains (DARTS ``NetworkCIFAR`` with
``init_channels=32``, 8 cells, stem ``3 * C``, no auxiliary head, CIFAR-10). ``params`` reproduce
the ``params`` column of ``nb301_725_valid_acc.json`` exactly (all 725 cells): cell ops carry no
BatchNorm affine weights (``affine=False``), stem and preprocessing BatchNorms do. ``flops`` follow
the counting convention of that file (multiply-accumulates of convolutions and the classifier,
plus one per element for every ReLU and affine-free BatchNorm, two for affine BatchNorms, ten per
output element of 3x3 pooling, one per input element of the global pool); they match the file's
``flops`` column up to a constant 8,704 (0.006 %) on all 725 cells. DARTS' own evaluation network
is ``DartsSpace(init_channels=36, layers=20)``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gnnnas.graph import ArchGraph, OpVocabulary
from gnnnas.spaces.base import SearchSpace, as_rng
from gnnnas.spaces.edge_cells import edge_cell_to_nodes
from gnnnas.spaces.registry import register_space

__all__ = ["DARTS_OPS", "Cell", "Compact", "DartsSpace", "format_key"]

DARTS_OPS: tuple[str, ...] = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
_PARAMETRIC = frozenset({"sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"})
# The cell output concatenates the intermediate tensors; pools on the same input are one tensor.
_VOCAB = OpVocabulary(
    ops=DARTS_OPS,
    identity={"skip_connect"},
    parametric=_PARAMETRIC,
    mergeable={"max_pool_3x3", "avg_pool_3x3"},
    output="concat",
)

NUM_EDGES = 8
NUM_INTERMEDIATE = 4
#: Node indices of one cell in the ArchGraph: 2 inputs, 8 ops, 4 sums, 1 output.
_CELL_NODES = 2 + NUM_EDGES + NUM_INTERMEDIATE + 1
_CELL_NAMES = ("normal", "reduce")

Cell = tuple[tuple[int, int], ...]
Compact = tuple[Cell, Cell]

_KEY_CHARS = re.compile(r"^[\s\[\]\(\),0-9]*$")


def format_key(encoding: Any) -> str:
    """The NAS-Bench-301 key string ``"[[(in, op), ...], [(in, op), ...]]"``.

    Accepts anything :meth:`DartsSpace.parse` accepts (an ArchGraph of the space included).
    ``format_key(key) == key`` for every key of ``nb301_725_valid_acc.json``.
    """
    space = DartsSpace()
    compact = space.format(encoding) if isinstance(encoding, ArchGraph) else space._to_compact(encoding)
    return str([list(cell) for cell in compact])


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


@register_space("darts")
class DartsSpace(SearchSpace):
    """DARTS normal + reduction cells; macro skeleton of the NAS-Bench-301 CIFAR-10 network.

    Args:
        init_channels: channels ``C`` of the first stage (the stem has ``3 * C``). Default 32,
            the network NAS-Bench-301 trains (its params/FLOPs columns); DARTS' evaluation uses 36.
        layers: number of cells (reduction cells at ``layers // 3`` and ``2 * layers // 3``).
        num_classes: classifier outputs (10 for CIFAR-10).
        image_size: input resolution for FLOPs (32 for CIFAR).
        affine_ops: whether the BatchNorms inside cell operations have affine weights
            (``False`` reproduces the data file's parameter counts).
    """

    name = "darts"
    vocab = _VOCAB
    #: About 1.1e18 genotypes (7^8 ops x 1*3*6*10 unordered input pairs per cell, squared): not enumerable.
    size = None
    max_nodes = 2 * _CELL_NODES

    def __init__(
        self,
        init_channels: int = 32,
        layers: int = 8,
        num_classes: int = 10,
        image_size: int = 32,
        affine_ops: bool = False,
    ) -> None:
        if layers < 3:
            raise ValueError(f"a DARTS network needs at least 3 cells, got layers={layers}")
        self.init_channels = int(init_channels)
        self.layers = int(layers)
        self.num_classes = int(num_classes)
        self.image_size = int(image_size)
        self.affine_ops = bool(affine_ops)
        reductions = {self.layers // 3, 2 * self.layers // 3}
        self.cell_sequence: tuple[int, ...] = tuple(int(i in reductions) for i in range(self.layers))

    # -------------------------------------------------------------- encoding
    def parse(self, encoding: Any) -> ArchGraph:
        """Key string, nested ``(input, op_index)`` pairs or a Genotype -> ArchGraph.

        See the module docstring for the accepted forms; any violation raises ``ValueError``.
        """
        if isinstance(encoding, ArchGraph):
            return self.check(encoding)
        return self._build(self._to_compact(encoding))

    def format(self, arch: ArchGraph) -> Compact:
        """``((in, op) x 8 normal, (in, op) x 8 reduce)`` as nested tuples of ints."""
        self.check(arch)
        if arch.num_nodes != 2 * _CELL_NODES:
            raise ValueError(
                f"a DARTS ArchGraph has {2 * _CELL_NODES} nodes (a pruned graph cannot be formatted), "
                f"got {arch.num_nodes}"
            )
        preds = arch.predecessors()
        cells = []
        for c in range(2):
            base = c * _CELL_NODES
            tensor_of = {base: 0, base + 1: 1}  # input and sum nodes -> the tensor they hold
            tensor_of.update({base + 2 + NUM_EDGES + i: 2 + i for i in range(NUM_INTERMEDIATE)})
            cell = []
            for k in range(NUM_EDGES):
                node = base + 2 + k
                sources = [tensor_of.get(p) for p in preds[node]]
                if len(sources) != 1 or sources[0] is None or arch.ops[node] not in DARTS_OPS:
                    raise ValueError(f"node {node} of the ArchGraph is not a DARTS edge op")
                cell.append((sources[0], DARTS_OPS.index(arch.ops[node])))
            cells.append(tuple(cell))
        return (cells[0], cells[1])

    def format_key(self, arch: ArchGraph) -> str:
        """NAS-Bench-301 key string of ``arch`` (see :func:`format_key`)."""
        return format_key(self.format(arch))

    def to_genotype(self, arch: ArchGraph) -> dict[str, list]:
        """DARTS-style genotype dict: ``normal``/``reduce`` lists of ``(op_name, input)`` + concats."""
        normal, reduce = self.format(arch)
        return {
            "normal": [(DARTS_OPS[op], i) for i, op in normal],
            "normal_concat": [2, 3, 4, 5],
            "reduce": [(DARTS_OPS[op], i) for i, op in reduce],
            "reduce_concat": [2, 3, 4, 5],
        }

    def _to_compact(self, encoding: Any) -> Compact:
        if isinstance(encoding, str):
            return self._check_compact(self._parse_key(encoding))
        genotype = self._genotype_cells(encoding)
        if genotype is not None:
            return self._check_compact(genotype)
        if isinstance(encoding, Sequence) and not isinstance(encoding, (bytes, bytearray)):
            return self._check_compact(encoding)
        raise ValueError(
            "DARTS encoding must be a key string '[[(in, op), ...], [...]]', two sequences of 8 "
            "(input, op_index) pairs, or a Genotype/dict with normal and reduce; "
            f"got {type(encoding).__name__}"
        )

    @staticmethod
    def _parse_key(text: str) -> Any:
        if not _KEY_CHARS.match(text):
            raise ValueError(
                f"DARTS key string may only hold digits, brackets, parentheses and commas: {text!r}"
            )
        try:
            return ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise ValueError(f"DARTS key string is not a nested list of pairs: {text!r}") from None

    @staticmethod
    def _genotype_cells(encoding: Any) -> list | None:
        """Genotype object / dict -> nested (input, op_index) pairs; None if not genotype-like."""
        if isinstance(encoding, Mapping):
            if "normal" not in encoding or "reduce" not in encoding:
                raise ValueError(
                    "a DARTS genotype dict needs keys 'normal' and 'reduce', "
                    f"got {sorted(map(str, encoding))}"
                )
            get = encoding.get
        elif hasattr(encoding, "normal") and hasattr(encoding, "reduce"):

            def get(key, default=None):
                return getattr(encoding, key, default)
        else:
            return None
        cells = []
        for name in _CELL_NAMES:
            concat = get(f"{name}_concat", None)
            try:
                full = concat is None or list(concat) == [2, 3, 4, 5]
            except (TypeError, ValueError):  # not iterable (5), or items that do not compare
                full = False
            if not full:
                raise ValueError(f"{name}_concat must be [2, 3, 4, 5] (all intermediate nodes), got {concat!r}")
            edges = get(name)
            if isinstance(edges, (str, bytes)) or not isinstance(edges, Sequence):
                raise ValueError(f"genotype {name} must be a list of (op_name, input) pairs, got {edges!r}")
            cell = []
            for k, pair in enumerate(edges):
                if (
                    isinstance(pair, (str, bytes))
                    or not isinstance(pair, Sequence)
                    or len(pair) != 2
                    or not isinstance(pair[0], str)
                ):
                    raise ValueError(
                        f"genotype {name} edge {k} must be an (op_name, input) pair, got {pair!r}"
                    )
                op, inp = pair
                if op not in DARTS_OPS:
                    raise ValueError(f"unknown DARTS op {op!r} in {name} edge {k}; known: {list(DARTS_OPS)}")
                cell.append((inp, DARTS_OPS.index(op)))
            cells.append(cell)
        return cells

    @staticmethod
    def _check_compact(cells: Any) -> Compact:
        if isinstance(cells, (str, bytes)) or not isinstance(cells, Sequence) or len(cells) != 2:
            raise ValueError(f"a DARTS genotype has 2 cells (normal, reduce), got {cells!r}")
        out = []
        for c, (name, cell) in enumerate(zip(_CELL_NAMES, cells)):
            if isinstance(cell, (str, bytes)) or not isinstance(cell, Sequence) or len(cell) != NUM_EDGES:
                n = len(cell) if isinstance(cell, Sequence) else type(cell).__name__
                raise ValueError(f"the {name} cell needs {NUM_EDGES} (input, op) pairs, got {n}")
            pairs = []
            for k, pair in enumerate(cell):
                if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
                    raise ValueError(f"{name} edge {k} must be an (input, op) pair, got {pair!r}")
                inp, op = pair
                if not (_is_int(inp) and _is_int(op)):
                    raise ValueError(
                        f"{name} edge {k} must be a pair of ints (input, op_index), got {pair!r}"
                    )
                inp, op = int(inp), int(op)
                if not 0 <= op < len(DARTS_OPS):
                    raise ValueError(
                        f"{name} edge {k}: op index {op} out of range "
                        f"0..{len(DARTS_OPS) - 1} ({list(DARTS_OPS)})"
                    )
                node = 2 + k // 2
                if not 0 <= inp < node:
                    raise ValueError(
                        f"{name} edge {k}: input {inp} of intermediate node {node} must be in 0..{node - 1}"
                    )
                pairs.append((inp, op))
            for i in range(NUM_INTERMEDIATE):
                if pairs[2 * i][0] == pairs[2 * i + 1][0]:
                    raise ValueError(
                        f"{name} cell: the two inputs of intermediate node {i + 2} must be distinct, "
                        f"both are {pairs[2 * i][0]}"
                    )
            out.append(tuple(pairs))
        return (out[0], out[1])

    # -------------------------------------------------------------- graph
    def _build(self, compact: Compact) -> ArchGraph:
        ops: list[str] = []
        edges: list[tuple[int, int]] = []
        cell_of: list[int] = []
        for c, cell in enumerate(compact):
            cell_ops, cell_edges, _ = edge_cell_to_nodes(
                num_inputs=2,
                edge_ops=[(inp, 2 + k // 2, DARTS_OPS[op]) for k, (inp, op) in enumerate(cell)],
                output_tensors=[2, 3, 4, 5],
                node_offset=len(ops),
                sum_nodes=True,
            )
            ops.extend(cell_ops)
            edges.extend(cell_edges)
            cell_of.extend([c] * len(cell_ops))
        return ArchGraph(
            ops=ops,
            edges=edges,
            vocab=_VOCAB,
            space=self.name,
            cell=cell_of,
            cell_sequence=self.cell_sequence,
            macro=self.macro_features(compact),
        )

    @staticmethod
    def cell_depth(cell: Cell) -> int:
        """Ops on the longest input -> output path of one cell."""
        depth = {0: 0, 1: 0}
        for i in range(NUM_INTERMEDIATE):
            depth[i + 2] = 1 + max(depth[inp] for inp, _ in cell[2 * i : 2 * i + 2])
        return max(depth[t] for t in range(2, 2 + NUM_INTERMEDIATE))

    def macro_features(self, compact: Compact) -> dict[str, float]:
        """Macro structure of the network stacked from the two cells (see the module docstring)."""
        params, flops = self._cost(compact)
        normal, reduce = compact
        n_par = sum(DARTS_OPS[op] in _PARAMETRIC for _, op in normal)
        r_par = sum(DARTS_OPS[op] in _PARAMETRIC for _, op in reduce)
        num_red = sum(self.cell_sequence)
        num_norm = self.layers - num_red
        d_norm, d_red = self.cell_depth(normal), self.cell_depth(reduce)
        return {
            "num_cells": self.layers,
            "reduction_cells": num_red,
            "stages": num_red + 1,
            "init_channels": self.init_channels,
            "num_parametric_ops": n_par + r_par,
            "normal_parametric_ops": n_par,
            "reduce_parametric_ops": r_par,
            "network_parametric_ops": num_norm * n_par + num_red * r_par,
            "normal_cell_depth": d_norm,
            "reduce_cell_depth": d_red,
            "depth": num_norm * d_norm + num_red * d_red + 2,  # cells + stem + classifier
            "params": params,
            "flops": flops,
        }

    def _cost(self, compact: Compact) -> tuple[int, int]:
        """(params, FLOPs) of the NetworkCIFAR built from ``compact`` (no auxiliary head)."""
        C, hw = self.init_channels, self.image_size
        op_bn = 2 if self.affine_ops else 0  # BN weights per channel inside cell ops
        stem = 3 * C
        params = 9 * 3 * stem + 2 * stem
        flops = 9 * 3 * stem * hw * hw + 2 * stem * hw * hw
        c_pp, c_p, c = stem, stem, C
        s_pp, s_p = hw, hw  # spatial size of the two cell inputs
        for red in self.cell_sequence:
            if red:
                c *= 2
            s_in = s_p
            s = s_in // 2 if red else s_in
            # preprocessing: input 0 (FactorizedReduce after a reduction cell, else ReLUConvBN 1x1)
            params += c_pp * c + 2 * c + c_p * c + 2 * c
            flops += c_pp * s_pp * s_pp + c_pp * c * s_in * s_in + 2 * c * s_in * s_in
            flops += c_p * s_p * s_p + c_p * c * s_in * s_in + 2 * c * s_in * s_in
            e = c * s * s  # elements of one op output
            for inp, op_id in compact[red]:
                op = DARTS_OPS[op_id]
                stride = 2 if red and inp < 2 else 1
                e_in = c * s_in * s_in if stride == 2 else e
                if op.endswith("pool_3x3"):
                    flops += 10 * e
                elif op == "skip_connect":
                    if stride == 2:  # FactorizedReduce: ReLU, two 1x1 convs to c/2, BN
                        params += c * c + op_bn * c
                        flops += e_in + c * c * s * s + e
                else:
                    k = int(op[-1])
                    unit = c * k * k + c * c  # depthwise + pointwise conv
                    if op.startswith("sep"):  # (ReLU, dw, pw, BN) twice, first dw strided
                        params += 2 * (unit + op_bn * c)
                        flops += 2 * unit * s * s + e_in + e + 2 * e
                    else:  # dil_conv: ReLU, dilated dw, pw, BN
                        params += unit + op_bn * c
                        flops += unit * s * s + e_in + e
            c_pp, c_p = c_p, NUM_INTERMEDIATE * c
            s_pp, s_p = s_p, s
        params += c_p * self.num_classes + self.num_classes
        flops += c_p * s_p * s_p + c_p * self.num_classes
        return params, flops

    # -------------------------------------------------------------- sampling
    @staticmethod
    def _random_cell(rng: np.random.Generator) -> Cell:
        cell = []
        for i in range(NUM_INTERMEDIATE):
            a, b = rng.choice(i + 2, size=2, replace=False)
            for inp in (a, b):
                cell.append((int(inp), int(rng.integers(len(DARTS_OPS)))))
        return tuple(cell)

    def sample(self, rng: np.random.Generator | int | None = None) -> ArchGraph:
        """Uniform ops; each node's two distinct inputs drawn uniformly (random order)."""
        rng = as_rng(rng)
        return self._build((self._random_cell(rng), self._random_cell(rng)))

    def mutate(self, arch: ArchGraph, rng: np.random.Generator | int | None = None) -> ArchGraph:
        """In one cell, change the op of one edge or (with probability 1/2) the input of one edge.

        A new input differs from the edge's current input and from its sibling's input
        (inputs stay distinct); node 2 can only read tensors 0 and 1, so its inputs never change.
        """
        rng = as_rng(rng)
        cells = [list(cell) for cell in self.format(arch)]
        c = int(rng.integers(2))
        k = int(rng.integers(NUM_EDGES))
        inp, op = cells[c][k]
        sibling = cells[c][k ^ 1][0]
        node = 2 + k // 2
        new_inputs = [i for i in range(node) if i not in (inp, sibling)]
        if new_inputs and rng.random() < 0.5:
            cells[c][k] = (int(rng.choice(new_inputs)), op)
        else:
            others = [o for o in range(len(DARTS_OPS)) if o != op]
            cells[c][k] = (inp, int(rng.choice(others)))
        return self._build((tuple(cells[0]), tuple(cells[1])))
