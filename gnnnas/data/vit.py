"""AutoFormer-Ti vision-transformer subnets: 200 architectures, several fine-tuning accuracies.

Files (under ``<data_dir>/vit/``): ``autoformer_ti_100a.json`` and ``autoformer_ti_100b.json``,
each a list of ``{"arch": {hidden_dim, depth, mlp_ratio[], num_heads[]}, <accuracy columns>}``.
Rows: file a then file b, each in file order. In file b the ``*_base_acc`` columns are null.
Without the files, the same table shipped in the package is read (:mod:`gnnnas.data.embedded`).
"""

from __future__ import annotations

import json
import os

import numpy as np

from gnnnas.data.benchmark import Benchmark, check_metric, register_benchmark
from gnnnas.data.embedded import EMBEDDED, decode_vit
from gnnnas.data.paths import locate, require_file
from gnnnas.spaces.vit import ViTSpace

__all__ = ["VIT_METRICS", "load_vit"]

_FILES = ("vit/autoformer_ti_100a.json", "vit/autoformer_ti_100b.json")
_HOW = (
    "the AutoFormer-Ti tables come from GitHub lliai/Auto-Prox-AAAI24 (gt_results/gt_autoformer.pth "
    "-> autoformer_ti_100a.json, gt_results/gt_autoformer_2.pth -> autoformer_ti_100b.json), "
    "re-saved as JSON lists of {'arch': ..., <accuracies>}; put both under <data_dir>/vit/"
)
VIT_METRICS: tuple[str, ...] = (
    "c100_kd_acc",
    "c100_base_acc",
    "flower_kd_acc",
    "flower_base_acc",
    "chaoyang_kd_acc",
    "chaoyang_base_acc",
    "imagenet_super_acc",
)


def _number(value) -> float:
    return np.nan if value is None else float(value)


@register_benchmark("vit")
def load_vit(
    metric: str | None = None,
    data_dir: str | os.PathLike | None = None,
    embedded: bool | None = None,
) -> Benchmark:
    """AutoFormer-Ti subnets with label ``metric`` (default ``c100_kd_acc``, CIFAR-100 with distillation).

    Metrics: every accuracy column (:data:`VIT_METRICS`). Rows whose label is null for the
    requested metric are dropped: all 200 subnets for the ``*_kd_acc`` columns and
    ``imagenet_super_acc``, the 100 subnets of file a for the ``*_base_acc`` columns. Extra
    columns: every other accuracy (NaN where null), ``params`` and ``flops`` of the subnet
    (computed by :class:`~gnnnas.spaces.vit.ViTSpace`, 1000-class ImageNet head, 224x224 input)
    and ``source`` (0 = file a, 1 = file b).

    The files are looked up in ``data_dir``, ``$GNNNAS_DATA``, ``~/.cache/gnnnas`` (both from the
    directory holding file a), else the table shipped in the package is read (``embedded=False``
    forbids that, ``True`` forces it; the attribute ``Benchmark.source`` says which was read).
    """
    metric = check_metric("vit", metric, VIT_METRICS, "c100_kd_acc")
    where = locate(_FILES[0], data_dir, embedded, _HOW)
    rows = []
    shipped = decode_vit() if where == EMBEDDED else None
    for source, relative in enumerate(_FILES):
        if shipped is not None:
            records = shipped[source]
        else:
            with open(require_file(relative, where, _HOW)) as handle:
                records = json.load(handle)
        if not isinstance(records, list):
            raise ValueError(f"{relative}: expected a JSON list of records, got {type(records).__name__}")
        rows.extend((source, r) for r in records)
    rows = [(s, r) for s, r in rows if r.get(metric) is not None]
    space = ViTSpace()
    archs = [space.parse(r["arch"]) for _, r in rows]
    extra: dict[str, np.ndarray] = {
        name: np.array([_number(r.get(name)) for _, r in rows]) for name in VIT_METRICS
    }
    extra["params"] = np.array([a.macro["params"] for a in archs])
    extra["flops"] = np.array([a.macro["flops"] for a in archs])
    extra["source"] = np.array([s for s, _ in rows], dtype=np.int64)
    y = extra.pop(metric)
    return Benchmark(
        name="vit",
        space=space,
        metric=metric,
        archs=archs,
        y=y,
        encodings=[space.format(a) for a in archs],
        extra=extra,
        metrics=VIT_METRICS,
        source=str(where),
    )
