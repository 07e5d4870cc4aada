"""A lossless fixed-width array encoding of :class:`~gnnnas.ArchGraph` for one search space.

Tools such as Archai hand predictors a ``[n, width]`` array, one row per architecture, with the
same width for every row. :class:`ArrayEncoding` writes everything an ArchGraph of a space holds
into such a row, so ``decode(encode(archs)) == archs`` exactly (structural equality, macro values
included). Row layout, padded to ``max_nodes`` nodes (``-1`` marks padding):

``[num_nodes | label id per node | adjacency bits (row = source, diagonal left out) |
cell id per node | node features per node | cell_sequence | macro values]``

Label ids index :attr:`OpVocabulary.labels` (``input``, ``output``, then the ops). The cell,
node-feature, cell-sequence and macro blocks are present only when the space's graphs carry
them (decided from one sampled graph); their column names are in :attr:`ArrayEncoding.columns`.
Values are float64, which holds the float32 node features, the integer ids and the macro floats
exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gnnnas.graph import ArchGraph
from gnnnas.spaces.base import SearchSpace
from gnnnas.spaces.registry import get_space

__all__ = ["DEFAULT_MAX_NODES", "ArrayEncoding"]

#: Most nodes an ArchGraph of each built-in space has (NB101: 7 vertices; ViT: depth 14 -> 30).
DEFAULT_MAX_NODES: dict[str, int] = {"vit": 30, "nasbench_graph": 6}


class ArrayEncoding:
    """Fixed-width rows for the ArchGraphs of one space; :meth:`decode` inverts :meth:`encode`.

    Args:
        space: a registered space name or a :class:`~gnnnas.SearchSpace`.
        max_nodes: nodes per row (graphs with fewer are padded). Defaults to the known maximum
            of the built-in spaces (:data:`DEFAULT_MAX_NODES`); required for other spaces.
    """

    def __init__(self, space: str | SearchSpace, max_nodes: int | None = None) -> None:
        self.space = get_space(space) if isinstance(space, str) else space
        if not isinstance(self.space, SearchSpace):
            kind = type(space).__name__
            raise ValueError(f"space must be a space name or a SearchSpace, got {kind}")  # noqa: TRY004
        if max_nodes is None:
            max_nodes = self.space.max_nodes or DEFAULT_MAX_NODES.get(self.space.name)
            if max_nodes is None:
                raise ValueError(
                    f"space {self.space.name!r} has no known node maximum; pass max_nodes= "
                    "(the most nodes any of its ArchGraphs has)"
                )
        if not isinstance(max_nodes, (int, np.integer)) or max_nodes < 2:
            raise ValueError(f"max_nodes must be an integer >= 2, got {max_nodes!r}")
        self.max_nodes = int(max_nodes)
        # The optional blocks follow what the space's graphs carry; one sample shows it.
        template = self.space.sample(0)
        self.vocab = template.vocab
        self.has_cell = template.cell is not None
        self.node_feature_names = template.node_feature_names
        self.num_node_features = 0 if template.node_features is None else template.node_features.shape[1]
        self.cell_sequence_length = 0 if template.cell_sequence is None else len(template.cell_sequence)
        self.macro_keys = tuple(template.macro)
        self.columns = self._column_names()
        self.width = len(self.columns)

    # ------------------------------------------------------------------ layout
    def _column_names(self) -> tuple[str, ...]:
        n = self.max_nodes
        names = ["num_nodes"] + [f"label_{i}" for i in range(n)]
        names += [f"edge_{s}_{d}" for s in range(n) for d in range(n) if s != d]
        if self.has_cell:
            names += [f"cell_{i}" for i in range(n)]
        names += [f"node_{i}_{f}" for i in range(n) for f in self._feature_names()]
        names += [f"cell_sequence_{i}" for i in range(self.cell_sequence_length)]
        names += [f"macro_{k}" for k in self.macro_keys]
        return tuple(names)

    def _feature_names(self) -> tuple[str, ...]:
        if self.node_feature_names:
            return self.node_feature_names
        return tuple(f"f{j}" for j in range(self.num_node_features))

    def _blocks(self) -> dict[str, slice]:
        n, start, out = self.max_nodes, 0, {}
        for name, size in (("num_nodes", 1), ("labels", n), ("adjacency", n * (n - 1)),
                           ("cell", n if self.has_cell else 0), ("features", n * self.num_node_features),
                           ("cell_sequence", self.cell_sequence_length), ("macro", len(self.macro_keys))):
            out[name] = slice(start, start + size)
            start += size
        return out

    # ------------------------------------------------------------------ encode
    def encode(self, archs: Sequence[Any]) -> np.ndarray:
        """ArchGraphs (or native encodings of the space) -> ``[len(archs), width]`` float64."""
        if isinstance(archs, (str, bytes, ArchGraph)) or not hasattr(archs, "__len__"):
            raise ValueError("archs must be a sequence of ArchGraphs or native encodings")
        rows = np.empty((len(archs), self.width), dtype=np.float64)
        for i, arch in enumerate(archs):
            try:
                rows[i] = self._encode_one(self.space.parse(arch))
            except ValueError as error:
                raise ValueError(f"arch {i}: {error}") from None
        return rows

    def _encode_one(self, arch: ArchGraph) -> np.ndarray:
        n, m = arch.num_nodes, self.max_nodes
        if n > m:
            raise ValueError(f"the graph has {n} nodes, more than max_nodes={m}")
        if arch.vocab != self.vocab:
            raise ValueError("the graph's op vocabulary differs from the space's")
        b = self._blocks()
        row = np.full(self.width, -1.0)
        row[b["num_nodes"]] = n
        row[b["labels"]][:n] = [self.vocab.index(op) for op in arch.ops]
        adj = np.full((m, m), -1.0)
        adj[:n, :n] = 0.0
        for s, d in arch.edges:
            adj[s, d] = 1.0
        row[b["adjacency"]] = adj[~np.eye(m, dtype=bool)]
        if (arch.cell is not None) != self.has_cell:
            has = "has" if arch.cell is not None else "lacks"
            raise ValueError(f"the graph {has} cell ids, unlike the space's graphs")
        if self.has_cell:
            row[b["cell"]][:n] = arch.cell
        k = 0 if arch.node_features is None else arch.node_features.shape[1]
        if k != self.num_node_features or (k and arch.node_feature_names != self.node_feature_names):
            raise ValueError(
                f"the graph has {k} node feature columns {list(arch.node_feature_names)}, the space "
                f"{self.num_node_features} {list(self.node_feature_names)}"
            )
        if k:
            feats = np.full((m, k), -1.0)
            feats[:n] = arch.node_features
            row[b["features"]] = feats.ravel()
        seq = () if arch.cell_sequence is None else arch.cell_sequence
        width = self.cell_sequence_length
        if (arch.cell_sequence is None) != (width == 0) or len(seq) > width:
            raise ValueError(f"cell_sequence {arch.cell_sequence} does not fit {width} columns")
        row[b["cell_sequence"]][: len(seq)] = seq
        if tuple(arch.macro) != self.macro_keys:
            raise ValueError(f"macro keys {list(arch.macro)} differ from the space's {list(self.macro_keys)}")
        row[b["macro"]] = list(arch.macro.values())
        return row

    # ------------------------------------------------------------------ decode
    def decode(self, array: np.ndarray) -> list[ArchGraph]:
        """``[n, width]`` rows (or one ``[width]`` row) -> ArchGraphs, exactly as encoded."""
        array = np.asarray(array, dtype=np.float64)
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[1] != self.width:
            raise ValueError(
                f"expected an array of shape [n, {self.width}] for space {self.space.name!r} "
                f"(max_nodes={self.max_nodes}), got {list(array.shape)}"
            )
        out = []
        for i, row in enumerate(array):
            try:
                out.append(self._decode_one(row))
            except ValueError as error:
                raise ValueError(f"row {i}: {error}") from None
        return out

    def _decode_one(self, row: np.ndarray) -> ArchGraph:
        b, m = self._blocks(), self.max_nodes
        if not np.all(np.isfinite(row)):
            raise ValueError("the row has non-finite values")
        n = _as_int(row[b["num_nodes"]][0], "num_nodes")
        if not 2 <= n <= m:
            raise ValueError(f"num_nodes {n} is outside 2..{m}")
        labels = [_as_int(v, "label id") for v in row[b["labels"]]]
        if any(v != -1 for v in labels[n:]):
            raise ValueError(f"label ids after node {n - 1} must be -1 (padding)")
        if any(not 0 <= v < len(self.vocab.labels) for v in labels[:n]):
            raise ValueError(f"label ids must lie in 0..{len(self.vocab.labels) - 1}, got {labels[:n]}")
        adj = np.full((m, m), -1.0)
        adj[~np.eye(m, dtype=bool)] = row[b["adjacency"]]
        inner = adj[:n, :n][~np.eye(n, dtype=bool)]
        if not np.all((inner == 0) | (inner == 1)):
            raise ValueError("adjacency bits must be 0 or 1")
        pad = np.ones((m, m), dtype=bool)
        pad[:n, :n] = False
        np.fill_diagonal(pad, False)
        if not np.all(adj[pad] == -1):
            raise ValueError(f"adjacency entries of padded nodes (>= {n}) must be -1")
        edges = [(int(s), int(d)) for s, d in np.argwhere(adj[:n, :n] == 1)]
        cell = None
        if self.has_cell:
            cell = tuple(_as_int(v, "cell id") for v in row[b["cell"]][:n])
        feats = None
        if self.num_node_features:
            feats = row[b["features"]].reshape(m, self.num_node_features)[:n].astype(np.float32)
        seq = None
        if self.cell_sequence_length:
            entries = (_as_int(x, "cell_sequence entry") for x in row[b["cell_sequence"]])
            seq = tuple(v for v in entries if v != -1)
        macro = dict(zip(self.macro_keys, (float(v) for v in row[b["macro"]])))
        return ArchGraph(
            ops=[self.vocab.labels[v] for v in labels[:n]], edges=edges, vocab=self.vocab,
            space=self.space.name, cell=cell, cell_sequence=seq, node_features=feats,
            node_feature_names=self.node_feature_names, macro=macro,
        )

    def __repr__(self) -> str:
        return f"ArrayEncoding(space={self.space.name!r}, max_nodes={self.max_nodes}, width={self.width})"


def _as_int(value: float, what: str) -> int:
    if value != int(value):
        raise ValueError(f"{what} must be an integer, got {value}")
    return int(value)
