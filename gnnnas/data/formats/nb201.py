"""NAS-Bench-201 / NATS-Bench topology space: official files -> one row per architecture.

Layouts (from D-X-Y/NAS-Bench-201 ``api_201.py`` / D-X-Y/NATS-Bench ``api_utils.py``,
``api_topology.py``):

- ``NAS-Bench-201-v1_0-e61699.pth`` / ``-v1_1-096897.pth`` (``torch.save`` of a dict):
  ``{"meta_archs": [arch string per index], "arch2infos": {index: {"less": ArchResults,
  "full": ArchResults}}, "evaluated_indexes": [...], "total_archs": N}``; ``less`` = the
  12-epoch schedule, ``full`` = 200 epochs.
- NATS-Bench ``NATS-tss-v1_0-3ffb9-simple/`` (fast mode): ``meta.pickle.pbz2`` holding
  ``{"meta_archs": [...]}`` and one bz2 pickle per architecture, ``{index:06d}.pickle.pbz2``,
  holding ``{"12": ArchResults, "200": ArchResults}``. The single-file
  ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` has the ``.pth`` layout with hp keys ``"12"``/``"200"``.
- NASLib ``nb201_<dataset>_full_training.pickle``: ``{arch string: {dataset: {"train_acc1es":
  [per epoch], "eval_acc1es": [per epoch], "params", "flop", "latency", ...}}}`` (as read by
  NASLib's ``NasBench201SearchSpace.query``).

ArchResults are saved as state dicts: ``{"arch_index", "arch_str", "dataset_seed": {dataset:
[seeds]}, "all_results": {(dataset, seed): ResultsCount}}``; a ResultsCount state dict has
``epochs``, ``train_acc1es`` (epoch -> accuracy), ``eval_acc1es`` (``"<set>@<epoch>"`` ->
accuracy), ``params`` (M), ``flop`` (M) and ``latency`` (list of seconds, or None).

Columns per data set ``<ds>`` in (``cifar10``, ``cifar100``, ``imagenet16``) and schedule
``<e>`` in (12, 200): ``<ds>_{train,valid,test}_<e>ep`` = accuracy (percent) after the last epoch
of the schedule, averaged over the seeds present (what the official API returns with
``is_random=False``). CIFAR-10: valid = ``cifar10-valid`` ``x-valid`` (trained on train),
test = ``cifar10`` ``ori-test`` (trained on train + valid), train = ``cifar10-valid`` train.
CIFAR-100 / ImageNet16-120: ``x-valid``, ``x-test``, ``train``. Costs ``<ds>_params`` (M),
``<ds>_flops`` (M), ``<ds>_latency`` (s) from the 200-epoch runs (12-epoch when absent).
NaN where a file lacks a value (v1.0's 12-epoch results cover CIFAR-10-valid only).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gnnnas.data.formats.errors import FormatError
from gnnnas.data.formats.safe_pickle import load_pickle
from gnnnas.data.table import Table

__all__ = ["NB201_COLUMNS", "iter_nats_dir", "read_nb201", "rows_from_arch_results"]

GROUPS = ("cifar10", "cifar100", "imagenet16")
EPOCHS = (12, 200)
SPLITS = ("train", "valid", "test")
#: (group, split) -> (official dataset name, evaluation set name; "train" = training accuracy)
_SOURCES = {
    ("cifar10", "train"): ("cifar10-valid", "train"),
    ("cifar10", "valid"): ("cifar10-valid", "x-valid"),
    ("cifar10", "test"): ("cifar10", "ori-test"),
    **{(g, s): (d, {"train": "train", "valid": "x-valid", "test": "x-test"}[s])
       for g, d in (("cifar100", "cifar100"), ("imagenet16", "ImageNet16-120")) for s in SPLITS},
}
_COST_DATASET = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16": "ImageNet16-120"}
_HP_KEYS = {"12": 12, "200": 200, "less": 12, "full": 200}
NB201_COLUMNS: tuple[str, ...] = tuple(
    f"{g}_{s}_{e}ep" for g in GROUPS for e in EPOCHS for s in SPLITS
) + tuple(f"{g}_{c}" for g in GROUPS for c in ("params", "flops", "latency"))
_NASLIB_GROUP = {"cifar10-valid": "cifar10", "cifar10": "cifar10", "cifar100": "cifar100",
                 "ImageNet16-120": "imagenet16"}


def _mean(values: list[float]) -> float:
    values = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(values)) if values else math.nan


def _at(series: Any, epoch: int) -> Any:
    if isinstance(series, Mapping):
        return series.get(epoch, series.get(str(epoch)))
    if isinstance(series, (list, tuple, np.ndarray)) and 0 <= epoch < len(series):
        return series[epoch]
    return None


def _runs(state: Mapping, dataset: str, where: str, path) -> list[Mapping]:
    seeds = state["dataset_seed"].get(dataset) or []
    runs = []
    for seed in seeds:
        run = state["all_results"].get((dataset, seed))
        if not isinstance(run, Mapping):
            raise FormatError(path, f"{where}: result of ({dataset!r}, seed {seed}) missing or not a dict")
        runs.append(run)
    return runs


def _final(run: Mapping, setname: str) -> Any:
    last = int(run["epochs"]) - 1
    if setname == "train":
        return _at(run.get("train_acc1es"), last)
    return (run.get("eval_acc1es") or {}).get(f"{setname}@{last}")


def rows_from_arch_results(results_by_hp: Mapping, where: str, path=None) -> dict[str, float]:
    """One architecture's ``{hp key: ArchResults state dict}`` -> its table columns."""
    row = dict.fromkeys(NB201_COLUMNS, math.nan)
    cost_epochs = -1
    try:
        for hp, state in results_by_hp.items():
            epochs = _HP_KEYS.get(str(hp))
            if epochs is None:
                continue
            if not isinstance(state, Mapping) or "all_results" not in state or "dataset_seed" not in state:
                raise FormatError(path, f"{where}, hp {hp!r}: not an ArchResults state dict "
                                  "(needs all_results and dataset_seed)")
            for (group, split), (dataset, setname) in _SOURCES.items():
                runs = _runs(state, dataset, where, path)
                row[f"{group}_{split}_{epochs}ep"] = _mean([_final(r, setname) for r in runs])
            if epochs > cost_epochs:
                cost_epochs = epochs
                for group, dataset in _COST_DATASET.items():
                    runs = _runs(state, dataset, where, path)
                    row[f"{group}_params"] = _mean([r.get("params") for r in runs])
                    row[f"{group}_flops"] = _mean([r.get("flop") for r in runs])
                    latencies = [_mean(list(r["latency"])) for r in runs if r.get("latency")]
                    row[f"{group}_latency"] = _mean([v for v in latencies if v > 0])
    except FormatError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise FormatError(path, f"{where}: unexpected ArchResults layout ({type(err).__name__}: {err})") from None
    return row


