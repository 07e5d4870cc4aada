"""One graph type for every search space: :class:`ArchGraph`.

An architecture is a node-labelled DAG. Every node applies its operation to the *sum* of its
predecessors' outputs (input nodes emit the data). Two reserved labels make the wiring of cells
explicit: a ``sum`` node adds its predecessors and nothing else (an intermediate tensor of a DARTS
cell), and an ``output`` node either adds its predecessors (NAS-Bench-201) or *concatenates* them
along channels (DARTS, NAS-Bench-101: ``OpVocabulary(output="concat")``; predecessors that are
input nodes are added to the concatenation, as NAS-Bench-101 adds its projected input).
Edge-labelled spaces (NAS-Bench-201, DARTS) are converted by their space into this form, one node
per edge-op.

:meth:`ArchGraph.computation_graph` reduces a graph to what it computes (dead ops pruned, identity
ops contracted with their path multiplicities, copies of a parameter-free op on the same inputs
merged) in a canonical node order; :meth:`ArchGraph.canonical_hash` is the identity of that
graph, and the encoder sees exactly that graph, so equal identities get equal scores.

On top of the DAG, :meth:`ArchGraph.to_pyg` adds a **global macro-structure node** linked to
every other node; its features describe the architecture's macro structure (stages, cells, depth,
channels, parametric ops, params, FLOPs - whatever the space can compute), so an encoder sees
what a single cell cannot show.
"""

from __future__ import annotations

import collections
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["EDGE_TYPES", "NODE_TYPES", "ArchGraph", "ComputationGraph", "OpVocabulary"]

INPUT = "input"
OUTPUT = "output"
#: Reserved label of a node that adds its predecessors (an intermediate tensor of a cell).
SUM = "sum"
#: How an output node combines its predecessors (:attr:`OpVocabulary.output`).
OUTPUT_MODES = ("sum", "concat")

#: Node types written to ``Data.node_type`` by :meth:`ArchGraph.to_pyg`.
NODE_TYPES: tuple[str, ...] = ("input", "output", "op", "global", "sum")
#: Edge kinds written to ``Data.edge_type``: DAG edges, their reverses, global links both ways.
EDGE_TYPES: tuple[str, ...] = ("forward", "backward", "global_to_node", "node_to_global")


@dataclass(frozen=True)
class OpVocabulary:
    """The operations a space may use, and what they mean for pruning and hashing.

    ``identity`` ops pass their input through (``skip_connect``), ``zero`` ops output nothing
    (``none``); both matter for deciding when two architectures compute the same function.
    ``parametric`` ops carry weights (they are counted in the global node's features).
    ``mergeable`` ops compute the same tensor whenever they read the same inputs (parameter-free
    and with a width that does not depend on the rest of the graph, e.g. NB201's
    ``avg_pool_3x3``): two copies on equal inputs are one node of the computation graph. Copies
    of any other op stay separate nodes (two convolutions hold two sets of weights).
    ``output``: ``"sum"`` or ``"concat"``, how output nodes combine their predecessors.

    :attr:`labels` are ``input``, ``output``, the ops, then ``sum`` (the reserved label of a node
    that only adds its predecessors).
    """

    ops: tuple[str, ...]
    identity: frozenset[str] = frozenset()
    zero: frozenset[str] = frozenset()
    parametric: frozenset[str] = frozenset()
    mergeable: frozenset[str] = frozenset()
    output: str = "sum"

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        object.__setattr__(self, "ops", ops)
        for name in ("identity", "zero", "parametric", "mergeable"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))
        if len(set(ops)) != len(ops):
            raise ValueError(f"OpVocabulary has duplicate ops: {ops}")
        if INPUT in ops or OUTPUT in ops or SUM in ops:
            raise ValueError("'input', 'output' and 'sum' are reserved node labels, not ops")
        if self.output not in OUTPUT_MODES:
            raise ValueError(f"OpVocabulary.output must be one of {OUTPUT_MODES}, got {self.output!r}")
        if self.mergeable & self.parametric:
            raise ValueError(
                f"OpVocabulary.mergeable names parametric ops {sorted(self.mergeable & self.parametric)}: "
                "copies of an op with weights are different nodes"
            )
        for name in ("identity", "zero", "parametric", "mergeable"):
            unknown = sorted(getattr(self, name) - set(ops))
            if unknown:
                raise ValueError(f"OpVocabulary.{name} names ops that are not in ops: {unknown}")

    @property
    def labels(self) -> tuple[str, ...]:
        """All node labels in one-hot order: ``input``, ``output``, the ops, then ``sum``."""
        return (INPUT, OUTPUT) + self.ops + (SUM,)

    def index(self, label: str) -> int:
        """Position of ``label`` in :attr:`labels` (the op one-hot column)."""
        try:
            return self._label_index[label]
        except KeyError:
            raise ValueError(f"unknown op {label!r}; known: {list(self.labels)}") from None

    @property
    def _label_index(self) -> dict[str, int]:
        cache = self.__dict__.get("_cache_label_index")
        if cache is None:
            cache = {label: i for i, label in enumerate(self.labels)}
            object.__setattr__(self, "_cache_label_index", cache)
        return cache


