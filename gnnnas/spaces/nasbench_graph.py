"""NAS-Bench-Graph space (Qin et al., NeurIPS 2022 Datasets & Benchmarks): 26,206 GNNs.

An architecture has 4 computing nodes. Computing node ``i`` reads exactly one earlier tensor,
``link[i]`` (0 = the input features after the data set's pre-processing layers, ``k`` = the
output of computing node ``k``), and applies one op from :data:`NBG_OPS`:
``gat, gcn, gin, cheb, sage, arma, graph`` (k-GNN), ``fc`` (linear layer) or ``skip``
(identity). Every leaf (a computing node no other node reads) is connected to the output;
the benchmark's README leaves the aggregation unspecified, the released light files do not
contain the model, and :class:`~gnnnas.ArchGraph`'s output node sums its predecessors (the
benchmark's de-duplication treats the leaves as an unordered set, which fits either).

**Native encoding**: NAS-Bench-Graph's own, ``(link, ops)`` as its ``Arch(link, ops)`` takes,
e.g. ``([0, 1, 2, 1], ["gcn", "gin", "fc", "cheb"])``. :meth:`NASBenchGraphSpace.parse` also
accepts a dict ``{"link": ..., "ops": ...}``, any object with ``.link`` and ``.ops``
(``nas_bench_graph.Arch``) and an int benchmark key. :meth:`~NASBenchGraphSpace.format` returns
``(link, ops)`` as tuples.

**Canonical form.** Many encodings describe the same network (the README's
``Arch([0,1,2,1], ...)`` and ``Arch([0,1,1,2], ...)``); the benchmark keeps one
representative per class, 26,206 in all (``valid_hash()``), and this space does the same:
``parse`` maps every well-formed encoding (any of the 24 link patterns) to that representative,
so ``format(parse(x))`` is ``x`` exactly for the 26,206 members and the representative for
the rest. Two encodings are equivalent when their *signature* agrees: the tree of non-skip
ops (skips contracted, a skip with children being an identity), where each op node records
how many times its value reaches the output (once if it is a leaf, plus once per skip leaf
hanging off it). Skip leaves whose value is the input itself do not count: the benchmark
drops them (their width is the raw feature width). The representative is the encoding with
the smallest benchmark key among the "normal" encodings of the class (skips with children
come first as a chain of stubs off the input; every other skip is a leaf of a non-skip op
that has another child). Both rules reproduce ``Arch.valid_hash()`` on all 157,440 encodings
(checked in the tests when ``nas-bench-graph`` is installed); the package is not needed here.

**Benchmark key** (:meth:`~NASBenchGraphSpace.key`): ``link_index * 10**4 + sum(op_index[i] *
10**(3 - i))`` with ``link_index`` the position of ``link`` in :data:`NBG_LINKS` and
``op_index`` positions in :data:`NBG_OPS` - the keys of the benchmark's dicts.

**ArchGraph**: nodes ``input, op_1 .. op_4, output`` (encoding order), edges
``link[i] -> i + 1`` and ``leaf -> output``. Skip is the identity op; every other op is
parametric. Macro features: ``num_op_nodes`` (4), ``num_parametric_ops``,
``num_message_passing`` (parametric ops other than ``fc``), ``num_skip``, ``num_outputs``
(leaves aggregated), ``depth`` (parametric ops on the longest input -> output path). The
number of parameters depends on the data set (feature width, classes, hidden size), so the
space does not compute it; the loader reports the benchmark's ``params`` per data set.

OGBN-Proteins was run with 5 ops only (:data:`NBG_PROTEINS_OPS`, 2,021 archs):
``get_space("nasbench_graph", ops="proteins")`` (or ``ops=NBG_PROTEINS_OPS``) is that
sub-space, with the same vocabulary so graphs stay comparable across data sets.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from gnnnas.graph import ArchGraph, OpVocabulary
from gnnnas.spaces.base import SearchSpace, as_rng
from gnnnas.spaces.registry import register_space

__all__ = [
    "NBG_LINKS",
    "NBG_NUM_NODES",
    "NBG_OPS",
    "NBG_PROTEINS_OPS",
    "NASBenchGraphSpace",
]

#: Op list of NAS-Bench-Graph, in the order its keys use.
NBG_OPS: tuple[str, ...] = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
#: Ops of the OGBN-Proteins runs.
NBG_PROTEINS_OPS: tuple[str, ...] = ("gcn", "sage", "arma", "fc", "skip")
#: The 9 link patterns the benchmark's representatives use, in key order.
NBG_LINKS: tuple[tuple[int, ...], ...] = (
    (0, 0, 0, 0),
    (0, 0, 0, 1),
    (0, 0, 1, 1),
    (0, 0, 1, 2),
    (0, 0, 1, 3),
    (0, 1, 1, 1),
    (0, 1, 1, 2),
    (0, 1, 2, 2),
    (0, 1, 2, 3),
)
#: Computing nodes per architecture.
NBG_NUM_NODES = 4

_SKIP = "skip"
_OP_INDEX = {op: i for i, op in enumerate(NBG_OPS)}
_LINK_INDEX = {link: i for i, link in enumerate(NBG_LINKS)}
_BASE = len(NBG_OPS) + 1  # the benchmark's key base (10)
_VOCAB = OpVocabulary(
    ops=NBG_OPS,
    identity={_SKIP},
    parametric=set(NBG_OPS) - {_SKIP},
)

Encoding = tuple[tuple[int, ...], tuple[str, ...]]


# ---------------------------------------------------------------------- pure helpers
def _children(link: Sequence[int]) -> list[list[int]]:
    """Children of tensor ``t`` (0 = input, k = computing node k), as node numbers 1..4."""
    kids: list[list[int]] = [[] for _ in range(len(link) + 1)]
    for i, parent in enumerate(link):
        kids[parent].append(i + 1)
    return kids


def _signature(link: Sequence[int], ops: Sequence[str]) -> str:
    """Equivalence signature: tree of non-skip ops, each with how often it reaches the output."""
    kids = _children(link)
    label = ("input",) + tuple(ops)

    def through_skips(v: int) -> tuple[list[int], int]:
        found: list[int] = []
        taps = 0
        for c in kids[v]:
            if label[c] != _SKIP:
                found.append(c)
            elif kids[c]:  # identity with children: its children read v
                more, more_taps = through_skips(c)
                found += more
                taps += more_taps
            else:  # skip leaf: v's value goes to the output once more
                taps += 1
        return found, taps

    def sig(v: int) -> str:
        found, taps = through_skips(v)
        # input-valued leaves are not aggregated by the benchmark
        outputs = 0 if v == 0 else (0 if kids[v] else 1) + taps
        return f"{label[v]}{outputs}(" + ",".join(sorted(sig(c) for c in found)) + ")"

    return sig(0)


def _is_normal(link: Sequence[int], ops: Sequence[str]) -> bool:
    """Whether the skips are placed as in the benchmark's representatives."""
    kids = _children(link)
    stubs = 0
    while stubs < len(ops) and ops[stubs] == _SKIP:
        stubs += 1
    for i, op in enumerate(ops):
        if op != _SKIP:
            continue
        node, parent = i + 1, link[i]
        if i < stubs:  # leading identity: has children, and is its parent's only child
            if not kids[node] or len(kids[parent]) != 1:
                return False
        elif kids[node] or parent == 0 or ops[parent - 1] == _SKIP or len(kids[parent]) < 2:
            return False
    return True


