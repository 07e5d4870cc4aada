"""The :class:`Benchmark` table (archs + labels) and the ``load_benchmark`` registry."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gnnnas.graph import ArchGraph
from gnnnas.spaces.base import SearchSpace

__all__ = ["Benchmark", "list_benchmarks", "load_benchmark", "register_benchmark"]


@dataclass
class Benchmark:
    """Architectures of one benchmark with one label column.

    Attributes:
        name: benchmark name (``load_benchmark`` key).
        space: the search space the archs belong to.
        metric: name of the label column in ``y``.
        archs: one ArchGraph per row.
        y: labels, float array aligned with ``archs``.
        encodings: native encoding of every row (what ``space.format`` gives back).
        extra: further per-row columns (params, FLOPs, other accuracies, zero-cost scores...),
            float arrays aligned with ``archs``; NaN where a row has no value.
        metrics: every metric name this benchmark accepts.
        source: where the rows were read: the data directory or converted table (a path),
            ``"embedded"`` for the tables shipped in the package (:mod:`gnnnas.data.embedded`),
            ``None`` for a benchmark built in memory.
    """

    name: str
    space: SearchSpace
    metric: str
    archs: list[ArchGraph]
    y: np.ndarray
    encodings: list[Any]
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    source: str | None = None

    def __post_init__(self) -> None:
        n = len(self.archs)
        self.y = np.asarray(self.y, dtype=np.float64)
        if self.y.shape != (n,) or len(self.encodings) != n:
            raise ValueError(
                f"benchmark {self.name!r}: {n} archs, {self.y.shape} labels, {len(self.encodings)} encodings"
            )
        for key, column in self.extra.items():
            column = np.asarray(column)
            if column.shape[0] != n:
                raise ValueError(f"benchmark {self.name!r}: extra column {key!r} has {column.shape[0]} rows, not {n}")
            self.extra[key] = column

    def __len__(self) -> int:
        return len(self.archs)

    def column(self, name: str, default: float = np.nan) -> np.ndarray:
        """The per-row column ``name``: ``y`` for the benchmark's metric, else ``extra[name]``.

        A column the loaded files do not provide (e.g. ``zc_nwot`` when the optional zero-cost
        file is absent) comes back as ``len(self)`` rows of ``default`` (NaN) instead of raising,
        so code written for the full data also runs on less; ``name in bench.extra`` tells
        whether the column was read. The array returned is the stored one when present (not a
        copy).
        """
        if name == self.metric:
            return self.y
        column = self.extra.get(name)
        if column is None:
            return np.full(len(self), default, dtype=np.float64)
        return column

    def identities(self) -> list[str]:
        """The space's identity of every row (:meth:`~gnnnas.SearchSpace.identity`), cached."""
        cached = self.__dict__.get("_identities")
        if cached is None or len(cached) != len(self):
            cached = [self.space.identity(arch) for arch in self.archs]
            self.__dict__["_identities"] = cached
        return cached

    def deduplicated(self) -> Benchmark:
        """One row per architecture: rows with one identity become one row.

        The row keeps the first occurrence's arch and encoding; ``y`` and every 1-D float extra
        column take the mean over the group's rows (NaN rows ignored; NaN when all are NaN);
        other columns (integer ids, categories, strings) keep the first occurrence's value.
        ``self`` is returned when every row is distinct. Example: NASLib's 500 NB101 cells are
        292 cells (one of them 55 times), so a split of the 500 rows puts training cells in
        the test set.
        """
        keys = self.identities()
        _, rows, group = np.unique(keys, return_index=True, return_inverse=True)
        if len(rows) == len(self):
            return self
        order = np.argsort(rows)  # groups in order of first occurrence
        rows, group = rows[order], np.argsort(order)[group.ravel()]

        def mean(column: np.ndarray) -> np.ndarray:
            valid = ~np.isnan(column)
            total = np.bincount(group, np.where(valid, column, 0.0), minlength=len(rows))
            count = np.bincount(group, valid.astype(np.float64), minlength=len(rows))
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(count > 0, total / np.maximum(count, 1), np.nan)

        # float columns are measurements (averaged); ids, categories and strings keep the first row
        extra = {
            k: mean(v) if v.ndim == 1 and np.issubdtype(v.dtype, np.floating) else v[rows]
            for k, v in self.extra.items()
        }
        out = Benchmark(
            name=self.name,
            space=self.space,
            metric=self.metric,
            archs=[self.archs[i] for i in rows],
            y=mean(self.y),
            encodings=[self.encodings[i] for i in rows],
            extra=extra,
            metrics=self.metrics,
            source=self.source,
        )
        out.__dict__["_identities"] = [keys[i] for i in rows]
        return out

    def subset(self, index) -> Benchmark:
        """Rows ``index`` (array of positions or boolean mask) as a new Benchmark."""
        idx = np.arange(len(self))[np.asarray(index)]
        return Benchmark(
            name=self.name,
            space=self.space,
            metric=self.metric,
            archs=[self.archs[i] for i in idx],
            y=self.y[idx],
            encodings=[self.encodings[i] for i in idx],
            extra={k: v[idx] for k, v in self.extra.items()},
            metrics=self.metrics,
            source=self.source,
        )

    def __repr__(self) -> str:
        return f"Benchmark({self.name!r}, metric={self.metric!r}, {len(self)} archs)"


Loader = Callable[..., Benchmark]
_LOADERS: dict[str, Loader] = {}


def register_benchmark(name: str) -> Callable[[Loader], Loader]:
    """Decorator registering ``loader(metric=None, data_dir=None, **options) -> Benchmark``."""

    def decorator(loader: Loader) -> Loader:
        if name in _LOADERS and _LOADERS[name] is not loader:
            raise ValueError(f"benchmark {name!r} is already registered")
        _LOADERS[name] = loader
        return loader

    return decorator


def list_benchmarks() -> list[str]:
    return sorted(_LOADERS)


def load_benchmark(
    name: str,
    metric: str | None = None,
    data_dir: str | os.PathLike | None = None,
    **options: Any,
) -> Benchmark:
    """Load benchmark ``name`` with label column ``metric`` (``None``: the benchmark's default).

    The file is looked up in ``data_dir``, ``$GNNNAS_DATA`` and ``~/.cache/gnnnas``, in that
    order; when none holds it, the table shipped in the package is read (NB201, NB101,
    ``nb101_500``, ``darts``, ``vit``; ``embedded=False`` forbids that, ``embedded=True`` forces
    it). ``Benchmark.source`` says which was read. A missing file raises
    :class:`~gnnnas.data.MissingDataError` naming the file and where to get it.
    """
    try:
        loader = _LOADERS[name]
    except KeyError:
        raise ValueError(f"unknown benchmark {name!r}; available: {list_benchmarks()}") from None
    return loader(metric=metric, data_dir=data_dir, **options)


def check_metric(name: str, metric: str | None, metrics: tuple[str, ...], default: str) -> str:
    """Validate ``metric`` against the benchmark's list (``None`` -> ``default``)."""
    if metric is None:
        return default
    if metric not in metrics:
        raise ValueError(f"benchmark {name!r} has no metric {metric!r}; choose from {list(metrics)}")
    return metric
