"""NAS-Bench-101 tables: 20,001 hash-keyed cells, and NASLib's 500 cells with zero-cost scores.

Files (under ``<data_dir>/nb101/``):
- ``nb101_20k_valid_acc_by_hash.json``: parallel lists ``key`` (official module hash),
  ``{4,12,36,108}_final_validation_accuracy`` (fractions, one training repeat),
  ``final_training_time``, ``trainable_parameters``. No graphs: the cells are found by hash in the
  enumeration of the whole space (:mod:`gnnnas.spaces.nb101_enumerate`, cached on first use).
- ``nb101_500_valid_acc.json``: NASLib's ``zc_nasbench101.json``,
  ``{"nasbench101": {"cifar10": {KEY: {val_accuracy, flops, params, <zero-cost proxies>}}}}``;
  KEY is a tuple string of 49 adjacency entries (7x7, row-major) and 7 op codes
  (0 input, 1 output, 2 maxpool3x3, 3 conv1x1-bn-relu, 4 conv3x3-bn-relu).
- without these files, the same tables shipped in the package (:mod:`gnnnas.data.embedded`),
  the 20k cells with their graphs (so no enumeration is needed).
- ``nb101_converted.npz`` (optional, written by ``gnnnas data convert --space nb101`` from
  ``nasbench_only108.tfrecord`` / ``nasbench_full.tfrecord``): when present it replaces the 20k
  file - every cell of the source with its graph, accuracies averaged over the 3 repeats.
"""

from __future__ import annotations

import json
import os

import numpy as np

from gnnnas.data.benchmark import Benchmark, check_metric, register_benchmark
from gnnnas.data.embedded import EMBEDDED, decode_keyed_json, decode_nb101_20k, embedded_path
from gnnnas.data.paths import converted_table, locate
from gnnnas.data.table import read_table
from gnnnas.spaces.nb101 import CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT, module_hash
from gnnnas.spaces.nb101_enumerate import NB101Enumeration
from gnnnas.spaces.registry import get_space

__all__ = ["NB101_500_METRICS", "NB101_METRICS", "load_nb101", "load_nb101_500"]

_FILE_20K = "nb101/nb101_20k_valid_acc_by_hash.json"
_FILE_500 = "nb101/nb101_500_valid_acc.json"
_HOW_20K = (
    "nb101_20k_valid_acc_by_hash.json is static/data/data-20k.json of GitHub tiga1231/nasbench-vis "
    "(values from NAS-Bench-101); put it under <data_dir>/nb101/"
)
_HOW_500 = (
    "nb101_500_valid_acc.json is zc_nasbench101.json of GitHub automl/NASLib "
    "(naslib/data); put it under <data_dir>/nb101/"
)
#: metric -> column of the 20k file (validation accuracy after 4/12/36/108 epochs, fraction)
_COLUMNS = {f"val_acc_{e}": f"{e}_final_validation_accuracy" for e in (4, 12, 36, 108)}
NB101_METRICS: tuple[str, ...] = tuple(_COLUMNS)
NB101_500_METRICS: tuple[str, ...] = ("val_accuracy",)
_CODE_500 = {0: INPUT, 1: OUTPUT, 2: MAXPOOL3X3, 3: CONV1X1, 4: CONV3X3}


def _load_converted(metric: str | None, path) -> Benchmark:
    """The benchmark from a table written by ``gnnnas data convert --space nb101``."""
    table = read_table(path)
    op_codes = table.meta.get("op_codes")
    if not op_codes:
        raise ValueError(f"{path}: converted NB101 table without op_codes metadata")
    names = [f"{split}_acc_{e}" for split in ("val", "test", "train") for e in (4, 12, 36, 108)]
    metrics = tuple(n for n in names if n in table and not np.isnan(table[n]).all())
    metric = check_metric("nb101", metric, metrics, "val_acc_108" if "val_acc_108" in metrics else metrics[0])
    space = get_space("nb101")
    archs = []
    for n, adjacency, codes in zip(table["num_vertices"], table["adjacency"], table["ops"]):
        n = int(n)
        matrix = np.asarray(adjacency, dtype=np.int64).reshape(7, 7)[:n, :n]
        archs.append(space.parse((matrix, [op_codes[int(c)] for c in codes[:n]])))
    extra: dict[str, np.ndarray] = {n: np.asarray(table[n], dtype=np.float64) for n in metrics}
    for e in (4, 12, 36, 108):
        if f"training_time_{e}" in table:
            extra[f"training_time_{e}"] = np.asarray(table[f"training_time_{e}"], dtype=np.float64)
    if "training_time_108" in extra:
        extra["training_time"] = extra["training_time_108"]
    extra["params"] = np.asarray(table["params"], dtype=np.float64)
    extra["key"] = np.asarray([str(h) for h in table["hash"]], dtype=object)
    return _benchmark(space, archs, metric, extra, metrics, str(path))