def _as_float_dict(macro: Mapping[str, Any] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in (macro or {}).items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"macro feature {key!r} must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"macro feature {key!r} must be finite, got {value!r}")
        out[str(key)] = number
    return out


@dataclass(frozen=True, eq=False)
class ArchGraph:
    """A validated architecture DAG, shared by every search space.

    Args:
        ops: label of every node: ``"input"``, ``"output"`` or an op of ``vocab``.
        edges: directed edges ``(src, dst)`` between node indices.
        vocab: the op vocabulary of the space.
        space: name of the space the graph belongs to (``None`` for free-standing graphs).
        cell: optional cell index of every node (multi-cell spaces, e.g. DARTS normal/reduce).
        cell_sequence: optional order in which the cells are stacked in the network, e.g.
            ``(0, 0, 1, 0, 0, 1, 0, 0)`` for DARTS; used for cell-to-cell context.
        node_features: optional ``[num_nodes, k]`` numeric per-node attributes (e.g. ViT heads).
        node_feature_names: names of the ``k`` columns of ``node_features``.
        macro: macro-structure features for the global node (number-valued).

    Nodes run ``op(sum of predecessors)``. Validation raises ``ValueError`` for cycles, edges
    out of range, self-loops, duplicate edges, unknown ops, missing input/output nodes, and
    dangling nodes (a non-input node without predecessors or a non-output node without
    successors). The only graph allowed to have unconnected input/output nodes is the empty
    computation (no op nodes at all), which is what pruning a fully dead architecture yields.
    """

    ops: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    vocab: OpVocabulary
    space: str | None = None
    cell: tuple[int, ...] | None = None
    cell_sequence: tuple[int, ...] | None = None
    node_features: np.ndarray | None = None
    node_feature_names: tuple[str, ...] = ()
    macro: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.vocab, OpVocabulary):
            raise ValueError(f"vocab must be an OpVocabulary, got {type(self.vocab).__name__}")
        set_ = object.__setattr__
        set_(self, "ops", tuple(str(op) for op in self.ops))
        try:
            edges = tuple((int(s), int(d)) for s, d in self.edges)
        except (TypeError, ValueError):
            raise ValueError(f"edges must be pairs of node indices, got {self.edges!r}") from None
        set_(self, "edges", edges)
        set_(self, "macro", _as_float_dict(self.macro))
        if self.cell is not None:
            set_(self, "cell", tuple(int(c) for c in self.cell))
        if self.cell_sequence is not None:
            set_(self, "cell_sequence", tuple(int(c) for c in self.cell_sequence))
        if self.node_features is not None:
            feats = np.asarray(self.node_features, dtype=np.float32)
            if feats.ndim == 1:
                feats = feats[:, None]
            feats.setflags(write=False)
            set_(self, "node_features", feats)
        set_(self, "node_feature_names", tuple(self.node_feature_names))
        self._validate()

    @classmethod
    def _trusted(cls, topological_order: Sequence[int] | None = None, **fields: Any) -> ArchGraph:
        """Build without validation, for spaces that fill a template validated once.

        Fields must already have their final types (tuples of str / int pairs, float macro).
        Internal: user code goes through the validating constructor.
        """
        graph = object.__new__(cls)
        defaults = {"space": None, "cell": None, "cell_sequence": None, "node_features": None,
                    "node_feature_names": (), "macro": {}}
        for name, value in {**defaults, **fields}.items():
            object.__setattr__(graph, name, value)
        if topological_order is not None:
            object.__setattr__(graph, "_topological_order", tuple(topological_order))
        return graph

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        n = len(self.ops)
        if n < 2:
            raise ValueError(f"an architecture needs at least an input and an output node, got {n} nodes")
        for i, op in enumerate(self.ops):
            if op not in self.vocab._label_index:
                raise ValueError(
                    f"node {i} has unknown op {op!r}; the vocabulary is {list(self.vocab.labels)}"
                )
        inputs = [i for i, op in enumerate(self.ops) if op == INPUT]
        outputs = [i for i, op in enumerate(self.ops) if op == OUTPUT]
        if not inputs:
            raise ValueError("the graph has no 'input' node")
        if not outputs:
            raise ValueError("the graph has no 'output' node")
        seen: set[tuple[int, int]] = set()
        for s, d in self.edges:
            if not (0 <= s < n and 0 <= d < n):
                raise ValueError(f"edge ({s}, {d}) points outside the {n} nodes")
            if s == d:
                raise ValueError(f"edge ({s}, {d}) is a self-loop")
            if (s, d) in seen:
                raise ValueError(f"edge ({s}, {d}) appears twice")
            seen.add((s, d))
            if self.ops[d] == INPUT:
                raise ValueError(f"edge ({s}, {d}) enters input node {d}")
            if self.ops[s] == OUTPUT:
                raise ValueError(f"edge ({s}, {d}) leaves output node {s}")
        if self.topological_order() is None:
            raise ValueError("the graph has a cycle; architectures must be DAGs")
        has_in = [False] * n
        has_out = [False] * n
        for s, d in self.edges:
            has_out[s] = True
            has_in[d] = True
        empty = len(inputs) + len(outputs) == n and not self.edges
        if not empty:
            for i, op in enumerate(self.ops):
                if op != INPUT and not has_in[i]:
                    raise ValueError(f"node {i} ({op}) is dangling: it has no incoming edge")
                if op != OUTPUT and not has_out[i]:
                    raise ValueError(f"node {i} ({op}) is dangling: it has no outgoing edge")
        if self.cell is not None and len(self.cell) != n:
            raise ValueError(f"cell has {len(self.cell)} entries for {n} nodes")
        if self.cell_sequence is not None and self.cell is not None:
            unknown = sorted(set(self.cell_sequence) - set(self.cell))
            if unknown:
                raise ValueError(f"cell_sequence names cells that no node belongs to: {unknown}")
        if self.node_features is not None:
            if self.node_features.shape[0] != n:
                raise ValueError(
                    f"node_features has {self.node_features.shape[0]} rows for {n} nodes"
                )
            if self.node_feature_names and len(self.node_feature_names) != self.node_features.shape[1]:
                raise ValueError(
                    f"{len(self.node_feature_names)} node_feature_names for "
                    f"{self.node_features.shape[1]} node feature columns"
                )
            if not np.all(np.isfinite(self.node_features)):
                raise ValueError("node_features must be finite")

    # ------------------------------------------------------------------ structure
    @property
    def num_nodes(self) -> int:
        return len(self.ops)

    @property
    def inputs(self) -> tuple[int, ...]:
        """Indices of the input nodes, in node order (input 0, input 1, ...)."""
        return tuple(i for i, op in enumerate(self.ops) if op == INPUT)

    @property
    def outputs(self) -> tuple[int, ...]:
        return tuple(i for i, op in enumerate(self.ops) if op == OUTPUT)

    def predecessors(self) -> list[list[int]]:
        preds: list[list[int]] = [[] for _ in self.ops]
        for s, d in self.edges:
            preds[d].append(s)
        return preds

    def successors(self) -> list[list[int]]:
        succs: list[list[int]] = [[] for _ in self.ops]
        for s, d in self.edges:
            succs[s].append(d)
        return succs

    def topological_order(self) -> list[int] | None:
        """Kahn's order (smallest index first); ``None`` when the graph has a cycle."""
        cached = self.__dict__.get("_topological_order")
        if cached is not None:
            return list(cached)
        n = len(self.ops)
        indeg = [0] * n
        succs = self.successors()
        for _, d in self.edges:
            indeg[d] += 1
        ready = [i for i in range(n) if indeg[i] == 0]
        order: list[int] = []
        while ready:
            ready.sort(reverse=True)
            v = ready.pop()
            order.append(v)
            for w in succs[v]:
                indeg[w] -= 1
                if indeg[w] == 0:
                    ready.append(w)
        if len(order) != n:
            return None
        object.__setattr__(self, "_topological_order", tuple(order))
        return order

    def adjacency(self) -> np.ndarray:
        """Dense ``[n, n]`` 0/1 adjacency matrix (row = source)."""
        adj = np.zeros((self.num_nodes, self.num_nodes), dtype=np.int8)
        for s, d in self.edges:
            adj[s, d] = 1
        return adj

    def to_networkx(self):
        """The DAG as a ``networkx.DiGraph`` with ``op`` node attributes."""
        import networkx as nx

        g = nx.DiGraph()
        for i, op in enumerate(self.ops):
            g.add_node(i, op=op)
        g.add_edges_from(self.edges)
        return g

    @property
    def num_parametric_ops(self) -> int:
        return sum(op in self.vocab.parametric for op in self.ops)

    # ------------------------------------------------------------------ pruning and hashing
    def live_nodes(self) -> list[bool]:
        """Which nodes lie on an input -> output path once ``zero`` ops are removed."""
        n = self.num_nodes
        zero = self.vocab.zero
        alive = [op not in zero for op in self.ops]
        succs = self.successors()
        preds = self.predecessors()
        from_input = [False] * n
        stack = [i for i in self.inputs]
        for i in stack:
            from_input[i] = True
        while stack:
            v = stack.pop()
            for w in succs[v]:
                if alive[w] and not from_input[w]:
                    from_input[w] = True
                    stack.append(w)
        to_output = [False] * n
        stack = [i for i in self.outputs if from_input[i]]
        for i in stack:
            to_output[i] = True
        while stack:
            v = stack.pop()
            for w in preds[v]:
                if alive[w] and from_input[w] and not to_output[w]:
                    to_output[w] = True
                    stack.append(w)
        return [from_input[i] and to_output[i] for i in range(n)]

    def reduced(self, prune: bool = True, contract_identities: bool = False) -> tuple[list[int], list[tuple[int, int]]]:
        """Kept node indices and the edges between them (renumbered) after pruning/contraction.

        The cheap core of :meth:`prune` and :meth:`contract_identities`, without building a new
        validated graph (the featuriser's path when it does not use the computation graph).
        """
        n = self.num_nodes
        keep_mask = [True] * n
        edges = list(self.edges)
        if prune:
            live = self.live_nodes()
            keep_mask = [live[i] or self.ops[i] in (INPUT, OUTPUT) for i in range(n)]
            edges = [(s, d) for s, d in edges if live[s] and live[d]]
        if contract_identities and self.vocab.identity:
            identity = self.vocab.identity
            preds: list[set[int]] = [set() for _ in range(n)]
            succs: list[set[int]] = [set() for _ in range(n)]
            for s, d in edges:
                succs[s].add(d)
                preds[d].add(s)
            for v in self.topological_order() or ():
                if not keep_mask[v] or self.ops[v] not in identity:
                    continue
                for p in preds[v]:
                    succs[p].discard(v)
                    succs[p].update(succs[v])
                for q in succs[v]:
                    preds[q].discard(v)
                    preds[q].update(preds[v])
                preds[v], succs[v] = set(), set()
                keep_mask[v] = False
            edges = [(s, d) for s in range(n) if keep_mask[s] for d in succs[s]]
        keep = [i for i in range(n) if keep_mask[i]]
        remap = {old: new for new, old in enumerate(keep)}
        return keep, sorted((remap[s], remap[d]) for s, d in edges)

    def _subgraph(self, keep: list[int], edges: list[tuple[int, int]]) -> ArchGraph:
        return ArchGraph(
            ops=[self.ops[i] for i in keep],
            edges=edges,
            vocab=self.vocab,
            space=self.space,
            cell=None if self.cell is None else [self.cell[i] for i in keep],
            cell_sequence=self.cell_sequence,
            node_features=None if self.node_features is None else self.node_features[keep],
            node_feature_names=self.node_feature_names,
            macro=self.macro,
        )

    def prune(self) -> ArchGraph:
        """Drop dead computation: ``zero`` ops and nodes not on an input -> output path.

        Input and output nodes are always kept (so pruning a fully dead architecture yields
        the empty computation). The result computes the same function as ``self``.
        """
        keep, edges = self.reduced(prune=True)
        if len(keep) == self.num_nodes:
            return self
        return self._subgraph(keep, edges)

    def contract_identities(self) -> ArchGraph:
        """Remove ``identity`` op nodes, wiring their predecessors to their successors.

        Together with :meth:`prune` this gives a graph close to the computed function:
        ``x -> skip -> conv`` and ``x -> conv`` become the same graph. (Two paths that merge
        through identities become one edge, so ``f(x) + f(x)`` of a shared ``f`` loses its
        multiplicity.)
        """
        if not any(op in self.vocab.identity for op in self.ops):
            return self
        keep, edges = self.reduced(prune=False, contract_identities=True)
        return self._subgraph(keep, edges)

    def _op_label(self, v: int) -> str:
        """Op name plus whatever else changes what node ``v`` computes (features, cell)."""
        label = self.ops[v]
        if self.node_features is not None:
            label += "[" + ",".join(repr(float(x)) for x in self.node_features[v]) + "]"
        if self.cell is not None:
            label += f"{{cell{self.cell[v]}}}"
        return label

    def canonical_terms(self) -> tuple[str, ...]:
        """The output as a sorted multiset of hashed terms: the function the graph computes.

        Every node computes ``op(sum of predecessors)``. Sums are commutative and associative,
        identity ops and ``sum`` nodes pass their sum through, zero ops and ops fed only by zeros
        contribute nothing, so the terms of a node are the multiset union of its predecessors'
        terms, wrapped into one new term by a non-identity op. A concatenating output keeps each
        predecessor's sum as one piece (``concat(a+b, c+d) != concat(a+c, b+d)``). Terms are
        content hashes, so deep graphs stay cheap. Coarser than :meth:`canonical_hash`: two
        convolutions on the same input give equal terms although they hold different weights.
        """
        terms: list[tuple[str, ...]] = [()] * self.num_nodes
        preds = self.predecessors()
        inputs = {node: k for k, node in enumerate(self.inputs)}
        concat = self.vocab.output == "concat"
        for v in self.topological_order() or ():
            op = self.ops[v]
            if op == INPUT:
                terms[v] = (f"in{inputs[v]}",)
                continue
            if op == OUTPUT and concat:
                added = [t for p in preds[v] if self.ops[p] == INPUT for t in terms[p]]
                pieces = ["cat:" + _digest("+".join(terms[p])) for p in preds[v] if self.ops[p] != INPUT and terms[p]]
                terms[v] = tuple(sorted(added + pieces))
                continue
            inner = sorted(t for p in preds[v] for t in terms[p])
            if op in (OUTPUT, SUM) or op in self.vocab.identity:
                terms[v] = tuple(inner)
            elif op in self.vocab.zero or not inner:
                terms[v] = ()
            else:
                terms[v] = (_digest("(" + "+".join(inner) + ")@" + self._op_label(v)),)
        result: list[str] = []
        for k, o in enumerate(self.outputs):
            result.extend(f"out{k}:{t}" for t in terms[o])
        return tuple(sorted(result))

    def nb201_unique_string(self) -> str:
        """The canonical string of NAS-Bench-201's ``to_unique_str(consider_zero=True)``.

        Same model of computation, with NAS-Bench-201's conventions: a sum is sorted but not
        flattened (``a+(b+c)`` and ``(a+b)+c`` stay different), a zero op or an op reading an
        exactly-zero tensor is ``#``, input ``k`` is ``k``. On NB201 cells this reproduces the
        benchmark's ``UniqueString`` column (6,466 classes).
        """
        strings: list[str] = [""] * self.num_nodes
        preds = self.predecessors()
        inputs = {node: k for k, node in enumerate(self.inputs)}
        for v in self.topological_order() or ():
            op = self.ops[v]
            if op == INPUT:
                strings[v] = str(inputs[v])
                continue
            inner = "+".join(sorted(strings[p] for p in preds[v]))
            if op in (OUTPUT, SUM) or op in self.vocab.identity:
                strings[v] = inner
            elif op in self.vocab.zero or inner == "#" or not inner:
                strings[v] = "#"
            else:
                strings[v] = "(" + inner + ")@" + self._op_label(v)
        return "|".join(strings[o] for o in self.outputs)

    def computation_graph(self) -> ComputationGraph:
        """What the graph computes, as a graph in canonical node order (cached).

        Built in topological order: dead computation is pruned (:meth:`prune`); identity ops and
        ``sum`` nodes disappear into the sums they pass on, and the number of paths that merge is
        kept as an edge multiplicity (``x + skip(x)`` is ``2x``); a ``mergeable`` op reading the
        same inputs (with multiplicities) as an earlier copy *is* that copy; every other op node
        stays one node (its own weights). A concatenating output keeps one ``sum`` node per
        piece that is more than a single tensor, so the grouping of the sums survives. The nodes
        are then ordered by depth and Weisfeiler-Lehman colour (see :class:`ComputationGraph`).

        Two architectures with the same computation graph are the same network; the featuriser
        feeds this graph to the encoder and :meth:`canonical_hash` hashes it.
        """
        cached = self.__dict__.get("_computation_graph")
        if cached is None:
            features = None if self.node_features is None else self.node_features.tobytes()
            key = (self.vocab, self.ops, self.edges, self.cell, features)
            cached = _COMPUTATION_GRAPHS.get(key)
            if cached is None:
                if len(_COMPUTATION_GRAPHS) >= _COMPUTATION_GRAPH_CACHE_SIZE:
                    _COMPUTATION_GRAPHS.clear()
                cached = _COMPUTATION_GRAPHS[key] = _build_computation_graph(self)
            object.__setattr__(self, "_computation_graph", cached)
        return cached

    def canonical_hash(self, style: str = "graph") -> str:
        """Identity of the network: equal for architectures that are the same computation.

        ``style="graph"`` (default) hashes :meth:`computation_graph` (Weisfeiler-Lehman colours
        with edge multiplicities, the refinement behind NAS-Bench-101's module hash,
        ``graph_util.hash_module``): invariant to node order, dead ops, identity chains, the
        grouping of sums and duplicated parameter-free ops; two convolutions stay two. On
        NB101 cells it splits exactly where the official module hash does.
        ``style="function"`` hashes :meth:`canonical_terms` (coarser: equal terms, equal hash).
        ``style="nb201"`` hashes :meth:`nb201_unique_string`, the convention behind
        NAS-Bench-201's "6,466 unique architectures". All include the space name and cell
        sequence. Macro features are descriptors derived from the graph and are not hashed:
        spaces put everything that changes the computation into ops, node features or cells.
        """
        if style == "graph":
            body = self.computation_graph().identity
        elif style == "function":
            body = "|".join(self.canonical_terms())
        elif style == "nb201":
            body = self.nb201_unique_string()
        else:
            raise ValueError(f"unknown canonical hash style {style!r}; use 'graph', 'function' or 'nb201'")
        parts = [style, self.space or "", repr(self.cell_sequence), body]
        return hashlib.sha1("\n".join(parts).encode()).hexdigest()

    # ------------------------------------------------------------------ tensors
    def macro_vector(self, names: Sequence[str] | None = None) -> np.ndarray:
        """Macro features in ``names`` order (default: sorted keys), as ``sign*log1p(|x|)``.

        The log keeps params/FLOPs (millions) and counts (units) on one scale.
        """
        keys = sorted(self.macro) if names is None else list(names)
        raw = np.array([self.macro.get(k, 0.0) for k in keys], dtype=np.float64)
        return (np.sign(raw) * np.log1p(np.abs(raw))).astype(np.float32)

    def to_pyg(self, macro_names: Sequence[str] | None = None):
        """This graph plus its global node as a ``torch_geometric.data.Data``.

        Node rows: the DAG's nodes in order, then the global node (last). Columns of ``x``:
        op one-hot over ``vocab.labels`` + a ``global`` column, node-type one-hot
        (:data:`NODE_TYPES`), the space's node features, then the macro features (nonzero on
        the global node only). ``edge_index`` holds each DAG edge forward and backward plus
        global links both ways; ``edge_type`` tells them apart (:data:`EDGE_TYPES`).
        Also: ``op`` (label index, global = ``len(vocab.labels)``), ``node_type``, ``cell``
        (-1 for the global node), ``global_index``.
        """
        import torch
        from torch_geometric.data import Data

        n = self.num_nodes
        num_labels = len(self.vocab.labels) + 1  # + global
        op_index = [self.vocab.index(op) for op in self.ops] + [num_labels - 1]
        node_type = [NODE_TYPES.index(op if op in (INPUT, OUTPUT, SUM) else "op") for op in self.ops]
        node_type.append(NODE_TYPES.index("global"))
        macro = self.macro_vector(macro_names)
        k = 0 if self.node_features is None else self.node_features.shape[1]
        width = num_labels + len(NODE_TYPES) + k + len(macro)
        x = np.zeros((n + 1, width), dtype=np.float32)
        x[np.arange(n + 1), op_index] = 1.0
        x[np.arange(n + 1), num_labels + np.asarray(node_type)] = 1.0
        if k:
            x[:n, num_labels + len(NODE_TYPES) : num_labels + len(NODE_TYPES) + k] = self.node_features
        x[n, width - len(macro) :] = macro

        fwd = np.asarray(self.edges, dtype=np.int64).reshape(-1, 2).T
        others = np.arange(n, dtype=np.int64)
        glob = np.full(n, n, dtype=np.int64)
        edge_index = np.concatenate(
            [fwd, fwd[::-1], np.stack([glob, others]), np.stack([others, glob])], axis=1
        )
        m = fwd.shape[1]
        edge_type = np.concatenate(
            [np.zeros(m), np.ones(m), np.full(n, 2), np.full(n, 3)]
        ).astype(np.int64)
        cell = list(self.cell) if self.cell is not None else [0] * n
        return Data(
            x=torch.from_numpy(x),
            edge_index=torch.from_numpy(np.ascontiguousarray(edge_index)),
            edge_type=torch.from_numpy(edge_type),
            op=torch.tensor(op_index, dtype=torch.long),
            node_type=torch.tensor(node_type, dtype=torch.long),
            cell=torch.tensor(cell + [-1], dtype=torch.long),
            global_index=torch.tensor([n], dtype=torch.long),
            num_nodes=n + 1,
        )

    # ------------------------------------------------------------------ python protocol
    def __eq__(self, other: object) -> bool:
        """Structural equality (same nodes in the same order, same edges and attributes)."""
        if not isinstance(other, ArchGraph):
            return NotImplemented
        feats_equal = (self.node_features is None and other.node_features is None) or (
            self.node_features is not None
            and other.node_features is not None
            and np.array_equal(self.node_features, other.node_features)
        )
        return (
            self.ops == other.ops
            and sorted(self.edges) == sorted(other.edges)
            and self.vocab == other.vocab
            and self.space == other.space
            and self.cell == other.cell
            and self.cell_sequence == other.cell_sequence
            and feats_equal
            and dict(self.macro) == dict(other.macro)
        )

    def __hash__(self) -> int:
        return hash((self.ops, tuple(sorted(self.edges)), self.space, self.cell))

    def __repr__(self) -> str:
        space = f"{self.space}, " if self.space else ""
        return f"ArchGraph({space}{self.num_nodes} nodes, {len(self.edges)} edges)"


