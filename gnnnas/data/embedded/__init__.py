"""Benchmark tables shipped inside the package, so a ``pip install gnnnas`` needs no data directory.

One compressed ``.npz`` per published file of the data directory (``allow_pickle=False``; each
a gnnnas :class:`~gnnnas.data.table.Table` with ``__key__`` and ``__meta__`` entries). Values are
those of the published files, bit for bit: floats are float64, except the NAS-Bench-101 20k
columns, which are float32 values in the file (every one converts back exactly); strings are
stored as op / int codes and rebuilt character for character. Each ``decode_*`` function gives
back the file's own structure (CSV columns, JSON dicts and lists), which is what the loaders and
the exactness test (``tests/data/test_embedded.py``) read. Sources, commits and licenses: the
``NOTICE`` file beside the tables. Rebuild: ``python tools/build_embedded.py`` (see
:mod:`gnnnas.data.embedded.build`).

===================================  =========================================================
table                                published file (under the data directory)
===================================  =========================================================
``nb201_test_acc_200ep.npz``         ``nb201/nb201_test_acc_200ep.csv`` (15,625 rows)
``nb201_valid_test_acc_12ep.npz``    ``nb201/nb201_valid_test_acc_12ep.csv`` (15,625 rows)
``nb201_725_zero_cost.npz``          ``nb201/nb201_725_zero_cost.json`` (725 + 725 + 724 rows)
``nb101_20k_valid_acc_by_hash.npz``  ``nb101/nb101_20k_valid_acc_by_hash.json`` (20,001 rows) plus
                                     each cell's graph (official canonical spec of its hash)
``nb101_500_valid_acc.npz``          ``nb101/nb101_500_valid_acc.json`` (500 rows)
``nb301_725_valid_acc.npz``          ``nb301/nb301_725_valid_acc.json`` (725 rows)
``autoformer_ti.npz``                ``vit/autoformer_ti_100a.json`` + ``_100b.json`` (200 rows)
===================================  =========================================================
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from gnnnas.data.table import Table, read_table

__all__ = [
    "EMBEDDED",
    "EMBEDDED_DIR",
    "FILES",
    "NB201_ARCH",
    "NB201_OPS",
    "decode_keyed_json",
    "decode_nb101_20k",
    "decode_nb201_csv",
    "decode_vit",
    "embedded_path",
    "read_embedded",
]

#: value of :attr:`Benchmark.source <gnnnas.Benchmark>` for rows read from these tables
EMBEDDED = "embedded"
EMBEDDED_DIR = Path(__file__).resolve().parent

#: published file (relative to the data directory) -> embedded table (in :data:`EMBEDDED_DIR`)
FILES: dict[str, str] = {
    "nb201/nb201_test_acc_200ep.csv": "nb201_test_acc_200ep.npz",
    "nb201/nb201_valid_test_acc_12ep.csv": "nb201_valid_test_acc_12ep.npz",
    "nb201/nb201_725_zero_cost.json": "nb201_725_zero_cost.npz",
    "nb101/nb101_20k_valid_acc_by_hash.json": "nb101_20k_valid_acc_by_hash.npz",
    "nb101/nb101_500_valid_acc.json": "nb101_500_valid_acc.npz",
    "nb301/nb301_725_valid_acc.json": "nb301_725_valid_acc.npz",
    "vit/autoformer_ti_100a.json": "autoformer_ti.npz",
    "vit/autoformer_ti_100b.json": "autoformer_ti.npz",
}

#: NB201 op ids of the embedded ``ops`` columns, and the arch string they fill (edge order
#: 0->1 | 0->2, 1->2 | 0->3, 1->3, 2->3, as in NAS-Bench-201's strings)
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NB201_ARCH = "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|"


def embedded_path(relative: str, directory: Path | None = None) -> Path | None:
    """The embedded table holding published file ``relative``, or ``None`` (not shipped)."""
    name = FILES.get(relative)
    if name is None:
        return None
    path = (directory or EMBEDDED_DIR) / name
    return path if path.is_file() else None


def read_embedded(relative: str, directory: Path | None = None) -> Table:
    """The embedded table of published file ``relative`` (``FileNotFoundError`` when not shipped).

    ``directory``: where the tables are (default :data:`EMBEDDED_DIR`; the build checks its output).
    """
    path = embedded_path(relative, directory)
    if path is None:
        raise FileNotFoundError(f"no embedded table for {relative!r} in {EMBEDDED_DIR}")
    return read_table(path)


# ------------------------------------------------------------------------------------ decoding
def nb201_strings(ops: np.ndarray) -> list[str]:
    """Arch strings of ``[N, 6]`` op ids (:data:`NB201_OPS`, arch-string order)."""
    names = np.asarray(NB201_OPS)[np.asarray(ops, dtype=np.int64)]
    return [NB201_ARCH.format(*row) for row in names.tolist()]


def decode_nb201_csv(relative: str, directory: Path | None = None) -> dict[str, Any]:
    """Columns of an NB201 CSV, in the file's order: float64 arrays for numbers, str lists for text.

    Every float's ``repr`` is the CSV's text (checked at build time); the ``arch`` index column of
    the 12-epoch file is an int64 array.
    """
    table = read_embedded(relative, directory)
    out: dict[str, Any] = {}
    for name, kind in table.meta["columns"]:
        column = table[name]
        if kind == "arch":
            out[name] = nb201_strings(column)
        elif kind == "str":
            out[name] = np.char.decode(column, "ascii").tolist()
        elif kind == "int":
            out[name] = np.asarray(column, dtype=np.int64)
        else:
            out[name] = np.asarray(column, dtype=np.float64)
    return out


def decode_nb101_20k(directory: Path | None = None) -> tuple[dict[str, list], dict[str, np.ndarray]]:
    """The 20k file's parallel lists (exact Python values), and the cells' graphs.

    Graphs: ``num_vertices`` ``[N]``, ``matrices`` ``[N, 7, 7]`` uint8 (cell in the top-left
    ``V x V`` block), ``ops`` ``[N, 7]`` int8 official labels (-1 input, 0 conv3x3-bn-relu,
    1 conv1x1-bn-relu, 2 maxpool3x3, -2 output, -3 padding), ``hashes`` ``[N]`` bytes - the
    layout of :class:`~gnnnas.spaces.nb101_enumerate.NB101Enumeration`.
    """
    table = read_embedded("nb101/nb101_20k_valid_acc_by_hash.json", directory)
    lists: dict[str, list] = {}
    for name in table.meta["columns"]:
        column = table[name]
        lists[name] = np.char.decode(column, "ascii").tolist() if column.dtype.kind == "S" else column.tolist()
    n = len(table)
    graphs = {
        "num_vertices": table["num_vertices"],
        "matrices": np.unpackbits(table["matrices"], axis=1, count=49).reshape(n, 7, 7),
        "ops": table["ops"],
        "hashes": table["key"],
    }
    return lists, graphs


def _key_string(kind: str, codes: np.ndarray) -> str:
    """A JSON file's arch key rebuilt from its integer codes (``kind`` from the table's meta)."""
    values = [int(v) for v in np.asarray(codes).ravel()]
    if kind == "tuple":  # "(0, 2, 3, 2, 3, 1)" (NB201 zero-cost), 56 ints (NASLib NB101)
        return "(" + ", ".join(map(str, values)) + ")"
    if kind == "darts":  # "[[(in, op) x 8], [(in, op) x 8]]"
        cells = [values[:16], values[16:]]
        return "[" + ", ".join(
            "[" + ", ".join(f"({c[i]}, {c[i + 1]})" for i in range(0, 16, 2)) + "]" for c in cells
        ) + "]"
    raise ValueError(f"unknown key kind {kind!r}")


def decode_keyed_json(relative: str, directory: Path | None = None) -> dict:
    """A NASLib-style JSON file ``{group...: {KEY: {field: value}}}`` rebuilt exactly.

    Fields: ``idx`` (str of an int), ``arch`` (the key again), floats, and ``{"score", "time"}``
    pairs; a NaN in the table is a field the record lacks (the files hold no NaN).
    """
    table = read_embedded(relative, directory)
    meta = table.meta
    fields = meta["fields"]
    columns = {name: table[name].tolist() for name in table.columns if name not in ("key", "group")}
    keys = [_key_string(meta["key_kind"], codes) for codes in table["key"]]
    root: dict = {}
    leaves = []
    for path in meta["groups"]:
        node = root
        for part in path:
            node = node.setdefault(part, {})
        leaves.append(node)
    for row, (group, key) in enumerate(zip(table["group"].tolist(), keys)):
        record: dict[str, Any] = {}
        for name, kind in fields:
            if kind == "idx":
                record[name] = str(columns[name][row])
            elif kind == "arch":
                record[name] = key
            elif kind == "score_time":
                score, time = columns[f"{name}.score"][row], columns[f"{name}.time"][row]
                if not math.isnan(score):  # NaN: the record lacks the field
                    record[name] = {"score": score, "time": time}
            else:
                value = columns[name][row]
                if not math.isnan(value):
                    record[name] = value
        leaves[group][key] = record
    return root


def decode_vit(directory: Path | None = None) -> tuple[list[dict], list[dict]]:
    """The two AutoFormer-Ti files (lists of ``{"arch": ..., <accuracy>: float | None}``)."""
    table = read_embedded("vit/autoformer_ti_100a.json", directory)
    metrics = table.meta["metrics"]
    files: tuple[list[dict], list[dict]] = ([], [])
    accuracy = {m: table[m].tolist() for m in metrics}
    for row, (source, dim, depth) in enumerate(
        zip(table["source"].tolist(), table["hidden_dim"].tolist(), table["depth"].tolist())
    ):
        arch = {
            "hidden_dim": dim,
            "mlp_ratio": table["mlp_ratio"][row, :depth].tolist(),
            "depth": depth,
            "num_heads": table["num_heads"][row, :depth].tolist(),
        }
        record: dict[str, Any] = {"arch": arch}
        for m in metrics:
            value = accuracy[m][row]
            record[m] = None if math.isnan(value) else value
        files[source].append(record)
    return files


_INTS = re.compile(r"-?\d+")


def parse_key(kind: str, key: str) -> list[int]:
    """Integer codes of a JSON file's arch key (inverse of the decoder's key rebuild)."""
    values = [int(t) for t in _INTS.findall(key)]
    if _key_string(kind, np.asarray(values)) != key:
        raise ValueError(f"key {key!r} does not rebuild from its integers as a {kind!r} key")
    return values
