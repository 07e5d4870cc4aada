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
CIFAR-100 / ImageNet16-120: ``x-valid``, ``x-test``, ``train``. NaN where a file lacks a value
(v1.0's 12-epoch results cover CIFAR-10-valid only).

Costs: ``<ds>_params`` (M) is the exact parameter count of the cell's network (the space's
``macro["params"]`` with the data set's classes / 1e6, which equals every correct record);
``<ds>_flops`` (M) and ``<ds>_latency`` (s, seed mean) come from the first record, 12-epoch then
200-epoch, whose params equal that count on every seed and whose FLOPs agree across seeds - NaN
when none does. Records that disagree exist: NATS-Bench's hp=200 costs are wrong for some cells
(D-X-Y/NATS-Bench#36, e.g. 0.802426 M on one seed and 0.559386 M on two); each such cell gets a
:class:`CostWarning` naming it and both values. NASLib pickles are checked the same way.

Validation: every architecture string must parse in the NB201 space, appear once, and match
the ``arch_str`` of its results; a bad one raises :class:`FormatError` naming its index.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gnnnas.data.formats.errors import FormatError
from gnnnas.data.formats.safe_pickle import load_pickle
from gnnnas.data.table import Table
from gnnnas.spaces.nb201 import NB201Space

if TYPE_CHECKING:
    from gnnnas.progress import Progress

__all__ = ["NB201_COLUMNS", "CostWarning", "iter_nats_dir", "read_nb201", "rows_from_arch_results"]

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
_SPACE = NB201Space()
#: group -> the space with that data set's classifier (params do not depend on the image size)
_COST_SPACE = {"cifar10": NB201Space(num_classes=10), "cifar100": NB201Space(num_classes=100),
               "imagenet16": NB201Space(num_classes=120)}
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


class CostWarning(UserWarning):
    """A benchmark file's cost record disagrees with the architecture's exact parameter count."""


def _exact_params(arch: str) -> dict[str, float]:
    """Exact parameter count (M) of the cell's network, per data-set group."""
    ops = _SPACE.edge_ops(_SPACE.parse(arch))
    return {group: space.macro_features(ops)["params"] / 1e6 for group, space in _COST_SPACE.items()}


def _params_match(value: Any, exact: float) -> bool:
    """Files store params as count / 1e6; a missing value (None, NaN) does not disagree."""
    if value is None or isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, (int, float, np.number)) and abs(float(value) - exact) < 1e-6


def _warn_costs(wrong: list[str], where: str, arch: str, path) -> None:
    if wrong:
        warnings.warn(f"{f'{path}: ' if path else ''}{where} ({arch}): params in the file disagree with the "
                      f"exact count: {'; '.join(wrong)}; the table uses the exact count, with FLOPs and latency "
                      "from records that agree (NaN if none; D-X-Y/NATS-Bench#36)", CostWarning, stacklevel=2)


def _pick_costs(row: dict, arch: str, by_epochs: dict[int, Mapping], where: str, path) -> None:
    """Fill the cost columns from records that are right; warn about those that are not."""
    exact = _exact_params(arch)
    wrong = []
    for group, dataset in _COST_DATASET.items():
        row[f"{group}_params"] = exact[group]
        chosen = None
        for epochs in sorted(by_epochs):  # 12 first: NATS-Bench's own default for costs
            runs = _runs(by_epochs[epochs], dataset, where, path)
            params = [r.get("params") for r in runs]
            flops = [float(r["flop"]) for r in runs if r.get("flop") is not None]
            if not all(_params_match(p, exact[group]) for p in params):
                seeds = ", ".join(f"{p:.6f}" if isinstance(p, (int, float)) else repr(p) for p in params)
                wrong.append(f"{dataset} hp={epochs} {_mean(params):.6f} M (seeds: {seeds}) vs exact "
                             f"{exact[group]:.6f} M")
            elif chosen is None and runs and np.allclose(flops, flops[:1], rtol=1e-9):
                chosen = runs
        if chosen is not None:
            row[f"{group}_flops"] = _mean([r.get("flop") for r in chosen])
            latencies = [_mean(list(r["latency"])) for r in chosen if r.get("latency")]
            row[f"{group}_latency"] = _mean([v for v in latencies if v > 0])
    _warn_costs(wrong, where, arch, path)


def rows_from_arch_results(results_by_hp: Mapping, where: str, path=None,
                           arch: str | None = None) -> dict[str, float]:
    """One architecture's ``{hp key: ArchResults state dict}`` -> its table columns.

    ``arch`` is its string in ``meta_archs`` (default: the records' ``arch_str``). Raises
    :class:`FormatError` for a layout other than ArchResults state dicts, an arch string the
    space rejects, or records of another architecture; warns (:class:`CostWarning`) when a
    record's params disagree with the exact count (see the module docstring).
    """
    row = dict.fromkeys(NB201_COLUMNS, math.nan)
    by_epochs: dict[int, Mapping] = {}
    arch = None if arch is None else _canonical(arch, where, path)
    try:
        for hp, state in results_by_hp.items():
            epochs = _HP_KEYS.get(str(hp))
            if epochs is None:
                continue
            if not isinstance(state, Mapping) or "all_results" not in state or "dataset_seed" not in state:
                raise FormatError(path, f"{where}, hp {hp!r}: not an ArchResults state dict "
                                  "(needs all_results and dataset_seed)")
            if state.get("arch_str") is not None:
                recorded = _canonical(state["arch_str"], f"{where}, hp {hp!r}", path)
                arch = arch or recorded
                if recorded != arch:
                    raise FormatError(path, f"{where}, hp {hp!r}: results of {recorded}, meta_archs says {arch}")
            for (group, split), (dataset, setname) in _SOURCES.items():
                runs = _runs(state, dataset, where, path)
                row[f"{group}_{split}_{epochs}ep"] = _mean([_final(r, setname) for r in runs])
            by_epochs[epochs] = state
        if arch is None:
            raise FormatError(path, f"{where}: no architecture string (arch_str) for its results")
        _pick_costs(row, arch, by_epochs, where, path)
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


def _canonical(arch: Any, where: str, path, record: int | None = None) -> str:
    """The arch string as the NB201 space formats it; FormatError if the space rejects it."""
    try:
        return _SPACE.format(_SPACE.parse(arch if isinstance(arch, str) else repr(arch)))
    except ValueError as err:
        raise FormatError(path, f"{where}: {arch!r:.80} is not an NB201 architecture ({err})",
                          record=record) from None


def _check_archs(meta_archs: Any, path, what: str = "meta_archs") -> list[str]:
    """Every entry parses in the NB201 space and names a different cell; returns them canonical."""
    if not isinstance(meta_archs, (list, tuple)):
        raise FormatError(path, f"{what} is not a list of architecture strings")
    seen: dict[str, int] = {}
    out = []
    for index, arch in enumerate(meta_archs):
        canonical = _canonical(arch, f"{what}[{index}]", path, index)
        if canonical in seen:
            raise FormatError(path, f"{what}[{index}] repeats the architecture of {what}[{seen[canonical]}] "
                              f"({canonical})", record=index)
        seen[canonical] = index
        out.append(canonical)
    return out


def _from_benchmark_dict(data: Any, path, progress: Progress | None = None) -> Table:
    if not isinstance(data, Mapping) or not {"meta_archs", "arch2infos"} <= set(data):
        raise FormatError(path, "not a NAS-Bench-201/NATS-Bench benchmark dict (needs meta_archs and "
                          "arch2infos); for NASLib pickles the keys are architecture strings")
    meta_archs = _check_archs(data["meta_archs"], path)
    infos = data["arch2infos"]
    if not isinstance(infos, Mapping):
        raise FormatError(path, "arch2infos is not a dict")
    index, archs, rows = [], [], []
    for idx in infos:
        if not isinstance(idx, int) or not 0 <= idx < len(meta_archs):
            raise FormatError(path, f"arch2infos key {idx!r:.40} is not an index into meta_archs")
    if progress is not None:
        progress.set_total(len(infos), unit="arch")
    for idx in sorted(infos):
        if progress is not None and rows and len(rows) % 1000 == 0:
            progress.advance(1000)
        if not isinstance(infos[idx], Mapping):
            raise FormatError(path, f"arch2infos[{idx}] is not a dict", record=idx)
        rows.append(rows_from_arch_results(infos[idx], f"architecture {idx}", path, meta_archs[idx]))
        index.append(idx)
        archs.append(meta_archs[idx])
    if not rows:
        raise FormatError(path, "no evaluated architectures")
    if progress is not None:
        progress.advance(len(rows) - progress.done)
    return _table(index, archs, rows, str(path), "nb201-pth")


def _arch_file(directory: Path, idx: int) -> Path | None:
    for name in (f"{idx:06d}.pickle.pbz2", f"{idx}.pickle.pbz2", f"{idx:06d}.pickle", f"{idx}.pickle"):
        if (directory / name).is_file():
            return directory / name
    return None


def iter_nats_dir(directory: str | os.PathLike,
                  progress: Progress | None = None) -> Iterator[tuple[int, str, dict[str, float]]]:
    """Stream ``(index, arch string, columns)`` from a NATS ``-simple`` directory, one file at a time.

    Raises :class:`FormatError` for missing or bad files and for architecture strings the space
    rejects or lists twice (all checked before the first row); warns as :func:`rows_from_arch_results`.
    ``progress`` (a :class:`gnnnas.progress.Progress`) is told each architecture file read.
    """
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
    if progress is not None:
        progress.set_total(len(files), unit="arch")
    for idx, file in enumerate(files):
        data = load_pickle(file)
        if not isinstance(data, Mapping):
            raise FormatError(file, "architecture file is not a dict of hp -> ArchResults", record=idx)
        yield idx, meta_archs[idx], rows_from_arch_results(data, f"architecture {idx}", file, meta_archs[idx])
        if progress is not None:
            progress.advance()


def _from_nats_dir(directory: Path, progress: Progress | None = None) -> Table:
    index, archs, rows = [], [], []
    for idx, arch, row in iter_nats_dir(directory, progress):
        index.append(idx)
        archs.append(arch)
        rows.append(row)
    return _table(index, archs, rows, str(directory), "nats-simple-dir")


def _scalar(value: Any) -> float:
    try:
        return _mean(list(value)) if isinstance(value, (list, tuple, np.ndarray)) else float(value)
    except (TypeError, ValueError):
        return math.nan


def _from_naslib(data: Mapping, path, progress: Progress | None = None) -> Table:
    archs = _check_archs(list(data), path, "key")
    rows = []
    if progress is not None:
        progress.set_total(len(archs), unit="arch")
    for record, (arch, by_dataset) in enumerate(zip(archs, data.values())):
        if progress is not None and record and record % 1000 == 0:
            progress.advance(1000)
        if not isinstance(by_dataset, Mapping):
            raise FormatError(path, f"{arch} does not map to data sets", record=record)
        exact = _exact_params(arch)
        row = dict.fromkeys(NB201_COLUMNS, math.nan)
        row.update({f"{g}_params": exact[g] for g in GROUPS})
        wrong = []
        for dataset, metrics in by_dataset.items():
            group = _NASLIB_GROUP.get(dataset) if isinstance(dataset, str) else None
            if group is None or not isinstance(metrics, Mapping):
                continue
            if dataset == "cifar10" and "cifar10-valid" in by_dataset:
                continue  # NASLib queries CIFAR-10 through cifar10-valid
            for split, field in (("train", "train_acc1es"), ("valid", "eval_acc1es")):
                curve = metrics.get(field)
                if curve is not None:
                    if not isinstance(curve, (list, tuple, np.ndarray)) or len(curve) == 0 \
                            or isinstance(curve[-1], (list, tuple, np.ndarray, Mapping)):
                        raise FormatError(path, f"{arch}/{dataset}/{field} is not a per-epoch list", record=record)
                    row[f"{group}_{split}_200ep"] = _scalar(curve[-1])
            params = _scalar(metrics["params"]) if "params" in metrics else None
            if not _params_match(params, exact[group]):
                wrong.append(f"{dataset} {params:.6f} M vs exact {exact[group]:.6f} M")
                continue
            for column, field in (("flops", "flop"), ("latency", "latency")):
                if field in metrics:
                    row[f"{group}_{column}"] = _scalar(metrics[field])
        _warn_costs(wrong, f"record {record}", arch, path)
        rows.append(row)
    if not rows:
        raise FormatError(path, "no architectures")
    if progress is not None:
        progress.advance(len(rows) - progress.done)
    return _table([-1] * len(rows), archs, rows, str(path), "naslib-nb201-pickle")


def read_nb201(source: str | os.PathLike, progress: Progress | None = None) -> Table:
    """Read any supported NB201 file or NATS ``-simple`` directory into a table.

    The whole source is read before anything is returned, so a bad file - truncated, out of
    layout, or with architecture strings the space rejects or lists twice - raises
    :class:`FormatError` and leaves nothing behind. Cost records that disagree with the exact
    parameter count give a :class:`CostWarning` (module docstring). ``progress`` (a
    :class:`gnnnas.progress.Progress`) is told the architectures read, once the file is loaded.
    """
    source = Path(source)
    if source.is_dir():
        return _from_nats_dir(source, progress)
    if not source.is_file():
        raise FormatError(source, "no such file or directory")
    data = load_pickle(source)
    if isinstance(data, Mapping) and "arch2infos" in data:
        return _from_benchmark_dict(data, source, progress)
    if isinstance(data, Mapping) and data and all(isinstance(k, str) and k.startswith("|") for k in data):
        return _from_naslib(data, source, progress)
    return _from_benchmark_dict(data, source)  # raises with the layout it expected
