"""Build the embedded tables from the published files of a data directory.

``python tools/build_embedded.py [--data-dir DIR] [--out DIR]`` (or ``python -m
gnnnas.data.embedded.build``). Every table is decoded again after writing and compared with its
source file, value by value, before the build reports success. The zip entries carry a fixed
timestamp, so a rebuild from the same files with the same numpy/zlib gives the same bytes.

The NB101 graphs come from the enumeration of the space (:mod:`gnnnas.spaces.nb101_enumerate`,
cached; about 1-2 minutes the first time).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from gnnnas.data import embedded as emb
from gnnnas.data.paths import atomic_write, resolve_data_dir

__all__ = ["build", "compare_with_files", "main"]

_DATE = (1980, 1, 1, 0, 0, 0)


def write_npz(path: Path, columns: dict[str, np.ndarray], key: str, meta: dict[str, Any]) -> Path:
    """A compressed gnnnas table (read by :func:`~gnnnas.data.table.read_table`), reproducible bytes."""
    from gnnnas.data.table import FORMAT_VERSION, Table

    Table(columns, key=key, meta=meta)  # validates lengths and dtypes
    arrays = dict(columns)
    arrays["__key__"] = np.asarray(key)
    arrays["__meta__"] = np.asarray(json.dumps({**meta, "format_version": FORMAT_VERSION}, sort_keys=True))
    with atomic_write(path) as handle, zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED,
                                                        compresslevel=9) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=False) as entry:
                np.lib.format.write_array(entry, np.asarray(array, order="C"), allow_pickle=False)
    return path


def _read_csv(path: Path) -> tuple[list[str], dict[str, list[str]]]:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    return header, {name: [row[i] for row in rows[1:]] for i, name in enumerate(header)}


def _exact_floats(name: str, texts: list[str]) -> np.ndarray:
    values = np.array([float(t) for t in texts], dtype=np.float64)
    bad = [t for t, v in zip(texts, values.tolist()) if repr(v) != t]
    if bad:
        raise ValueError(f"column {name!r}: {len(bad)} values are not the repr of a float64, e.g. {bad[:3]}")
    return values


def _nb201_ops(strings: list[str]) -> np.ndarray:
    index = {op: i for i, op in enumerate(emb.NB201_OPS)}
    ops = np.zeros((len(strings), 6), dtype=np.uint8)
    for row, s in enumerate(strings):
        names = [tok.split("~")[0] for tok in s.strip("|").replace("|+|", "|").split("|")]
        ops[row] = [index[n] for n in names]
    if emb.nb201_strings(ops) != strings:
        raise ValueError("NB201 arch strings do not rebuild from their op ids")
    return ops


def _nb201_csv(source: Path, relative: str, out: Path) -> Path:
    header, cols = _read_csv(source)
    columns: dict[str, np.ndarray] = {}
    kinds = []
    for name in header:
        texts = cols[name]
        if name in ("ArchitectureString", "cellstr"):
            columns[name], kind = _nb201_ops(texts), "arch"
        elif name == "UniqueString":
            columns[name], kind = np.char.encode(np.asarray(texts), "ascii"), "str"
        elif name == "arch":
            values = np.array([int(t) for t in texts], dtype=np.int16)
            if [str(v) for v in values.tolist()] != texts:
                raise ValueError(f"{relative}: column 'arch' is not plain ints")
            columns[name], kind = values, "int"
        else:
            columns[name], kind = _exact_floats(name, texts), "float"
        kinds.append([name, kind])
    meta = {"source": relative, "columns": kinds, "rows": len(cols[header[0]])}
    return write_npz(out, columns, key=header[0] if header[0] == "arch" else "ArchitectureString", meta=meta)


def _keyed_json(source: Path, relative: str, out: Path, key_kind: str, key_dtype) -> Path:
    """NASLib-style ``{group...: {KEY: record}}``: one row per record, groups in file order."""
    with open(source) as handle:
        tree = json.load(handle)
    groups: list[list[str]] = []
    rows: list[tuple[int, str, dict]] = []

    def walk(node: dict, path: list[str]) -> None:
        # a leaf group maps arch keys (start with "(" or "[") to records
        if all(isinstance(k, str) and k[:1] in "([" for k in node):
            groups.append(path)
            rows.extend((len(groups) - 1, k, v) for k, v in node.items())
            return
        for name, child in node.items():
            walk(child, [*path, name])

    walk(tree, [])
    fields: dict[str, str] = {}
    for _, _, record in rows:
        for name, value in record.items():
            kind = (
                "idx" if name == "idx" else "arch" if name == "arch"
                else "score_time" if isinstance(value, dict) else "float"
            )
            if fields.setdefault(name, kind) != kind:
                raise ValueError(f"{relative}: field {name!r} is both {fields[name]} and {kind}")
    n = len(rows)
    columns: dict[str, np.ndarray] = {
        "group": np.array([g for g, _, _ in rows], dtype=np.uint8),
        "key": np.array([emb.parse_key(key_kind, k) for _, k, _ in rows], dtype=key_dtype),
    }
    for name, kind in fields.items():
        if kind == "idx":
            values = [r.get(name) for _, _, r in rows]
            columns[name] = np.array([int(v) for v in values], dtype=np.int32)
            if [str(v) for v in columns[name].tolist()] != values:
                raise ValueError(f"{relative}: field 'idx' is not plain int strings")
        elif kind == "arch":
            if any(r.get(name) != k for _, k, r in rows):
                raise ValueError(f"{relative}: field 'arch' differs from the record's key")
        else:
            parts = ("score", "time") if kind == "score_time" else (None,)
            for part in parts:
                column = np.full(n, np.nan)
                for row, (_, _, r) in enumerate(rows):
                    value = r.get(name)
                    if value is None:
                        if name in r:
                            raise ValueError(f"{relative}: null {name!r} (only absent fields are supported)")
                        continue
                    if part is not None:
                        if set(value) != {"score", "time"}:
                            raise ValueError(f"{relative}: field {name!r} has keys {sorted(value)}")
                        value = value[part]
                    if type(value) is not float or math.isnan(value):
                        raise ValueError(f"{relative}: {name!r} = {value!r} is not a finite JSON float")
                    column[row] = value
                columns[name if part is None else f"{name}.{part}"] = column
    meta = {"source": relative, "groups": groups, "fields": list(map(list, fields.items())), "key_kind": key_kind,
            "rows": n}
    return write_npz(out, columns, key="key", meta=meta)


def _nb101_20k(source: Path, relative: str, out: Path) -> Path:
    from gnnnas.spaces.nb101_enumerate import load_enumeration

    with open(source) as handle:
        table = json.load(handle)
    columns: dict[str, np.ndarray] = {}
    for name, values in table.items():
        if name == "key":
            columns[name] = np.char.encode(np.asarray(values), "ascii")
        elif all(type(v) is int for v in values):
            columns[name] = np.asarray(values, dtype=np.int32)
            if columns[name].tolist() != values:
                raise ValueError(f"{relative}: {name!r} does not fit int32")
        else:
            columns[name] = np.asarray(values, dtype=np.float32)
            if columns[name].astype(np.float64).tolist() != values:
                raise ValueError(f"{relative}: {name!r} is not exactly float32")
    enum = load_enumeration(verbose=True)
    rows = enum.rows(table["key"])
    if (rows < 0).any():
        raise ValueError(f"{relative}: {(rows < 0).sum()} hashes are not NB101 cells")
    columns["num_vertices"] = enum.num_vertices[rows].astype(np.uint8)
    columns["matrices"] = np.packbits(enum.matrices[rows].reshape(len(rows), -1).astype(np.uint8), axis=1)
    columns["ops"] = enum.ops[rows].astype(np.int8)
    meta = {"source": relative, "columns": list(table), "rows": len(rows),
            "graphs": "official canonical spec of each hash (NAS-Bench-101 generate_graphs.py order)"}
    return write_npz(out, columns, key="key", meta=meta)


def _vit(sources: list[Path], out: Path) -> Path:
    records = []
    for index, path in enumerate(sources):
        with open(path) as handle:
            records.extend((index, r) for r in json.load(handle))
    metrics = [k for k in records[0][1] if k != "arch"]
    depth = max(r["arch"]["depth"] for _, r in records)
    n = len(records)
    columns = {
        "source": np.array([s for s, _ in records], dtype=np.uint8),
        "hidden_dim": np.array([r["arch"]["hidden_dim"] for _, r in records], dtype=np.int16),
        "depth": np.array([r["arch"]["depth"] for _, r in records], dtype=np.int16),
        "mlp_ratio": np.full((n, depth), np.nan),
        "num_heads": np.zeros((n, depth), dtype=np.int16),
    }
    for row, (_, r) in enumerate(records):
        d = r["arch"]["depth"]
        columns["mlp_ratio"][row, :d] = r["arch"]["mlp_ratio"]
        columns["num_heads"][row, :d] = r["arch"]["num_heads"]
    for m in metrics:
        columns[m] = np.array([np.nan if r[m] is None else r[m] for _, r in records], dtype=np.float64)
    meta = {"source": ["vit/autoformer_ti_100a.json", "vit/autoformer_ti_100b.json"], "metrics": metrics, "rows": n}
    return write_npz(out, columns, key="source", meta=meta)


def build(data_dir: str | os.PathLike | None = None, out_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Write every embedded table from ``data_dir`` into ``out_dir`` (default: the package's)."""
    root = resolve_data_dir(data_dir)
    out = Path(out_dir) if out_dir is not None else emb.EMBEDDED_DIR
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for relative in ("nb201/nb201_test_acc_200ep.csv", "nb201/nb201_valid_test_acc_12ep.csv"):
        written[relative] = _nb201_csv(root / relative, relative, out / emb.FILES[relative])
    for relative, kind, dtype in (
        ("nb201/nb201_725_zero_cost.json", "tuple", np.uint8),
        ("nb101/nb101_500_valid_acc.json", "tuple", np.uint8),
        ("nb301/nb301_725_valid_acc.json", "darts", np.uint8),
    ):
        written[relative] = _keyed_json(root / relative, relative, out / emb.FILES[relative], kind, dtype)
    relative = "nb101/nb101_20k_valid_acc_by_hash.json"
    written[relative] = _nb101_20k(root / relative, relative, out / emb.FILES[relative])
    vit = ["vit/autoformer_ti_100a.json", "vit/autoformer_ti_100b.json"]
    path = _vit([root / v for v in vit], out / emb.FILES[vit[0]])
    written.update({v: path for v in vit})
    return written