def _table(index: list[int], archs: list[str], rows: list[dict[str, float]], source: str, kind: str) -> Table:
    columns: dict[str, Any] = {
        "index": np.asarray(index, dtype=np.int64),
        "arch": np.asarray(archs, dtype=str),
    }
    for name in NB201_COLUMNS:
        columns[name] = np.asarray([r[name] for r in rows], dtype=np.float64)
    return Table(columns, key="arch", meta={"space": "nb201", "source": source, "source_format": kind})


def _check_archs(meta_archs: Any, path) -> list[str]:
    if not isinstance(meta_archs, (list, tuple)) or not all(isinstance(a, str) for a in meta_archs):
        raise FormatError(path, "meta_archs is not a list of architecture strings")
    return list(meta_archs)


def _from_benchmark_dict(data: Any, path) -> Table:
    if not isinstance(data, Mapping) or not {"meta_archs", "arch2infos"} <= set(data):
        raise FormatError(path, "not a NAS-Bench-201/NATS-Bench benchmark dict (needs meta_archs and "
                          "arch2infos); for NASLib pickles the keys are architecture strings")
    meta_archs = _check_archs(data["meta_archs"], path)
    infos = data["arch2infos"]
    if not isinstance(infos, Mapping):
        raise FormatError(path, "arch2infos is not a dict")
    index, archs, rows = [], [], []
    for idx in sorted(infos):
        if not isinstance(idx, int) or not 0 <= idx < len(meta_archs):
            raise FormatError(path, f"arch2infos key {idx!r} is not an index into meta_archs")
        if not isinstance(infos[idx], Mapping):
            raise FormatError(path, f"arch2infos[{idx}] is not a dict", record=idx)
        rows.append(rows_from_arch_results(infos[idx], f"architecture {idx}", path))
        index.append(idx)
        archs.append(meta_archs[idx])
    if not rows:
        raise FormatError(path, "no evaluated architectures")
    return _table(index, archs, rows, str(path), "nb201-pth")


