"""Small (or benchmark-sized) files in each official layout, written the way the originals are.

For tests and ``benchmarks/data_convert.py`` only: values are random, layouts follow the
format notes of :mod:`.nb201`, :mod:`.nb101` and :mod:`.nasbench_graph`. Each writer returns the
Python object it serialized, so a test can compute the expected table on its own.
"""

from __future__ import annotations

import base64
import bz2
import hashlib
import itertools
import json
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gnnnas.data.formats.protobuf import encode_model_metrics
from gnnnas.data.formats.tfrecord import write_records
from gnnnas.spaces.nb201 import NB201Space

__all__ = [
    "NB201_OPS",
    "nb101_records",
    "nb201_arch_strings",
    "nb201_benchmark_dict",
    "nb201_costs",
    "write_naslib_nb201",
    "write_nats_dir",
    "write_nb101_pickle",
    "write_nb101_tfrecord",
    "write_nb201_pth",
    "write_nbg_full",
    "write_nbg_light",
]

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NB201_DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
_NB201_SPACES = {d: NB201Space(num_classes=n) for d, n in
                 (("cifar10-valid", 10), ("cifar10", 10), ("cifar100", 100), ("ImageNet16-120", 120))}
_EVAL_SETS = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("x-valid", "x-test", "ori-test"),
    "ImageNet16-120": ("x-valid", "x-test", "ori-test"),
}