# ---------------------------------------------------------------------- computation graphs
#: Computation graphs of recently seen structures: a parsed arch string or a sampled cell that
#: was seen before (search rounds, repeated scoring) skips the construction.
_COMPUTATION_GRAPHS: dict[tuple, ComputationGraph] = {}
_COMPUTATION_GRAPH_CACHE_SIZE = 100_000


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:20]


@dataclass(frozen=True, eq=False)
class ComputationGraph:
    """An architecture reduced to what it computes, in canonical node order.

    Attributes:
        ops: label of every node (``input``, ``output``, ``sum`` or an op).
        edges: ``(src, dst, multiplicity)``; the multiplicity counts the paths through identity
            ops that join the two nodes (``dst`` reads ``multiplicity * src``), or how often a
            concatenating output takes the same piece.
        origin: for every node, the index of an ArchGraph node it stands for (its cell and node
            features come from there).
        colours: Weisfeiler-Lehman colour of every node after refinement (64-bit ints; input and
            output labels include their rank).
        identity: hash of the sorted colours (the body of ``canonical_hash()``).

    Node order: inputs first in rank order, then by depth (longest path from an input) and
    colour, where ties that Weisfeiler-Lehman refinement leaves (parallel chains, twin
    convolutions) are broken by individualisation and refinement, so equal identities give the
    same graph whatever the numbering. Limits: WL refinement cannot tell some regular graphs
    apart (e.g. two 4-cycles vs one 8-cycle between two layers of convolutions); no built-in
    space has such cells (all 423,624 NB101 cells get distinct identities). Ops are opaque:
    ``avg_pool(2x)`` and ``2 avg_pool(x)`` are different graphs, although pooling is linear.
    """

    ops: tuple[str, ...]
    edges: tuple[tuple[int, int, int], ...]
    origin: tuple[int, ...]
    colours: tuple[int, ...]
    identity: str

    @property
    def num_nodes(self) -> int:
        return len(self.ops)