def _benchmark(space, archs: list, metric: str, extra: dict[str, np.ndarray], metrics: tuple[str, ...],
               source: str) -> Benchmark:
    """The ``nb101`` benchmark of ``archs`` (adds the computed ``flops`` column)."""
    extra["flops"] = np.array([a.macro["flops"] for a in archs], dtype=np.float64)
    return Benchmark(
        name="nb101",
        space=space,
        metric=metric,
        archs=archs,
        y=extra[metric],
        encodings=[space.format(a) for a in archs],
        extra=extra,
        metrics=metrics,
        source=source,
    )


def _graphs(keys: list[str], data_dir, embedded: bool | None):
    """An :class:`~gnnnas.spaces.nb101_enumerate.NB101Enumeration` holding the cells of ``keys``.

    The graphs shipped with the 20k table when they cover every key (and ``embedded`` is not
    ``False``): the same canonical specs as the enumeration's, without enumerating; else the
    enumeration of the whole space (cached).
    """
    from gnnnas.spaces.nb101_enumerate import load_enumeration

    if embedded is not False and embedded_path(_FILE_20K) is not None:
        enum = NB101Enumeration(**decode_nb101_20k()[1])
        if (enum.rows(keys) >= 0).all():
            return enum
    return load_enumeration(data_dir)


@register_benchmark("nb101")
def load_nb101(
    metric: str | None = None,
    data_dir: str | os.PathLike | None = None,
    converted: bool | None = None,
    embedded: bool | None = None,
) -> Benchmark:
    """The 20,001 hash-keyed NB101 cells, label ``metric`` (default ``val_acc_108``).

    Metrics: ``val_acc_4``, ``val_acc_12``, ``val_acc_36``, ``val_acc_108`` - CIFAR-10
    validation accuracy after that many training epochs, as FRACTIONS in [0, 1] (one training
    repeat, as in the file). Rows in file order (sorted by hash). Each cell is the official
    canonical spec of its hash (the first generated by NAS-Bench-101's ``generate_graphs.py``).
    Extra columns: the other accuracies, ``training_time`` (seconds, 108 epochs), ``params``
    (``trainable_parameters`` of the file; equal to the computed count), ``flops`` (computed,
    NASLib convention) and ``key`` (the module hash, str).

    The file is looked up in ``data_dir``, ``$GNNNAS_DATA``, ``~/.cache/gnnnas``; with none, the
    table shipped in the package is read (same values; ``embedded=False`` forbids that,
    ``embedded=True`` forces it; ``source`` says which was read). The cells' graphs come
    with the shipped table; with ``embedded=False`` (or a file holding other hashes) the first
    call enumerates the whole space instead (about 1-2 minutes, cached: see
    :func:`gnnnas.data.resolve_cache_dir`).

    A converted table (``nb101/nb101_converted.npz``, see ``gnnnas data convert``) takes
    precedence: all cells of the official file in file order, graphs from the file (no
    enumeration), metrics ``{val,test,train}_acc_{4,12,36,108}`` (fractions, mean over the
    repeats; budgets the source lacks are absent), ``training_time_<e>``, ``params``.
    ``converted=False`` reads the published 20,001 cells even then (as protocol P101 does);
    ``converted=True`` requires the table.
    """
    table_path = converted_table("nb101", data_dir, converted, embedded=embedded)
    if table_path is not None:
        return _load_converted(metric, table_path)
    metric = check_metric("nb101", metric, NB101_METRICS, "val_acc_108")
    where = locate(_FILE_20K, data_dir, embedded, _HOW_20K)
    if where == EMBEDDED:
        table, graphs = decode_nb101_20k()
        enum = NB101Enumeration(**graphs)
    else:
        with open(where / _FILE_20K) as handle:
            table = json.load(handle)
        enum = _graphs([str(k) for k in table["key"]], data_dir, embedded)
    keys = [str(k) for k in table["key"]]
    space = get_space("nb101")
    rows = enum.rows(keys)
    missing = [k for k, r in zip(keys, rows) if r < 0]
    if missing:
        raise ValueError(
            f"{len(missing)} of {len(keys)} hashes of {_FILE_20K} are not NB101 cells "
            f"(e.g. {missing[:3]}); the file or the enumeration cache is corrupt "
            "(delete the cache file to rebuild it)"
        )
    archs = [space.from_row(enum, int(r)) for r in rows]
    extra: dict[str, np.ndarray] = {
        name: np.asarray(table[col], dtype=np.float64) for name, col in _COLUMNS.items()
    }
    extra["training_time"] = np.asarray(table["final_training_time"], dtype=np.float64)
    extra["params"] = np.asarray(table["trainable_parameters"], dtype=np.float64)
    extra["key"] = np.asarray(keys, dtype=object)
    return _benchmark(space, archs, metric, extra, NB101_METRICS, str(where))