def _count(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_count(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count(v) for v in value)
    return 1


def compare_with_files(data_dir: str | os.PathLike | None = None, directory: Path | None = None) -> dict[str, int]:
    """Compare every value of the embedded tables with the published files; ``ValueError`` on a difference.

    Floats are compared exactly (NB201 CSVs: the float64's ``repr`` must be the CSV text; JSON:
    the decoded value must equal ``json.load``'s), strings character for character, and the
    order of rows and keys as in the files. Returns the number of values compared per file.
    """
    root = resolve_data_dir(data_dir)
    counts: dict[str, int] = {}
    for relative in ("nb201/nb201_test_acc_200ep.csv", "nb201/nb201_valid_test_acc_12ep.csv"):
        header, texts = _read_csv(root / relative)
        decoded = emb.decode_nb201_csv(relative, directory)
        if list(decoded) != header:
            raise ValueError(f"{relative}: columns {list(decoded)} != {header}")
        for name in header:
            column = decoded[name]
            if isinstance(column, np.ndarray):
                column = [repr(v) if isinstance(v, float) else str(v) for v in column.tolist()]
            if column != texts[name]:
                bad = next(i for i, (a, b) in enumerate(zip(column, texts[name])) if a != b) if len(column) == len(
                    texts[name]) else "length"
                raise ValueError(f"{relative}: column {name!r} differs (row {bad})")
        counts[relative] = len(header) * len(texts[header[0]])
    for relative in ("nb201/nb201_725_zero_cost.json", "nb101/nb101_500_valid_acc.json",
                     "nb301/nb301_725_valid_acc.json", "nb101/nb101_20k_valid_acc_by_hash.json",
                     "vit/autoformer_ti_100a.json", "vit/autoformer_ti_100b.json"):
        with open(root / relative) as handle:
            original = json.load(handle)
        if relative.startswith("vit/"):
            decoded: Any = emb.decode_vit(directory)[relative.endswith("100b.json")]
        elif relative.endswith("by_hash.json"):
            decoded = emb.decode_nb101_20k(directory)[0]
        else:
            decoded = emb.decode_keyed_json(relative, directory)
        if decoded != original or json.dumps(decoded) != json.dumps(original):
            raise ValueError(f"{relative}: the embedded table does not decode to the file")
        counts[relative] = _count(original)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="data directory with the published files (default $GNNNAS_DATA)")
    parser.add_argument("--out", help=f"output directory (default {emb.EMBEDDED_DIR})")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    written = build(args.data_dir, args.out)
    counts = compare_with_files(args.data_dir, Path(args.out) if args.out else None)
    print(f"checked {sum(counts.values()):,} values against the published files: all equal")
    for path in sorted(set(written.values())):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        print(f"{path.name:36s} {path.stat().st_size / 1024:7.1f} KiB  sha256 {digest}")
    total = sum(p.stat().st_size for p in set(written.values()))
    print(f"{len(set(written.values()))} tables, {total / 1024:.1f} KiB, {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
