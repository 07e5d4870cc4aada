"""NAS-Bench-Graph tables, read from the light ``.bench`` files of the ``nas-bench-graph`` package.

The package (``pip install nas-bench-graph``, or ``pip install gnnnas[graph]``) ships one
pickled dict per data set: benchmark key -> ``{"valid_perf", "perf", "latency", "para"}``
(validation and test performance as fractions in [0, 1], averaged over the benchmark's seeds;
latency in seconds; parameters in millions). No download and no data directory are involved:
``data_dir`` is only read for converted tables: when ``<data_dir>/nasbench_graph/nbg_<dataset>.npz``
exists (``gnnnas data convert <files> --space nasbench_graph``, e.g. from the full per-seed
files), it is used instead of the package's light table, and its extra columns (``train_perf``,
``best_epoch``, ``seeds``) are added.

Data sets: ``cora, citeseer, pubmed, cs, physics, photo, computers, arxiv`` (26,206 archs each)
and ``proteins`` (2,021 archs: its runs used only the ops gcn, sage, arma, fc, skip).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from gnnnas.data.benchmark import Benchmark, check_metric, register_benchmark
from gnnnas.data.paths import converted_table
from gnnnas.data.table import read_table
from gnnnas.spaces.nasbench_graph import NBG_PROTEINS_OPS
from gnnnas.spaces.registry import get_space

__all__ = ["NBG_DATASETS", "NBG_METRICS", "load_nasbench_graph", "read_bench_dict"]

#: Data sets of NAS-Bench-Graph, in the paper's order.
NBG_DATASETS: tuple[str, ...] = (
    "cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins",
)
#: ``<dataset>`` = test performance, ``<dataset>:valid`` = validation performance.
NBG_METRICS: tuple[str, ...] = NBG_DATASETS + tuple(f"{d}:valid" for d in NBG_DATASETS)

_INSTALL = (
    "NAS-Bench-Graph needs the optional package 'nas-bench-graph' (it ships the benchmark "
    "tables): pip install nas-bench-graph   (or: pip install \"gnnnas[graph]\")"
)


def read_bench_dict(dataset: str) -> dict[int, dict[str, Any]]:
    """The package's light table of ``dataset`` (key -> record), as the package loads it."""
    if dataset not in NBG_DATASETS:
        raise ValueError(f"unknown NAS-Bench-Graph data set {dataset!r}; choose from {list(NBG_DATASETS)}")
    try:
        from nas_bench_graph.readbench import light_read
    except ImportError as err:
        raise ImportError(_INSTALL) from err
    return light_read(dataset)


def _converted_dict(path) -> dict[int, dict[str, float]]:
    """A converted table as the light layout (key -> {valid_perf, perf, latency, para, ...})."""
    table = read_table(path)
    fields = {"valid_perf": "valid_perf", "test_perf": "perf", "latency": "latency",
              "train_perf": "train_perf", "best_epoch": "best_epoch", "seeds": "seeds"}
    present = {col: name for col, name in fields.items() if col in table}
    params = np.asarray(table["params"], dtype=np.float64) / 1e6
    out = {}
    for i, key in enumerate(table["key"]):
        record = {name: float(table[col][i]) for col, name in present.items()}
        record["para"] = float(params[i])
        out[int(key)] = record
    return out


@register_benchmark("nasbench_graph")
def load_nasbench_graph(
    metric: str | None = None,
    data_dir: str | os.PathLike | None = None,
    macro_params: bool = False,
    converted: bool | None = None,
) -> Benchmark:
    """All architectures of one NAS-Bench-Graph data set, label ``metric`` (default ``cora``).

    ``metric``: a data set name (test performance, fraction in [0, 1]) or ``"<dataset>:valid"``
    (validation performance). Rows are in benchmark-key order (the space's ``enumerate()``
    order; ``proteins`` keeps the 2,021 archs of its op set). ``encodings`` hold ``(link, ops)``.
    Extra columns: ``valid_perf``, ``test_perf``, ``latency`` (s), ``params`` (count, from
    the table's millions) and ``key`` (the benchmark key). ``macro_params=True`` also copies
    ``params`` into every arch's macro features (the global node); off by default because
    ``space.parse`` cannot know them, so sampled archs would lack the feature.
    ``converted``: read ``<data_dir>/nasbench_graph/nbg_<dataset>.npz`` (written by ``gnnnas data
    convert``) when present (``None``), always (``True``) or never (``False``, as the PGRAPH
    protocols do).
    """
    metric = check_metric("nasbench_graph", metric, NBG_METRICS, "cora")
    dataset, _, split = metric.partition(":")
    table_path = converted_table("nasbench_graph", data_dir, converted, dataset=dataset)
    table = _converted_dict(table_path) if table_path is not None else read_bench_dict(dataset)
    space = get_space("nasbench_graph", ops=NBG_PROTEINS_OPS if dataset == "proteins" else None)
    encodings = list(space.members)
    keys = [space.key(enc) for enc in encodings]
    if set(keys) != set(table):
        missing = len(set(keys) - set(table))
        unknown = len(set(table) - set(keys))
        raise ValueError(
            f"NAS-Bench-Graph table {dataset!r} does not match the space: {missing} archs "
            f"missing from the table, {unknown} keys not in the space (package version?)"
        )

    def column(field: str, scale: float = 1.0) -> np.ndarray:
        return np.array([float(table[k][field]) * scale for k in keys], dtype=np.float64)

    extra: dict[str, np.ndarray] = {
        "valid_perf": column("valid_perf"),
        "test_perf": column("perf"),
        "latency": column("latency"),
        "params": np.round(column("para", 1e6)),
        "key": np.array(keys, dtype=np.int64),
    }
    for field in ("train_perf", "best_epoch", "seeds"):
        if field in next(iter(table.values())):
            extra[field] = column(field)
    archs = list(space.enumerate())
    if macro_params:
        archs = [
            type(a)(ops=a.ops, edges=a.edges, vocab=a.vocab, space=a.space,
                    macro={**a.macro, "params": p})
            for a, p in zip(archs, extra["params"])
        ]
    return Benchmark(
        name="nasbench_graph",
        space=space,
        metric=metric,
        archs=archs,
        y=extra["valid_perf" if split == "valid" else "test_perf"],
        encodings=encodings,
        extra=extra,
        metrics=NBG_METRICS,
    )