def parse_naslib_key(key: str) -> tuple[np.ndarray, list[str]]:
    """NASLib key ``"(a0, ..., a48, o0, ..., o6)"`` -> unpruned ``(7x7 matrix, op names)``."""
    try:
        values = [int(t) for t in key.strip().strip("()").split(",")]
    except ValueError:
        raise ValueError(f"bad NASLib NB101 key {key!r}") from None
    if len(values) != 56:
        raise ValueError(f"NASLib NB101 key needs 56 ints (49 adjacency + 7 ops), got {len(values)}")
    try:
        ops = [_CODE_500[v] for v in values[49:]]
    except KeyError as err:
        raise ValueError(f"unknown op code {err.args[0]} in NASLib NB101 key {key!r}") from None
    return np.asarray(values[:49], dtype=np.int64).reshape(7, 7), ops


@register_benchmark("nb101_500")
def load_nb101_500(
    metric: str | None = None,
    data_dir: str | os.PathLike | None = None,
    embedded: bool | None = None,
) -> Benchmark:
    """NASLib's 500 NB101 cells (CIFAR-10, 108 epochs), label ``val_accuracy`` (PERCENT).

    Rows in file order; cells are pruned like NAS-Bench-101's ModelSpec. Extra columns:
    ``params`` and ``flops`` (the file's values, which are in millions, x 1e6: raw counts,
    equal to the computed ones), every zero-cost proxy score as ``zc_<name>``, ``key`` (the
    file's key) and ``hash`` (official module hash, to join with the 20k table).

    The file is looked up in ``data_dir``, ``$GNNNAS_DATA``, ``~/.cache/gnnnas``, else the
    table shipped in the package is read (``embedded``: as for :func:`load_nb101`).
    """
    metric = check_metric("nb101_500", metric, NB101_500_METRICS, "val_accuracy")
    where = locate(_FILE_500, data_dir, embedded, _HOW_500)
    if where == EMBEDDED:
        content = decode_keyed_json(_FILE_500)
    else:
        with open(where / _FILE_500) as handle:
            content = json.load(handle)
    table = content["nasbench101"]["cifar10"]
    space = get_space("nb101")
    keys = list(table)
    archs = [space.parse(parse_naslib_key(k)) for k in keys]
    extra: dict[str, np.ndarray] = {
        "val_accuracy": np.array([table[k]["val_accuracy"] for k in keys], dtype=np.float64),
        "params": np.round(np.array([table[k]["params"] for k in keys], dtype=np.float64) * 1e6),
        "flops": np.round(np.array([table[k]["flops"] for k in keys], dtype=np.float64) * 1e6),
    }
    proxies = sorted({name for k in keys for name in table[k]} - {"val_accuracy", "params", "flops"})
    for name in proxies:
        values = []
        for k in keys:
            value = table[k].get(name)
            if isinstance(value, dict):
                value = value.get("score")
            values.append(np.nan if value is None else float(value))
        extra[f"zc_{name}"] = np.asarray(values, dtype=np.float64)
    extra["key"] = np.asarray(keys, dtype=object)
    encodings = [space.format(a) for a in archs]
    extra["hash"] = np.asarray([module_hash(np.asarray(m), o) for m, o in encodings], dtype=object)
    return Benchmark(
        name="nb101_500",
        space=space,
        metric=metric,
        archs=archs,
        y=extra[metric],
        encodings=encodings,
        extra=extra,
        metrics=NB101_500_METRICS,
        source=str(where),
    )
