"""NAS-Bench-Graph: the light ``.bench`` files and the full per-seed files -> one row per key.

Layout (THUMNLab/NAS-Bench-Graph README and ``readbench.py``): every ``.bench`` file is one
pickled dict keyed by the architecture's integer hash (``Arch.valid_hash()``).

- light (``nas_bench_graph/light/<dataset>.bench``, shipped in the PyPI package): key ->
  ``{"valid_perf", "perf" (test), "latency" (s), "para" (M parameters)}``, already averaged over
  the benchmark's seeds.
- full (figshare, ``<dataset><seed>.bench`` for seeds 0, 1, 2): key -> ``{"dur": [[train_perf,
  valid_perf, test_perf, train_loss, valid_loss, test_loss, best_perf] per epoch], ...}``.

Definition used for full files (documented in the README): per seed, the epoch with the best
validation performance (first one on ties) gives ``valid_perf``, ``test_perf`` and
``train_perf``; the table holds the mean over the seed files given. ``latency`` / ``params``
are taken from the records when present (NaN otherwise).
Every key must be a key of the space (``NASBenchGraphSpace.contains``): an int, not a float such
as 1.2 that ``int()`` would truncate; a bad one raises :class:`FormatError` naming it.
Columns: ``key`` (int64), ``valid_perf``, ``test_perf``, ``latency``, ``params`` (count), and for
full files ``train_perf``, ``best_epoch`` (mean) and ``seeds`` (number of files).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gnnnas.data.formats.errors import FormatError
from gnnnas.data.formats.safe_pickle import load_pickle
from gnnnas.data.table import Table
from gnnnas.spaces.nasbench_graph import NASBenchGraphSpace

if TYPE_CHECKING:
    from gnnnas.progress import Progress

__all__ = ["read_nasbench_graph"]

_SPACE = NASBenchGraphSpace()  # all ops: its members include OGBN-Proteins' keys


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _count(millions: Any) -> float:
    """``para`` (M parameters) -> a count; NaN when missing or not a finite number."""
    value = _float(millions) * 1e6
    return float(round(value)) if math.isfinite(value) else math.nan


def _load_dict(path: Path) -> Mapping:
    data = load_pickle(path)
    if not isinstance(data, Mapping) or not data:
        raise FormatError(path, "not a dict of architecture key -> record")
    for record, key in enumerate(data):
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or not _SPACE.contains(int(key)):
            raise FormatError(path, f"key {key!r:.40} is not a NAS-Bench-Graph architecture key (an int "
                              "Arch.valid_hash() of the space)", record=record)
    return data


def _light(path: Path, data: Mapping, dataset: str) -> Table:
    keys, valid, test, latency, params = [], [], [], [], []
    for record, (key, info) in enumerate(data.items()):
        if not isinstance(info, Mapping) or "valid_perf" not in info or "perf" not in info:
            raise FormatError(path, f"key {key}: record lacks valid_perf/perf (light layout)", record=record)
        keys.append(int(key))
        valid.append(_float(info["valid_perf"]))
        test.append(_float(info["perf"]))
        latency.append(_float(info.get("latency")))
        params.append(_count(info.get("para")))
    columns = {
        "key": np.asarray(keys, dtype=np.int64),
        "valid_perf": np.asarray(valid),
        "test_perf": np.asarray(test),
        "latency": np.asarray(latency),
        "params": np.asarray(params, dtype=np.float64),
    }
    meta = {"space": "nasbench_graph", "dataset": dataset, "source": str(path), "source_format": "nbg-light"}
    return Table(columns, key="key", meta=meta)


def _best_epoch(path: Path, key: Any, dur: Any, record: int) -> tuple[float, float, float, int]:
    try:
        curve = np.asarray(dur, dtype=np.float64)
    except (TypeError, ValueError):
        raise FormatError(path, f"key {key}: 'dur' is not a numeric per-epoch table", record=record) from None
    if curve.ndim != 2 or curve.shape[0] == 0 or curve.shape[1] < 3:
        raise FormatError(path, f"key {key}: 'dur' has shape {curve.shape}, expected (epochs, >= 3)", record=record)
    best = int(np.nanargmax(curve[:, 1])) if np.isfinite(curve[:, 1]).any() else 0
    return curve[best, 0], curve[best, 1], curve[best, 2], best


def _full(paths: Sequence[Path], datas: Sequence[Mapping], dataset: str) -> Table:
    keys = list(datas[0])
    for path, data in zip(paths[1:], datas[1:]):
        if set(data) != set(keys):
            raise FormatError(path, f"seed file covers {len(data)} keys, {paths[0].name} covers {len(keys)}: "
                              "files of different data sets or versions?")
    sums = np.zeros((len(keys), 4))
    latency = np.full(len(keys), np.nan)
    params = np.full(len(keys), np.nan)
    for path, data in zip(paths, datas):
        for record, key in enumerate(keys):
            info = data[key]
            if not isinstance(info, Mapping) or "dur" not in info:
                raise FormatError(path, f"key {key}: record lacks 'dur' (full layout)", record=record)
            train, valid, test, best = _best_epoch(path, key, info["dur"], record)
            sums[record] += (train, valid, test, best)
            if "latency" in info and math.isnan(latency[record]):
                latency[record] = _float(info["latency"])
            if "para" in info and math.isnan(params[record]):
                params[record] = _count(info["para"])
    means = sums / len(datas)
    columns = {
        "key": np.asarray([int(k) for k in keys], dtype=np.int64),
        "valid_perf": means[:, 1],
        "test_perf": means[:, 2],
        "train_perf": means[:, 0],
        "best_epoch": means[:, 3],
        "seeds": np.full(len(keys), len(datas), dtype=np.int64),
        "latency": latency,
        "params": params,
    }
    meta = {"space": "nasbench_graph", "dataset": dataset, "source": [str(p) for p in paths],
            "source_format": "nbg-full", "definition": "best-validation epoch per seed, mean over seeds"}
    return Table(columns, key="key", meta=meta)


def dataset_of(path: str | os.PathLike) -> str:
    """Data set name from a file name: ``cora.bench`` -> cora, ``cora0.bench`` -> cora."""
    return Path(path).name.split(".")[0].rstrip("0123456789")


def read_nasbench_graph(sources: str | os.PathLike | Sequence[str | os.PathLike],
                        dataset: str | None = None, progress: Progress | None = None) -> Table:
    """Read one light file, or the seed files of one data set (full layout), into a table.

    Raises :class:`FormatError`, naming the record, for a file out of layout or a key that is not
    one of the space's (e.g. a float such as 1.2); ``ValueError`` for files of several data sets.
    ``progress`` (a :class:`gnnnas.progress.Progress`) is told each file loaded (the long part).
    """
    paths = [Path(sources)] if isinstance(sources, (str, os.PathLike)) else [Path(s) for s in sources]
    if not paths:
        raise ValueError("no NAS-Bench-Graph files given")
    for path in paths:
        if not path.is_file():
            raise FormatError(path, "no such file")
    names = {dataset_of(p) for p in paths}
    if dataset is None:
        if len(names) > 1:
            raise ValueError(f"files of several data sets {sorted(names)}; convert one data set at a time")
        dataset = names.pop()
    if progress is not None:
        progress.set_total(len(paths), unit="file")
    datas = []
    for path in paths:
        datas.append(_load_dict(path))
        if progress is not None:
            progress.advance(status=path.name)
    first = next(iter(datas[0].values()))
    if isinstance(first, Mapping) and "dur" in first:
        return _full(paths, datas, dataset)
    if len(paths) > 1:
        raise FormatError(paths[1], "several light files given; a light file already averages the seeds")
    return _light(paths[0], datas[0], dataset)
