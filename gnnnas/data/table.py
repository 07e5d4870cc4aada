"""Compact tables: the converted form of an official benchmark file, one ``.npz`` per table.

A table is a set of equally long 1-D (or 2-D, row-major) numpy columns plus a key column.
It is stored as an uncompressed ``.npz``: loading 15,625 NB201 rows takes milliseconds, and
``allow_pickle=False`` means loading never unpickles anything (strings are fixed-width unicode
arrays, not objects). Two reserved entries: ``__key__`` (name of the key column) and
``__meta__`` (a JSON string: space, source, format version). Writes are atomic.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gnnnas.data.paths import atomic_write

__all__ = ["FORMAT_VERSION", "Table", "read_table", "write_table"]

FORMAT_VERSION = 1


class Table:
    """Columns of one benchmark (``columns[name]`` is an array of ``len(table)`` rows)."""

    def __init__(self, columns: Mapping[str, Any], key: str, meta: Mapping[str, Any] | None = None) -> None:
        cols = {name: np.asarray(values) for name, values in columns.items()}
        if key not in cols:
            raise ValueError(f"key column {key!r} not among the columns {sorted(cols)}")
        lengths = {name: len(col) for name, col in cols.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"columns differ in length: {lengths}")
        for name, col in cols.items():
            if col.dtype == object:
                raise ValueError(f"column {name!r} has dtype object; store str or numbers")
        self.columns = cols
        self.key = key
        self.meta = dict(meta or {})

    def __len__(self) -> int:
        return len(self.columns[self.key])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def __repr__(self) -> str:
        return f"Table({len(self)} rows, key={self.key!r}, columns={sorted(self.columns)})"


def write_table(path: str | os.PathLike, table: Table) -> Path:
    """Write ``table`` to ``path`` (``.npz``) atomically; returns the path."""
    path = Path(path)
    meta = {**table.meta, "format_version": FORMAT_VERSION}
    arrays = dict(table.columns)
    arrays["__key__"] = np.asarray(table.key)
    arrays["__meta__"] = np.asarray(json.dumps(meta, sort_keys=True))
    with atomic_write(path) as handle:
        np.savez(handle, **arrays)
    return path


def read_table(path: str | os.PathLike) -> Table:
    """Read a table written by :func:`write_table` (never unpickles)."""
    with np.load(path, allow_pickle=False) as data:
        names = [n for n in data.files if n not in ("__key__", "__meta__")]
        if "__key__" not in data.files:
            raise ValueError(f"{path}: not a gnnnas table (no __key__ entry)")
        key = str(data["__key__"])
        meta = json.loads(str(data["__meta__"])) if "__meta__" in data.files else {}
        columns = {name: data[name] for name in names}
    if meta.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
        raise ValueError(f"{path}: table format {meta['format_version']} is newer than this gnnnas "
                         f"({FORMAT_VERSION}); upgrade gnnnas or re-run `gnnnas data convert`")
    return Table(columns, key=key, meta=meta)