def _key(link: Sequence[int], ops: Sequence[str]) -> int:
    key = _LINK_INDEX[tuple(link)]
    for op in ops:
        key = key * _BASE + _OP_INDEX[op]
    return key


def _decode_key(key: int) -> Encoding:
    digits = []
    rest = int(key)
    for _ in range(NBG_NUM_NODES):
        rest, d = divmod(rest, _BASE)
        digits.append(d)
    if not 0 <= rest < len(NBG_LINKS) or any(d >= len(NBG_OPS) for d in digits):
        raise ValueError(f"{key!r} is not a NAS-Bench-Graph key")
    return NBG_LINKS[rest], tuple(NBG_OPS[d] for d in reversed(digits))


_TABLE: dict[str, Encoding] | None = None
_REP_SET: frozenset[Encoding] = frozenset()


def _representatives() -> dict[str, Encoding]:
    """Signature -> representative encoding, over all 26,206 classes (built once, ~0.5 s)."""
    global _TABLE, _REP_SET
    if _TABLE is None:
        best: dict[str, tuple[int, Encoding]] = {}
        for link in NBG_LINKS:
            for ops in itertools.product(NBG_OPS, repeat=NBG_NUM_NODES):
                if all(op == _SKIP for op in ops) or not _is_normal(link, ops):
                    continue
                sig = _signature(link, ops)
                key = _key(link, ops)
                if sig not in best or key < best[sig][0]:
                    best[sig] = (key, (link, ops))
        _TABLE = {sig: enc for sig, (_, enc) in sorted(best.items(), key=lambda kv: kv[1][0])}
        _REP_SET = frozenset(_TABLE.values())
    return _TABLE