def _build_computation_graph(graph: ArchGraph) -> ComputationGraph:
    """See :meth:`ArchGraph.computation_graph`."""
    vocab = graph.vocab
    live = graph.live_nodes()
    preds = graph.predecessors()
    labels: list[str] = []  # node label incl. rank, cell and features (what makes two nodes equal)
    ops: list[str] = []
    origin: list[int] = []
    inputs_of: list[tuple[tuple[int, int], ...]] = []
    merged: dict[tuple, int] = {}

    def node(op: str, label: str, v: int, inputs: dict[int, int], mergeable: bool) -> int:
        key = (label, tuple(sorted(inputs.items())))
        if mergeable and key in merged:
            return merged[key]
        labels.append(label)
        ops.append(op)
        origin.append(v)
        inputs_of.append(key[1])
        if mergeable:
            merged[key] = len(ops) - 1
        return len(ops) - 1

    value: list[dict[int, int]] = [{} for _ in range(graph.num_nodes)]  # tensor = sum of nodes
    rank = {v: k for k, v in enumerate(graph.inputs)} | {v: k for k, v in enumerate(graph.outputs)}
    for v in graph.topological_order() or ():
        op = graph.ops[v]
        if op in (INPUT, OUTPUT):  # ranked: input 0 and input 1 of a DARTS cell differ
            label = f"{op}{rank[v]}" + graph._op_label(v)[len(op):]
        else:
            label = graph._op_label(v)
        if op == INPUT:
            value[v] = {node(INPUT, label, v, {}, mergeable=False): 1}
            continue
        if not live[v] and op != OUTPUT:
            continue
        if op == OUTPUT and vocab.output == "concat":
            node(OUTPUT, label, v, _concat_pieces(graph, v, preds[v], value, node), mergeable=False)
            continue
        total: dict[int, int] = {}
        for p in preds[v]:  # dead predecessors hold no value
            for u, m in value[p].items():
                total[u] = total.get(u, 0) + m
        if op == OUTPUT:
            node(OUTPUT, label, v, total, mergeable=False)
        elif op == SUM or op in vocab.identity:
            value[v] = total
        elif op in vocab.zero or not total:
            value[v] = {}
        else:
            value[v] = {node(op, label, v, total, mergeable=op in vocab.mergeable): 1}
    return _canonical_order(labels, ops, origin, inputs_of)