def nb201_arch_strings(n: int) -> list[str]:
    """The first ``n`` NB201 cells (edges 1<-0 | 2<-0,1 | 3<-0,1,2) in product order."""
    out = []
    for ops in itertools.islice(itertools.product(NB201_OPS, repeat=6), n):
        out.append("|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops))
    return out


def nb201_costs(arch: str, rng) -> dict[str, tuple[float, float]]:
    """dataset -> (params, FLOPs) in M, as a correct record holds them: the exact parameter count
    of the cell's network (``NB201Space(num_classes=...)``), FLOPs random but one value per data set."""
    ops = _NB201_SPACES["cifar10"].edge_ops(_NB201_SPACES["cifar10"].parse(arch))
    return {d: (space.macro_features(ops)["params"] / 1e6, float(rng.uniform(10, 200)))
            for d, space in _NB201_SPACES.items()}


def _results_count(rng, dataset: str, seed: int, epochs: int, stored_epochs: int | None,
                   costs: tuple[float, float]) -> dict:
    kept = range(epochs) if stored_epochs is None else range(max(0, epochs - stored_epochs), epochs)
    acc = {e: float(rng.uniform(10, 100)) for e in kept}
    evals = {f"{name}@{e}": float(rng.uniform(10, 100)) for name in _EVAL_SETS[dataset] for e in kept}
    return {
        "name": dataset, "net_state_dict": None, "train_acc1es": acc, "train_acc5es": None,
        "train_losses": {e: float(rng.uniform(0, 3)) for e in kept}, "train_times": None,
        "arch_config": {"name": "infer.tiny", "C": 16, "N": 5}, "params": costs[0],
        "flop": costs[1], "seed": seed, "epochs": epochs,
        "latency": [float(rng.uniform(0.005, 0.03))],
        "eval_names": list(_EVAL_SETS[dataset]), "eval_acc1es": evals,
        "eval_times": {k: 1.0 for k in evals}, "eval_losses": {k: float(rng.uniform(0, 3)) for k in evals},
    }


def _arch_results(rng, index: int, arch: str, epochs: int, seeds: tuple[int, ...],
                  costs: dict[str, tuple[float, float]], stored_epochs: int | None) -> dict:
    all_results = {}
    dataset_seed = {}
    for dataset in NB201_DATASETS:
        dataset_seed[dataset] = list(seeds)
        for seed in seeds:
            all_results[(dataset, seed)] = _results_count(rng, dataset, seed, epochs, stored_epochs, costs[dataset])
    return {"arch_index": index, "arch_str": arch, "all_results": all_results,
            "dataset_seed": dataset_seed, "clear_net_done": True}


def nb201_benchmark_dict(n_archs: int, seed: int = 0, hp_keys: tuple[str, str] = ("less", "full"),
                         seeds: tuple[int, ...] = (777, 888), stored_epochs: int | None = None) -> dict:
    """A NAS-Bench-201 ``.pth`` style dict (``hp_keys`` = ("12", "200") gives NATS layout).

    Costs are those of correct records (:func:`nb201_costs`); ``stored_epochs`` keeps only the
    last epochs of each curve (smaller benchmark files).
    """
    rng = np.random.default_rng(seed)
    archs = nb201_arch_strings(n_archs)
    infos = {}
    for idx, arch in enumerate(archs):
        costs = nb201_costs(arch, rng)
        infos[idx] = {
            hp_keys[0]: _arch_results(rng, idx, arch, 12, seeds, costs, stored_epochs),
            hp_keys[1]: _arch_results(rng, idx, arch, 200, seeds, costs, stored_epochs),
        }
    return {"meta_archs": archs, "arch2infos": infos, "evaluated_indexes": list(range(n_archs)),
            "total_archs": n_archs}


def write_nb201_pth(path: str | os.PathLike, data: dict, how: str = "zip") -> dict:
    """Save ``data`` like ``torch.save`` (``how`` = "zip" or "legacy"), or as a plain pickle ("pickle")."""
    if how == "pickle":
        with open(path, "wb") as handle:
            pickle.dump(data, handle, protocol=2)
        return data
    import torch

    torch.save(data, path, _use_new_zipfile_serialization=(how == "zip"))
    return data


def write_nats_dir(directory: str | os.PathLike, data: dict) -> dict:
    """A NATS ``-simple`` directory: ``meta.pickle.pbz2`` + ``{index:06d}.pickle.pbz2`` per arch."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with bz2.BZ2File(directory / "meta.pickle.pbz2", "wb") as handle:
        pickle.dump({"meta_archs": data["meta_archs"]}, handle, protocol=4)
    for idx, by_hp in data["arch2infos"].items():
        with bz2.BZ2File(directory / f"{idx:06d}.pickle.pbz2", "wb") as handle:
            pickle.dump(by_hp, handle, protocol=4)
    return data


def write_naslib_nb201(path: str | os.PathLike, n_archs: int, seed: int = 0, epochs: int = 200) -> dict:
    """A NASLib ``nb201_*_full_training.pickle`` style dict: arch -> data set -> per-epoch lists."""
    rng = np.random.default_rng(seed)
    data = {}
    for arch in nb201_arch_strings(n_archs):
        costs = nb201_costs(arch, rng)
        data[arch] = {
            dataset: {
                "train_acc1es": rng.uniform(10, 100, epochs).tolist(),
                "eval_acc1es": rng.uniform(10, 100, epochs).tolist(),
                "train_losses": rng.uniform(0, 3, epochs).tolist(),
                "eval_losses": rng.uniform(0, 3, epochs).tolist(),
                "params": costs[dataset][0], "flop": costs[dataset][1],
                "latency": float(rng.uniform(0.005, 0.03)), "epochs": epochs,
            }
            for dataset in ("cifar10-valid", "cifar100", "ImageNet16-120")
        }
    with open(path, "wb") as handle:
        pickle.dump(data, handle, protocol=4)
    return data


_NB101_INTERIOR = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")


def _nb101_cell(rng) -> tuple[np.ndarray, list[str]]:
    """A valid NB101 cell: a chain input -> ... -> output plus random extra edges, <= 9 edges."""
    n = int(rng.integers(3, 8))
    matrix = np.zeros((n, n), dtype=np.int8)
    for v in range(1, n):
        matrix[v - 1, v] = 1
    free = [(i, j) for i in range(n) for j in range(i + 2, n)]
    extra = int(rng.integers(0, min(len(free), 9 - (n - 1)) + 1))
    for k in rng.permutation(len(free))[:extra]:
        matrix[free[k]] = 1
    ops = ["input"] + [str(rng.choice(_NB101_INTERIOR)) for _ in range(n - 2)] + ["output"]
    return matrix, ops


def nb101_records(n_cells: int, budgets: tuple[int, ...] = (108,), repeats: int = 3,
                  seed: int = 0) -> Iterator[tuple[bytes, dict]]:
    """Yield ``(record bytes, what it encodes)`` in the official NB101 record layout."""
    rng = np.random.default_rng(seed)
    for cell in range(n_cells):
        matrix, ops = _nb101_cell(rng)  # unique hash per cell (not the official graph hash)
        module_hash = hashlib.md5(f"{seed}:{cell}:".encode() + matrix.tobytes() + ",".join(ops).encode()).hexdigest()
        params = int(rng.integers(100_000, 50_000_000))
        for budget in budgets:
            for _ in range(repeats):
                final = {"current_epoch": float(budget), "training_time": float(rng.uniform(100, 5000)),
                         "train_accuracy": float(rng.uniform(0.1, 1)),
                         "validation_accuracy": float(rng.uniform(0.1, 1)),
                         "test_accuracy": float(rng.uniform(0.1, 1))}
                halfway = {**final, "current_epoch": budget / 2}
                start = {"current_epoch": 0.0, "training_time": 0.0, "train_accuracy": 0.1,
                         "validation_accuracy": 0.1, "test_accuracy": 0.1}
                metrics = encode_model_metrics([start, halfway, final], params, final["training_time"] + 10)
                adjacency = "".join(str(int(v)) for v in matrix.reshape(-1))
                record = [module_hash, budget, adjacency, ",".join(ops), base64.b64encode(metrics).decode("ascii")]
                yield json.dumps(record).encode("utf-8"), {
                    "hash": module_hash, "budget": budget, "matrix": matrix, "ops": ops,
                    "params": params, "final": final,
                }


def write_nb101_tfrecord(path: str | os.PathLike, n_cells: int, budgets: tuple[int, ...] = (108,),
                         repeats: int = 3, seed: int = 0, keep: bool = True) -> list[dict]:
    """Write a TFRecord in the official NB101 layout; returns what each record encodes (if ``keep``)."""
    kept: list[dict] = []

    def records():
        for data, info in nb101_records(n_cells, budgets, repeats, seed):
            if keep:
                kept.append(info)
            yield data

    write_records(path, records())
    return kept


def write_nb101_pickle(path: str | os.PathLike, n_cells: int, budgets: tuple[int, ...] = (4, 108),
                       repeats: int = 2, seed: int = 0) -> dict:
    """hash -> (fixed stats, computed stats), as ``NASBench.get_metrics_from_hash`` returns them."""
    data: dict[str, Any] = {}
    for _, info in nb101_records(n_cells, budgets, repeats, seed):
        _fixed, computed = data.setdefault(info["hash"], ({
            "module_adjacency": info["matrix"], "module_operations": info["ops"],
            "trainable_parameters": info["params"]}, {}))
        final = info["final"]
        computed.setdefault(info["budget"], []).append({
            "final_training_time": final["training_time"], "final_train_accuracy": final["train_accuracy"],
            "final_validation_accuracy": final["validation_accuracy"],
            "final_test_accuracy": final["test_accuracy"]})
    with open(path, "wb") as handle:
        pickle.dump(data, handle, protocol=4)
    return data


def write_nbg_light(path: str | os.PathLike, keys: list[int], seed: int = 0) -> dict:
    """A NAS-Bench-Graph light file: key -> {valid_perf, perf, latency, para (numpy float64)}."""
    rng = np.random.default_rng(seed)
    data = {int(k): {"valid_perf": float(rng.uniform(0.2, 0.9)), "perf": float(rng.uniform(0.2, 0.9)),
                     "latency": float(rng.uniform(0.001, 0.05)), "para": np.float64(rng.uniform(0.01, 2))}
            for k in keys}
    with open(path, "wb") as handle:
        pickle.dump(data, handle, protocol=3)
    return data


def write_nbg_full(path: str | os.PathLike, keys: list[int], epochs: int = 20, seed: int = 0) -> dict:
    """A NAS-Bench-Graph full file: key -> {"dur": per epoch [train, valid, test perf, 3 losses, best]}."""
    rng = np.random.default_rng(seed)
    data = {}
    for k in keys:
        perf = rng.uniform(0.1, 0.9, (epochs, 3))
        losses = rng.uniform(0, 2, (epochs, 3))
        best = np.maximum.accumulate(perf[:, 2:3])
        data[int(k)] = {"dur": np.concatenate([perf, losses, best], axis=1).tolist()}
    with open(path, "wb") as handle:
        pickle.dump(data, handle, protocol=4)
    return data