# ---------------------------------------------------------------------- the space
@register_space("nasbench_graph")
class NASBenchGraphSpace(SearchSpace):
    """NAS-Bench-Graph architectures; ``ops`` restricts the op set (e.g. OGBN-Proteins')."""

    name = "nasbench_graph"
    vocab = _VOCAB

    def __init__(self, ops: Sequence[str] | str | None = None) -> None:
        if ops == "proteins":
            ops = NBG_PROTEINS_OPS
        elif isinstance(ops, str):
            raise ValueError(f"ops must be a list of op names or 'proteins', got {ops!r}")
        allowed = tuple(NBG_OPS) if ops is None else tuple(ops)
        unknown = [op for op in allowed if op not in _OP_INDEX]
        if unknown:
            raise ValueError(f"unknown NAS-Bench-Graph ops {unknown}; known: {list(NBG_OPS)}")
        if not any(op != _SKIP for op in allowed):
            raise ValueError("a NAS-Bench-Graph op set needs at least one op other than 'skip'")
        self.ops = tuple(op for op in NBG_OPS if op in allowed)  # benchmark order
        self._members: tuple[Encoding, ...] | None = None
        self._member_set: set[Encoding] | None = None

    # -------------------------------------------------------------- members
    @property
    def members(self) -> tuple[Encoding, ...]:
        """Canonical encodings of the space, in benchmark-key order."""
        if self._members is None:
            allowed = set(self.ops)
            self._members = tuple(
                enc for enc in _representatives().values() if set(enc[1]) <= allowed
            )
            self._member_set = set(self._members)
        return self._members

    @property
    def size(self) -> int:  # type: ignore[override]
        return len(self.members)

    # -------------------------------------------------------------- encoding
    def canonical(self, encoding: Any) -> Encoding:
        """The benchmark's representative ``(link, ops)`` of any well-formed encoding."""
        if isinstance(encoding, ArchGraph):
            link, ops = self.format(encoding)
        else:
            link, ops = self._read(encoding)
        table = _representatives()
        enc = (link, ops) if (link, ops) in _REP_SET else table[_signature(link, ops)]
        bad = sorted(set(enc[1]) - set(self.ops))
        if bad:
            raise ValueError(f"ops {bad} are not in this space's op set {list(self.ops)}")
        return enc

    def parse(self, encoding: Any) -> ArchGraph:
        """``(link, ops)`` / dict / ``Arch`` / benchmark key -> ArchGraph of the representative."""
        if isinstance(encoding, ArchGraph):
            return self.check(encoding)
        return self._build(self.canonical(encoding))

    def format(self, arch: ArchGraph) -> Encoding:
        """ArchGraph -> ``(link, ops)`` as tuples (NAS-Bench-Graph's ``Arch`` arguments)."""
        self.check(arch)
        n = NBG_NUM_NODES
        if arch.num_nodes != n + 2 or arch.ops[0] != "input" or arch.ops[-1] != "output":
            raise ValueError(
                f"a NAS-Bench-Graph ArchGraph has nodes input, 4 ops, output; got {arch.ops}"
            )
        preds = arch.predecessors()
        link = []
        for v in range(1, n + 1):
            if len(preds[v]) != 1:
                raise ValueError(f"computing node {v} must read exactly one tensor, reads {preds[v]}")
            link.append(preds[v][0])
        return tuple(link), tuple(arch.ops[1 : n + 1])

    def key(self, arch: Any) -> int:
        """The benchmark's dict key (``Arch(link, ops).valid_hash()``) of an arch or encoding."""
        link, ops = self.canonical(arch)
        return _key(link, ops)

    def contains(self, encoding: Any) -> bool:
        """Whether ``encoding`` is literally one of the space's canonical encodings."""
        try:
            link, ops = self._read(encoding)
        except ValueError:
            return False
        return (link, ops) in self._members_set()

    def _members_set(self) -> set[Encoding]:
        self.members
        return self._member_set  # type: ignore[return-value]

    def _read(self, encoding: Any) -> Encoding:
        if isinstance(encoding, (int, np.integer)) and not isinstance(encoding, bool):
            link, ops = _decode_key(int(encoding))
            _representatives()
            if (link, ops) not in _REP_SET:
                raise ValueError(
                    f"{int(encoding)} is not a NAS-Bench-Graph key: it decodes to link "
                    f"{list(link)}, ops {list(ops)}, which is not the benchmark's representative"
                )
            return link, ops
        if isinstance(encoding, Mapping):
            if set(encoding) != {"link", "ops"}:
                raise ValueError(
                    f"a NAS-Bench-Graph dict needs keys 'link' and 'ops', got {sorted(encoding)}"
                )
            link, ops = encoding["link"], encoding["ops"]
        elif hasattr(encoding, "link") and hasattr(encoding, "ops"):
            link, ops = encoding.link, encoding.ops
        elif isinstance(encoding, Sequence) and not isinstance(encoding, str) and len(encoding) == 2:
            link, ops = encoding
        else:
            raise ValueError(
                "NAS-Bench-Graph encoding must be (link, ops) like ([0, 1, 2, 1], "
                f"['gcn', 'gin', 'fc', 'cheb']), a dict, an Arch or a benchmark key; got {encoding!r}"
            )
        return self._check_link(link), self._check_ops(ops)

    @staticmethod
    def _check_link(link: Any) -> tuple[int, ...]:
        if isinstance(link, str) or not isinstance(link, Sequence) or len(link) != NBG_NUM_NODES:
            raise ValueError(f"link must be a list of {NBG_NUM_NODES} ints, got {link!r}")
        out = []
        for i, parent in enumerate(link):
            if isinstance(parent, bool) or not isinstance(parent, (int, np.integer)):
                raise ValueError(f"link[{i}] must be an int, got {parent!r}")
            if not 0 <= parent <= i:
                raise ValueError(
                    f"link[{i}] = {parent} is out of range: computing node {i + 1} reads the "
                    f"input (0) or an earlier node (1..{i})"
                )
            out.append(int(parent))
        return tuple(out)

    def _check_ops(self, ops: Any) -> tuple[str, ...]:
        if isinstance(ops, str) or not isinstance(ops, Sequence) or len(ops) != NBG_NUM_NODES:
            raise ValueError(f"ops must be a list of {NBG_NUM_NODES} op names, got {ops!r}")
        for op in ops:
            if not isinstance(op, str) or op not in _OP_INDEX:
                raise ValueError(f"unknown NAS-Bench-Graph op {op!r}; known: {list(NBG_OPS)}")
            if op not in self.ops:
                raise ValueError(f"op {op!r} is not in this space's op set {list(self.ops)}")
        if all(op == _SKIP for op in ops):
            raise ValueError("all four ops are 'skip': the architecture computes nothing")
        return tuple(ops)

    # -------------------------------------------------------------- graph
    def _build(self, encoding: Encoding) -> ArchGraph:
        link, ops = encoding
        n = len(ops)
        kids = _children(link)
        edges = [(parent, i + 1) for i, parent in enumerate(link)]
        edges += [(v, n + 1) for v in range(1, n + 1) if not kids[v]]
        return ArchGraph(
            ops=("input",) + tuple(ops) + ("output",),
            edges=edges,
            vocab=_VOCAB,
            space=self.name,
            macro=self.macro_features(link, ops),
        )

    @staticmethod
    def macro_features(link: Sequence[int], ops: Sequence[str]) -> dict[str, float]:
        """Counts and depth of one encoding (params depend on the data set: see the loader)."""
        kids = _children(link)
        depth = [0] * (len(ops) + 1)
        for i, parent in enumerate(link):  # parents come first
            depth[i + 1] = depth[parent] + (ops[i] != _SKIP)
        leaves = [v for v in range(1, len(ops) + 1) if not kids[v]]
        parametric = sum(op != _SKIP for op in ops)
        return {
            "num_op_nodes": len(ops),
            "num_parametric_ops": parametric,
            "num_message_passing": sum(op not in (_SKIP, "fc") for op in ops),
            "num_skip": len(ops) - parametric,
            "num_outputs": len(leaves),
            "depth": max(depth[v] for v in leaves),
        }

    # -------------------------------------------------------------- sampling
    def enumerate(self) -> Iterator[ArchGraph]:
        """Every architecture, in benchmark-key order (26,206; 2,021 with the Proteins ops)."""
        for enc in self.members:
            yield self._build(enc)

    def sample(self, rng: np.random.Generator | int | None = None) -> ArchGraph:
        """Uniform over the space's architectures (the benchmark's representatives)."""
        rng = as_rng(rng)
        return self._build(self.members[int(rng.integers(len(self.members)))])

    def mutate(self, arch: ArchGraph, rng: np.random.Generator | int | None = None) -> ArchGraph:
        """Change one op, or re-link one computing node; retried until the class changes."""
        rng = as_rng(rng)
        link, ops = self.format(arch)
        here = self.canonical((link, ops))
        for _ in range(1000):
            new_link, new_ops = list(link), list(ops)
            i = int(rng.integers(NBG_NUM_NODES))
            if i > 0 and rng.random() < 0.5:
                choices = [p for p in range(i + 1) if p != link[i]]
                new_link[i] = choices[int(rng.integers(len(choices)))]
            else:
                choices = [op for op in self.ops if op != ops[i]]
                new_ops[i] = choices[int(rng.integers(len(choices)))]
            if all(op == _SKIP for op in new_ops):
                continue
            candidate = _representatives()[_signature(new_link, new_ops)]
            if candidate != here:
                return self._build(candidate)
        raise RuntimeError(f"could not find a different architecture next to {here}")  # pragma: no cover

    def __repr__(self) -> str:
        ops = "" if self.ops == NBG_OPS else f", ops={list(self.ops)}"
        return f"{type(self).__name__}(name={self.name!r}{ops})"