def _arch_file(directory: Path, idx: int) -> Path | None:
    for name in (f"{idx:06d}.pickle.pbz2", f"{idx}.pickle.pbz2", f"{idx:06d}.pickle", f"{idx}.pickle"):
        if (directory / name).is_file():
            return directory / name
    return None


def iter_nats_dir(directory: str | os.PathLike) -> Iterator[tuple[int, str, dict[str, float]]]:
    """Stream ``(index, arch string, columns)`` from a NATS ``-simple`` directory, one file at a time."""
    directory = Path(directory)
    meta_path = next((directory / n for n in ("meta.pickle.pbz2", "meta.pickle") if (directory / n).is_file()), None)
    if meta_path is None:
        raise FormatError(directory, "no meta.pickle.pbz2: not a NATS-Bench -simple directory")
    meta = load_pickle(meta_path)
    if not isinstance(meta, Mapping) or "meta_archs" not in meta:
        raise FormatError(meta_path, "meta pickle lacks meta_archs")
    meta_archs = _check_archs(meta["meta_archs"], meta_path)
    files = [_arch_file(directory, i) for i in range(len(meta_archs))]
    missing = [i for i, f in enumerate(files) if f is None]
    if missing:
        raise FormatError(directory, f"{len(missing)} of {len(meta_archs)} architecture files are missing "
                          f"(e.g. {missing[0]:06d}.pickle.pbz2): incomplete download or extraction")
    for idx, file in enumerate(files):
        data = load_pickle(file)
        if not isinstance(data, Mapping):
            raise FormatError(file, "architecture file is not a dict of hp -> ArchResults", record=idx)
        yield idx, meta_archs[idx], rows_from_arch_results(data, f"architecture {idx}", file)


def _from_nats_dir(directory: Path) -> Table:
    index, archs, rows = [], [], []
    for idx, arch, row in iter_nats_dir(directory):
        index.append(idx)
        archs.append(arch)
        rows.append(row)
    return _table(index, archs, rows, str(directory), "nats-simple-dir")


def _scalar(value: Any) -> float:
    if isinstance(value, (list, tuple, np.ndarray)):
        return _mean(list(value))
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _from_naslib(data: Mapping, path) -> Table:
    archs, rows = [], []
    for record, (arch, by_dataset) in enumerate(data.items()):
        if not isinstance(arch, str) or not arch.startswith("|") or not isinstance(by_dataset, Mapping):
            raise FormatError(path, f"key {arch!r:.60} is not an NB201 arch string mapping to data sets",
                              record=record)
        row = dict.fromkeys(NB201_COLUMNS, math.nan)
        for dataset, metrics in by_dataset.items():
            group = _NASLIB_GROUP.get(dataset)
            if group is None or not isinstance(metrics, Mapping):
                continue
            if dataset == "cifar10" and "cifar10-valid" in by_dataset:
                continue  # NASLib queries CIFAR-10 through cifar10-valid
            for split, field in (("train", "train_acc1es"), ("valid", "eval_acc1es")):
                curve = metrics.get(field)
                if curve is not None:
                    if not isinstance(curve, (list, tuple, np.ndarray)) or len(curve) == 0:
                        raise FormatError(path, f"{arch}/{dataset}/{field} is not a per-epoch list", record=record)
                    row[f"{group}_{split}_200ep"] = float(curve[-1])
            for column, field in (("params", "params"), ("flops", "flop"), ("latency", "latency")):
                if field in metrics:
                    row[f"{group}_{column}"] = _scalar(metrics[field])
        archs.append(arch)
        rows.append(row)
    if not rows:
        raise FormatError(path, "no architectures")
    return _table([-1] * len(rows), archs, rows, str(path), "naslib-nb201-pickle")


def read_nb201(source: str | os.PathLike) -> Table:
    """Read any supported NB201 file or NATS ``-simple`` directory into a table.

    The whole source is read before anything is returned, so a bad file raises
    :class:`FormatError` and leaves nothing behind.
    """
    source = Path(source)
    if source.is_dir():
        return _from_nats_dir(source)
    if not source.is_file():
        raise FormatError(source, "no such file or directory")
    data = load_pickle(source)
    if isinstance(data, Mapping) and "arch2infos" in data:
        return _from_benchmark_dict(data, source)
    if isinstance(data, Mapping) and data and all(isinstance(k, str) and k.startswith("|") for k in data):
        return _from_naslib(data, source)
    return _from_benchmark_dict(data, source)  # raises with the layout it expected
