"""Evaluation protocols: which benchmark, which labels, which splits (DESIGN.md section 3).

A protocol fixes everything a reported Kendall tau depends on except the model: the benchmark
and label column, the training-set sizes, how a seed turns into a split
(``numpy.random.RandomState(seed).permutation``; the first N rows train), and which rows are
tested (all archs, or all the others; PC201: a fixed half of NB201, the other half the pool).

Protocols that test on the rest split over *distinct* architectures: rows of one architecture
(:meth:`~gnnnas.SearchSpace.identity`) become one row with the mean label
(:meth:`~gnnnas.Benchmark.deduplicated`) before the split, so no test architecture is a
training one and test sizes count distinct architectures. The P201 family tests on all rows,
training rows included, by definition.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from gnnnas.data.benchmark import Benchmark, load_benchmark

__all__ = ["PROTOCOLS", "Protocol", "Split", "get_protocol"]


#: benchmarks whose loaders prefer a converted table when present (see ``gnnnas data convert``)
_CONVERTIBLE = ("nb201", "nb101", "nasbench_graph")


@dataclass(frozen=True)
class Split:
    seed: int
    train: np.ndarray
    test: np.ndarray


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol.

    Attributes:
        name: e.g. ``"P201"``.
        benchmark: ``load_benchmark`` name.
        metric: label column used for training *and* as truth (unless ``truth_metric``).
        train_sizes: the N values of the protocol.
        test_on: ``"all"`` (tau over every arch, training archs included, as in P201) or
            ``"rest"`` (tau over the archs not used for training).
        truth_metric: ground-truth column when training labels are a different (e.g.
            low-fidelity) column.
        description: one line for reports.
        train_pool: when set, the archs of rows ``0 .. train_pool - 1`` (official index order)
            are the training pool and rows ``train_pool ..`` the fixed test set; seed ``r``
            trains on ``RandomState(r).permutation(train_pool)[:N]`` (the PC201 split of
            TA-GATES / FlowerFormer / FGP).
    """

    name: str
    benchmark: str
    metric: str | None
    train_sizes: tuple[int, ...]
    test_on: str = "rest"
    truth_metric: str | None = None
    description: str = ""
    options: dict = field(default_factory=dict)
    train_pool: int | None = None

    def load(self, data_dir: str | os.PathLike | None = None) -> Benchmark:
        """The protocol's benchmark, always from the published tables of the Data section.

        A table converted from official files (``gnnnas data convert``) can hold other cells or
        other repeats, so protocols never read one: their numbers stay comparable.
        """
        options = dict(self.options)
        if self.benchmark in _CONVERTIBLE:
            options.setdefault("converted", False)
        return self.distinct(load_benchmark(self.benchmark, metric=self.metric, data_dir=data_dir, **options))

    def distinct(self, bench: Benchmark) -> Benchmark:
        """The rows this protocol splits: one per architecture when it tests on the rest (a
        fixed-pool protocol keeps the rows, and their official order, as they are)."""
        return bench.deduplicated() if self.test_on == "rest" and self.train_pool is None else bench

    def truth(self, bench: Benchmark) -> np.ndarray:
        return bench.y if self.truth_metric is None else np.asarray(bench.extra[self.truth_metric], dtype=float)

    def resolve_sizes(self, n_total: int) -> tuple[int, ...]:
        """Train sizes as counts (fractions < 1 are taken of the benchmark size)."""
        return tuple(int(round(s * n_total)) if isinstance(s, float) and s < 1 else int(s) for s in self.train_sizes)

    def split(self, n_total: int, train_size: int, seed: int) -> Split:
        if self.train_pool is not None:
            if not self.train_pool < n_total:
                raise ValueError(f"{self.name}: the training pool has {self.train_pool} rows but the benchmark "
                                 f"only {n_total}")
            if not 2 <= train_size <= self.train_pool:
                raise ValueError(f"{self.name}: train size must be in [2, {self.train_pool}], got {train_size}")
            train = np.random.RandomState(seed).permutation(self.train_pool)[:train_size]
            return Split(seed=seed, train=train, test=np.arange(self.train_pool, n_total))
        if not 2 <= train_size < n_total:
            raise ValueError(f"{self.name}: train size must be in [2, {n_total - 1}], got {train_size}")
        perm = np.random.RandomState(seed).permutation(n_total)
        train = perm[:train_size]
        test = np.arange(n_total) if self.test_on == "all" else np.sort(perm[train_size:])
        return Split(seed=seed, train=train, test=test)


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in [
        Protocol(
            "P201", "nb201", "cifar10", (39, 78, 156, 469, 781, 1563), test_on="all",
            description="NB201 CIFAR-10 200-epoch test accuracy; tau over all 15,625 archs",
        ),
        Protocol(
            "P201-C100", "nb201", "cifar100", (39, 78, 156, 469, 781, 1563), test_on="all",
            description="NB201 CIFAR-100 200-epoch test accuracy; tau over all 15,625 archs",
        ),
        Protocol(
            "P201-IN16", "nb201", "imagenet16", (39, 78, 156, 469, 781, 1563), test_on="all",
            description="NB201 ImageNet16-120 200-epoch test accuracy; tau over all 15,625 archs",
        ),
        Protocol(
            "P201-LF", "nb201", "cifar10_valid_12ep", (39, 78, 156, 469, 781, 1563), test_on="all",
            truth_metric="cifar10",
            description="NB201: train on 12-epoch CIFAR-10 valid accuracy, tau vs 200-epoch test over all archs",
        ),
        Protocol(
            # TA-GATES / FlowerFormer / FGP's NB201 split; their label is the cifar10-valid run's
            # test accuracy, ours the CIFAR-10 (train+valid) 200-epoch test accuracy
            "PC201", "nb201", "cifar10", (78, 390, 781), test_on="rest", train_pool=7813,
            description="NB201: train pool = official indices 0..7812, test = 7813..15624 (7,812 archs), "
                        "CIFAR-10 200-epoch test accuracy; run r draws with RandomState(r); 9 runs",
        ),
        Protocol(
            "P101", "nb101", "val_acc_108", (100, 172, 424, 4236), test_on="rest",
            description="NB101 20,001 hash-keyed cells, 108-epoch validation accuracy (one repeat); tau over the rest",
        ),
        Protocol(
            # the 500 rows are 292 distinct cells (one 55 times), so N = 424 no longer fits
            "P101-500", "nb101_500", "val_accuracy", (50, 100, 172), test_on="rest",
            description="NB101 500 NASLib rows = 292 distinct cells, validation accuracy; tau over the rest",
        ),
        Protocol(
            "PDARTS", "darts", "val_accuracy", (100, 200, 400), test_on="rest",
            description="725 DARTS cells (NB301 style), validation accuracy; tau over the rest",
        ),
        Protocol(
            "PVIT", "vit", "c100_kd_acc", (20, 50, 100), test_on="rest",
            description="200 AutoFormer-Ti subnets, CIFAR-100 kd accuracy; tau over the rest",
        ),
    ]
}

#: NAS-Bench-Graph data sets, each its own protocol (1% and 5% of 26,206 archs).
for _dataset in ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv"):
    PROTOCOLS[f"PGRAPH-{_dataset}"] = Protocol(
        f"PGRAPH-{_dataset}", "nasbench_graph", _dataset, (262, 1310), test_on="rest",
        description=f"NAS-Bench-Graph {_dataset} test performance, N = 1% / 5% of 26,206; tau over the rest",
    )

#: Short names accepted by ``gnnnas bench --space``.
DEFAULT_PROTOCOL_OF_SPACE = {
    "nb201": "P201",
    "nb101": "P101",
    "darts": "PDARTS",
    "vit": "PVIT",
    "nasbench_graph": "PGRAPH-cora",
}


def get_protocol(name: str) -> Protocol:
    key = DEFAULT_PROTOCOL_OF_SPACE.get(name, name)
    try:
        return PROTOCOLS[key]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; known: {sorted(PROTOCOLS)}") from None
