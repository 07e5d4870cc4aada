"""DARTS / NAS-Bench-301-style table: 725 cells on CIFAR-10 with zero-cost proxy scores.

File (under ``<data_dir>/nb301/``): ``nb301_725_valid_acc.json`` =
``{"cifar10": {KEY: {"val_accuracy", "flops", "params", <proxy>: {"score", "time"}, ...}}}`` where
KEY is the compact genotype string ``"[[(in, op) x 8 normal], [(in, op) x 8 reduce]]"`` (see
:mod:`gnnnas.spaces.darts`). Rows keep the file's order. Without the file, the same table
shipped in the package is read (:mod:`gnnnas.data.embedded`).
"""

from __future__ import annotations

import json
import os

import numpy as np

from gnnnas.data.benchmark import Benchmark, check_metric, register_benchmark
from gnnnas.data.embedded import EMBEDDED, decode_keyed_json
from gnnnas.data.paths import locate
from gnnnas.spaces.darts import DartsSpace

__all__ = ["DARTS_METRICS", "load_darts"]

_FILE = "nb301/nb301_725_valid_acc.json"
_HOW = (
    "download zc_nasbench301.json from GitHub automl/NASLib (naslib/data/zc_nasbench301.json, "
    "commit 6639fd15) and save it as <data_dir>/nb301/nb301_725_valid_acc.json"
)
DARTS_METRICS: tuple[str, ...] = ("val_accuracy",)
_NOT_PROXIES = ("idx", "arch", "val_accuracy", "flops", "params")


@register_benchmark("darts")
def load_darts(
    metric: str | None = None,
    data_dir: str | os.PathLike | None = None,
    embedded: bool | None = None,
) -> Benchmark:
    """The 725 DARTS cells of ``nb301_725_valid_acc.json`` (CIFAR-10), label ``val_accuracy``.

    Extra columns: ``params`` and ``flops`` as absolute counts (the file stores millions), and
    ``zc_<proxy>`` for every zero-cost proxy of the file (synflow, snip, jacov, nwot, grasp,
    fisher, grad_norm, epe_nas, plain, l2_norm). ``encodings`` are the compact nested tuples that
    ``space.format`` returns; ``gnnnas.spaces.darts.format_key`` gives the file's key strings.

    The file is looked up in ``data_dir``, ``$GNNNAS_DATA``, ``~/.cache/gnnnas``, else the
    table shipped in the package is read (``embedded=False`` forbids that, ``True`` forces it;
    ``source`` says which was read).
    """
    metric = check_metric("darts", metric, DARTS_METRICS, "val_accuracy")
    where = locate(_FILE, data_dir, embedded, _HOW)
    path = where if where == EMBEDDED else where / _FILE
    if where == EMBEDDED:
        table = decode_keyed_json(_FILE)
    else:
        with open(path) as handle:
            table = json.load(handle)
    if "cifar10" not in table:
        raise ValueError(f"{path}: expected a top-level 'cifar10' entry, got {sorted(table)}")
    table = table["cifar10"]
    space = DartsSpace()
    archs = [space.parse(key) for key in table]
    records = list(table.values())
    y = np.array([float(r[metric]) for r in records])
    extra: dict[str, np.ndarray] = {
        "params": np.array([round(r["params"]["score"] * 1e6) for r in records], dtype=np.float64),
        "flops": np.array([round(r["flops"]["score"] * 1e6) for r in records], dtype=np.float64),
    }
    proxies = [k for k in records[0] if k not in _NOT_PROXIES] if records else []
    for proxy in proxies:
        extra[f"zc_{proxy}"] = np.array(
            [float(r[proxy]["score"]) if r.get(proxy) is not None else np.nan for r in records]
        )
    return Benchmark(
        name="darts",
        space=space,
        metric=metric,
        archs=archs,
        y=y,
        encodings=[space.format(a) for a in archs],
        extra=extra,
        metrics=DARTS_METRICS,
        source=str(where),
    )