def _concat_pieces(graph: ArchGraph, out: int, preds: list[int], value: list[dict[int, int]], node) -> dict[int, int]:
    """What a concatenating output reads: ``{node: times}``. An input predecessor is read as
    itself (it is added to the concatenation); any other piece that is not a single tensor read
    once becomes a ``sum`` node (merged with equal pieces), so its grouping is kept. Exactly
    zero pieces are left out (they would add channels of zeros)."""
    label = SUM + ("" if graph.cell is None else f"{{cell{graph.cell[out]}}}")
    reads: dict[int, int] = {}
    for p in preds:
        piece = value[p]
        if not piece:
            continue
        (u, m), *rest = piece.items()
        if graph.ops[p] != INPUT and (rest or m != 1 or graph.ops[u] == INPUT):
            u = node(SUM, label, out, piece, mergeable=True)
        reads[u] = reads.get(u, 0) + 1
    return reads


_LABEL_COLOURS: dict[str, int] = {}


def _label_colour(label: str) -> int:
    """A stable 64-bit colour of a node label (``str`` hashes change between processes)."""
    colour = _LABEL_COLOURS.get(label)
    if colour is None:
        if len(_LABEL_COLOURS) >= _COMPUTATION_GRAPH_CACHE_SIZE:  # labels with float features
            _LABEL_COLOURS.clear()
        colour = int.from_bytes(hashlib.blake2b(label.encode(), digest_size=8).digest(), "little", signed=True)
        _LABEL_COLOURS[label] = colour
    return colour


