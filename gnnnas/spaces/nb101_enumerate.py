"""Vectorised enumeration of the NAS-Bench-101 space (all 423,624 unique cells).

Reproduces NAS-Bench-101's ``generate_graphs.py``: for ``V = 2..7`` vertices, every
upper-triangular 0/1 matrix (bitmask order of the official script: bit ``x + y(y-1)/2`` is the
edge ``x -> y``) with at most 9 edges, in which every non-output vertex has an out-edge and every
non-input vertex has an in-edge, combined with every labelling of the interior vertices by the 3
ops (``itertools.product`` order); cells are deduplicated by the official module hash, keeping
the first one generated. 1,293,174 (matrix, labelling) pairs are hashed.

The official hash is a Weisfeiler-Lehman-style refinement with MD5 strings. Hashing every vertex
of every pair in Python is far too slow, so each round is computed for all pairs at once: vertex
hashes are interned to integer ids whose order equals the order of the hex strings, the key
``(own id, sorted in-neighbour ids, sorted out-neighbour ids)`` of every vertex is interned with
``numpy.unique``, and MD5 is called once per *distinct* key (the string hashed is exactly the one
the official code builds, so the digests are the official ones). Once a round leaves the vertex
partition unchanged, later rounds reuse the partition and only re-hash one representative per id.

The result is cached as ``<cache dir>/nb101/nb101_enumeration_v1.npz`` (written atomically);
``load_enumeration`` returns it, enumerating on the first call (about 1-2 minutes on 2 cores).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "NUM_UNIQUE_CELLS",
    "NB101Enumeration",
    "enumerate_nb101",
    "enumeration_cache_path",
    "load_enumeration",
]

MAX_VERTICES = 7
MAX_EDGES = 9
NUM_OPS = 3
NUM_UNIQUE_CELLS = 423_624
CACHE_NAME = "nb101_enumeration_v1.npz"
_FORMAT_VERSION = 1
#: op code of padding vertices in the cached ``ops`` array (as in the 1k benchmark file)
PAD = -3

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@dataclass
class NB101Enumeration:
    """All unique NB101 cells, in generation order (vertices, then bitmask, then labelling).

    Attributes:
        num_vertices: ``[N]`` vertices of each cell (2..7).
        matrices: ``[N, 7, 7]`` uint8 adjacency, the cell in the top-left ``V x V`` block.
        ops: ``[N, 7]`` int8 official labels: -1 input, 0 conv3x3-bn-relu, 1 conv1x1-bn-relu,
            2 maxpool3x3, -2 output, -3 padding (after the output).
        hashes: ``[N]`` official module hashes (32-char hex, ``numpy`` bytes ``S32``).
    """

    num_vertices: np.ndarray
    matrices: np.ndarray
    ops: np.ndarray
    hashes: np.ndarray
    _index: dict[str, int] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.hashes)

    @property
    def index(self) -> dict[str, int]:
        """hash (hex str) -> row."""
        if self._index is None:
            self._index = {h.decode(): i for i, h in enumerate(self.hashes.tolist())}
        return self._index

    def row(self, module_hash: str) -> int:
        """Row of ``module_hash``; ``KeyError`` when it is not an NB101 cell."""
        return self.index[module_hash]

    def rows(self, hashes) -> np.ndarray:
        """Rows of many hashes at once (-1 where a hash is unknown)."""
        index = self.index
        return np.array([index.get(str(h), -1) for h in hashes], dtype=np.int64)

    def spec(self, i: int) -> tuple[list[list[int]], list[int]]:
        """(matrix, official int labelling) of row ``i``, unpadded."""
        v = int(self.num_vertices[i])
        return self.matrices[i, :v, :v].astype(int).tolist(), self.ops[i, :v].astype(int).tolist()


# ---------------------------------------------------------------------------------------- matrices
def _full_dag_matrices(vertices: int) -> np.ndarray:
    """All valid ``V x V`` matrices of generate_graphs.py, in bitmask order."""
    m = vertices * (vertices - 1) // 2
    bits = np.arange(2**m, dtype=np.uint32)
    mats = np.zeros((len(bits), vertices, vertices), dtype=np.uint8)
    k = 0
    for dst in range(vertices):
        for src in range(dst):  # index src + dst*(dst-1)/2: column-major upper triangle
            mats[:, src, dst] = (bits >> k) & 1
            k += 1
    edges = mats.reshape(len(bits), -1).sum(axis=1)
    keep = edges <= MAX_EDGES
    keep &= mats[:, : vertices - 1, :].any(axis=2).all(axis=1)  # every non-output has an out-edge
    keep &= mats[:, :, 1:].any(axis=1).all(axis=1)  # every non-input has an in-edge
    return mats[keep]


def _intern_rows(cols: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids of equal rows of the columns (values in ``[0, k]``) and the first row of each id.

    Fast path: one sort of a 64-bit random linear hash of the rows, then an exact check that
    rows sharing a hash value are equal; on any collision, the exact (slower) fold is used.
    """
    rng = np.random.default_rng(len(cols))
    mult = rng.integers(1, 2**63, size=len(cols), dtype=np.uint64) | np.uint64(1)
    acc = np.zeros(len(cols[0]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col, m in zip(cols, mult):
            acc += (col.astype(np.uint64) + np.uint64(1)) * m
    _, first, inverse = np.unique(acc, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if all(np.array_equal(col, col[first][inverse]) for col in cols):
        return inverse, first
    return _intern_rows_exact(cols, k)


def _intern_rows_exact(cols: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact version of :func:`_intern_rows`: fold columns into int64, compressing as needed."""
    base = k + 1
    acc = cols[0].astype(np.int64)
    top = k
    for col in cols[1:]:
        if (top + 1) * base >= 2**62:
            uniq, acc = np.unique(acc, return_inverse=True)
            acc = acc.reshape(-1).astype(np.int64)
            top = len(uniq) - 1
        acc = acc * base + col
        top = top * base + k
    _, first, inverse = np.unique(acc, return_index=True, return_inverse=True)
    return inverse.reshape(-1), first


def _hex_of(digests: np.ndarray) -> np.ndarray:
    """``[n, 16]`` uint8 digests -> ``[n, 32]`` uint8 ASCII hex."""
    out = np.empty((digests.shape[0], 32), dtype=np.uint8)
    out[:, 0::2] = _HEX[digests >> 4]
    out[:, 1::2] = _HEX[digests & 15]
    return out


def _rank_digests(digests: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each (distinct) digest in hex order, and the hex table in that order."""
    words = digests.view(">u8").reshape(-1, 2)
    order = np.lexsort((words[:, 1], words[:, 0]))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank, _hex_of(digests[order])


def _md5_keys(hex_table: np.ndarray, own: np.ndarray, ins: np.ndarray, outs: np.ndarray) -> np.ndarray:
    """MD5 of ``''.join(in hexes) + '|' + ''.join(out hexes) + '|' + own hex`` for each key row.

    ``ins``/``outs`` hold sorted ids padded with ``len(hex_table)`` (absent). Returns ``[n, 16]``.
    """
    k = hex_table.shape[0]
    table = np.concatenate([hex_table, np.zeros((1, 32), np.uint8)])
    n, slots = ins.shape
    digests = np.empty((n, 16), dtype=np.uint8)
    sep = np.full((1, 1), ord("|"), dtype=np.uint8)
    md5 = hashlib.md5
    chunk = 1 << 17
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        c = stop - start
        i_part = table[ins[start:stop]].reshape(c, slots * 32)
        o_part = table[outs[start:stop]].reshape(c, slots * 32)
        buf = np.concatenate(
            [i_part, np.repeat(sep, c, 0), o_part, np.repeat(sep, c, 0), table[own[start:stop]]], axis=1
        )
        keep = np.concatenate(
            [
                np.repeat(ins[start:stop] < k, 32, axis=1),
                np.ones((c, 1), bool),
                np.repeat(outs[start:stop] < k, 32, axis=1),
                np.ones((c, 33), bool),
            ],
            axis=1,
        )
        lengths = keep.sum(axis=1)
        ends = np.cumsum(lengths)
        starts = (ends - lengths).tolist()
        data = memoryview(buf[keep].tobytes())
        out = b"".join([md5(data[a:b]).digest() for a, b in zip(starts, ends.tolist())])
        digests[start:stop] = np.frombuffer(out, dtype=np.uint8).reshape(c, 16)
    return digests


def _hash_group(mats: np.ndarray, labelings: np.ndarray, log=None) -> tuple[np.ndarray, list[str]]:
    """Official hashes of every (matrix, labelling) pair of one vertex count.

    Returns the first pair index (``matrix * L + labelling``) of each distinct hash, in
    generation order, and the hashes.
    """
    num_m, v, _ = mats.shape
    num_l = labelings.shape[0]
    g = num_m * num_l
    mat_of = np.repeat(np.arange(num_m), num_l)
    labels = np.concatenate(
        [np.full((num_l, 1), -1), labelings.astype(np.int64), np.full((num_l, 1), -2)], axis=1
    )
    labels = np.tile(labels, (num_m, 1))
    out_deg = mats.sum(axis=2).astype(np.int64)[mat_of]
    in_deg = mats.sum(axis=1).astype(np.int64)[mat_of]
    code = (out_deg * 10 + in_deg) * 10 + (labels + 2)
    uniq, inverse = np.unique(code, return_inverse=True)
    digests = np.frombuffer(
        b"".join(
            hashlib.md5(str((int(c) // 100, int(c) // 10 % 10, int(c) % 10 - 2)).encode()).digest()
            for c in uniq
        ),
        dtype=np.uint8,
    ).reshape(-1, 16)
    rank, hex_table = _rank_digests(digests)
    ids = rank[inverse.reshape(-1)].astype(np.int32)  # [g * v]
    in_adj = mats.transpose(0, 2, 1).astype(bool)  # in_adj[m, v, w]: w -> v
    out_adj = mats.astype(bool)
    stable = False
    for rnd in range(v):
        t0 = time.perf_counter()
        k = hex_table.shape[0]
        if stable:
            # partition unchanged: one representative vertex per id, keys by id
            reps = np.full(k, -1, dtype=np.int64)
            reps[ids[::-1]] = np.arange(len(ids))[::-1]
            key_of = ids.astype(np.int64)
            first = reps
        else:
            first = None
        if first is None:
            h = ids.reshape(g, v)
            ins = np.where(in_adj[mat_of], h[:, None, :], k)
            ins.sort(axis=2)
            outs = np.where(out_adj[mat_of], h[:, None, :], k)
            outs.sort(axis=2)
            ins = ins[:, :, : v - 1].reshape(g * v, v - 1)
            outs = outs[:, :, : v - 1].reshape(g * v, v - 1)
            cols = [ids] + [ins[:, j] for j in range(v - 1)] + [outs[:, j] for j in range(v - 1)]
            key_of, first = _intern_rows(cols, k)
            rep_ins, rep_outs = ins[first], outs[first]
        else:
            gi, vi = np.divmod(first, v)
            h = ids.reshape(g, v)
            rep_ins = np.where(in_adj[mat_of[gi], vi], h[gi], k)
            rep_ins.sort(axis=1)
            rep_outs = np.where(out_adj[mat_of[gi], vi], h[gi], k)
            rep_outs.sort(axis=1)
            rep_ins, rep_outs = rep_ins[:, : v - 1], rep_outs[:, : v - 1]
        digests = _md5_keys(hex_table, ids[first], rep_ins, rep_outs)
        rank, hex_table = _rank_digests(digests)
        new_ids = rank[key_of].astype(np.int32)
        stable = stable or hex_table.shape[0] == k
        ids = new_ids
        if log is not None:
            log(f"  V={v} round {rnd + 1}/{v}: {hex_table.shape[0]:,} vertex hashes "
                f"({time.perf_counter() - t0:.1f}s)")
    h = np.sort(ids.reshape(g, v), axis=1)
    graph_key, first = _intern_rows([h[:, j] for j in range(v)], hex_table.shape[0])
    del graph_key
    first = np.sort(first)  # generation order
    hexes = [bytes(row).decode() for row in hex_table]
    fingerprints = [
        hashlib.md5(str([hexes[i] for i in row]).encode()).hexdigest() for row in h[first].tolist()
    ]
    return first, fingerprints


def enumerate_nb101(verbose: bool = False) -> NB101Enumeration:
    """Enumerate and hash the whole NB101 space (no cache; see :func:`load_enumeration`)."""
    log = print if verbose else None
    t0 = time.perf_counter()
    num_vertices, matrices, ops, hashes = [], [], [], []
    for v in range(2, MAX_VERTICES + 1):
        mats = _full_dag_matrices(v)
        labelings = np.array(
            list(itertools.product(range(NUM_OPS), repeat=v - 2)), dtype=np.int64
        ).reshape(NUM_OPS ** (v - 2), v - 2)
        first, fps = _hash_group(mats, labelings, log=log)
        m_idx, l_idx = np.divmod(first, len(labelings))
        mat = np.zeros((len(first), MAX_VERTICES, MAX_VERTICES), dtype=np.uint8)
        mat[:, :v, :v] = mats[m_idx]
        op = np.full((len(first), MAX_VERTICES), PAD, dtype=np.int8)
        op[:, 0] = -1
        op[:, 1 : v - 1] = labelings[l_idx]
        op[:, v - 1] = -2
        num_vertices.append(np.full(len(first), v, dtype=np.uint8))
        matrices.append(mat)
        ops.append(op)
        hashes.extend(fps)
        if log is not None:
            log(f"V={v}: {len(mats) * len(labelings):,} pairs, {len(first):,} unique cells, "
                f"{time.perf_counter() - t0:.1f}s")
    result = NB101Enumeration(
        num_vertices=np.concatenate(num_vertices),
        matrices=np.concatenate(matrices),
        ops=np.concatenate(ops),
        hashes=np.array(hashes, dtype="S32"),
    )
    if len(set(hashes)) != len(hashes):
        raise RuntimeError("NB101 enumeration produced duplicate hashes (internal error)")
    return result


def enumeration_cache_path(data_dir: str | os.PathLike | None = None) -> Path:
    """Where :func:`load_enumeration` caches the enumeration."""
    from gnnnas.data.paths import resolve_cache_dir

    return resolve_cache_dir(data_dir) / "nb101" / CACHE_NAME


def _save(enum: NB101Enumeration, path: Path) -> None:
    from gnnnas.data.paths import atomic_write

    with atomic_write(path) as handle:
        np.savez_compressed(
            handle,
            version=np.array(_FORMAT_VERSION),
            num_vertices=enum.num_vertices,
            matrices=np.packbits(enum.matrices.reshape(len(enum), -1), axis=1),
            ops=enum.ops,
            hashes=enum.hashes,
        )


def _load(path: Path) -> NB101Enumeration:
    with np.load(path, allow_pickle=False) as data:
        if int(data["version"]) != _FORMAT_VERSION:
            raise ValueError(f"{path}: cache format {int(data['version'])}, expected {_FORMAT_VERSION}")
        n = len(data["hashes"])
        bits = np.unpackbits(data["matrices"], axis=1, count=MAX_VERTICES * MAX_VERTICES)
        return NB101Enumeration(
            num_vertices=data["num_vertices"],
            matrices=bits.reshape(n, MAX_VERTICES, MAX_VERTICES),
            ops=data["ops"],
            hashes=data["hashes"],
        )


_MEMO: dict[str, NB101Enumeration] = {}


def load_enumeration(
    data_dir: str | os.PathLike | None = None, *, cache: bool = True, verbose: bool = False
) -> NB101Enumeration:
    """The whole NB101 space, from the cache when present (enumerated and cached otherwise).

    The cache lives in ``resolve_cache_dir(data_dir) / "nb101"`` (``$GNNNAS_CACHE`` first). A
    corrupt or outdated cache file is rebuilt. Results are also memoised per cache path.
    """
    if not cache:
        return enumerate_nb101(verbose=verbose)
    path = enumeration_cache_path(data_dir)
    key = str(path)
    if key in _MEMO and path.is_file():
        return _MEMO[key]
    enum = None
    if path.is_file():
        try:
            enum = _load(path)
            if len(enum) != NUM_UNIQUE_CELLS:
                enum = None
        except (OSError, ValueError, KeyError):
            enum = None
    if enum is None:
        enum = enumerate_nb101(verbose=verbose)
        _save(enum, path)
    _MEMO[key] = enum
    return enum