def _refine(colours: list[int], inputs_of, succs) -> list[int]:
    """Weisfeiler-Lehman refinement with edge multiplicities until the partition is stable."""
    classes = len(set(colours))
    for _ in range(len(colours)):
        colours = [
            hash((
                colours[v],
                tuple(sorted((colours[s], m) for s, m in inputs_of[v])),
                tuple(sorted((colours[d], m) for d, m in succs[v])),
            ))
            for v in range(len(colours))
        ]
        refined = len(set(colours))
        if refined == classes:
            break
        classes = refined
    return colours


def _canonical_order(labels, ops, origin, inputs_of) -> ComputationGraph:
    # Colours are ints refined with ``hash`` of int tuples, which (unlike str hashes) is the same
    # in every process of a 64-bit CPython >= 3.8; the identity is a SHA-1 of the sorted colours.
    n = len(ops)
    succs: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for d, ins in enumerate(inputs_of):
        for s, m in ins:
            succs[s].append((d, m))
    colours = _refine(
        [hash((_label_colour(labels[v]), sum(m for _, m in inputs_of[v]), sum(m for _, m in succs[v])))
         for v in range(n)],
        inputs_of,
        succs,
    )
    identity = hashlib.sha1(",".join(map(str, sorted(colours))).encode()).hexdigest()
    # Node order: individualise-and-refine until every node has its own colour, so that nodes
    # WL cannot tell apart (parallel chains, twin convolutions) get one order whatever the
    # numbering of the graph; the individualised node is the first of the smallest tied class
    # in construction order, which is arbitrary only between automorphic nodes.
    depth = [0] * n
    for v in range(n):  # nodes were created in topological order
        for s, _ in inputs_of[v]:
            depth[v] = max(depth[v], depth[s] + 1)
    order_colours = list(colours)
    while len(set(order_colours)) < n:
        count = collections.Counter(order_colours)
        v = min((u for u in range(n) if count[order_colours[u]] > 1), key=lambda u: (order_colours[u], u))
        order_colours[v] = hash((order_colours[v], 1))
        order_colours = _refine(order_colours, inputs_of, succs)
    # inputs first, in rank order (executors feed input k to the k-th input node of a cell)
    order = sorted(range(n), key=lambda v: (depth[v], (0, v) if ops[v] == INPUT else (1, order_colours[v])))
    position = {old: new for new, old in enumerate(order)}
    edges = sorted((position[s], position[d], m) for d in range(n) for s, m in inputs_of[d])
    return ComputationGraph(
        ops=tuple(ops[v] for v in order),
        edges=tuple(edges),
        origin=tuple(origin[v] for v in order),
        colours=tuple(colours[v] for v in order),
        identity=identity,
    )
