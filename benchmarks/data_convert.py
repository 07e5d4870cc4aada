"""Memory and speed of ``gnnnas data convert`` and of loading the compact tables.

    python benchmarks/data_convert.py [--records 100000] [--nb201-archs 15625]

Protocol (writes benchmarks/results/data_convert.{json,md}):

1. A synthetic NAS-Bench-101 TFRecord in the official layout (JSON records with base64
   ModelMetrics, CRC-framed; 3 repeats of budget 108 per cell, like ``nasbench_only108``) of
   about ``--records`` records is written to a temporary directory.
2. Each measurement runs in a fresh Python process (``--child``): it imports gnnnas, records
   its resident set size (RSS, from /proc via ``resource``/``psutil``), runs the task once and
   reports wall time and peak RSS growth = ``ru_maxrss`` after the task - RSS before it.
   Tasks: NB101 conversion with CRC checks, and without (``--no-crc``); the same number of
   cells with all four budgets (``nasbench_full`` layout, 4x the records and bytes) - if the
   reader streams, peak memory stays the same while the file grows 4x; conversion of a
   synthetic NB201 ``.pth`` (legacy ``torch.save`` format, ``--nb201-archs`` archs x
   {12, 200} epochs x 4 data sets x 2 seeds, curves truncated to the last epoch, so far
   smaller than the official 4.7 GB file); load of the converted NB201 table
   (``read_table``) and of the full benchmark (``load_benchmark('nb201')``: table + parsing every
   arch), against the CSV route (``load_benchmark`` on the shipped CSVs, when $GNNNAS_DATA
   has them). Load timings: best of 3 in the same process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(task: str, source: str, data_dir: str) -> dict:
    import gnnnas
    from gnnnas.data import convert as convert_module
    from gnnnas.data.convert import convert
    from gnnnas.data.table import read_table

    commit = convert_module.replace_table
    commit_seconds = []

    def timed_commit(*args, **kwargs):  # the table + manifest transaction (lock ... manifest rewrite)
        t = time.perf_counter()
        try:
            return commit(*args, **kwargs)
        finally:
            commit_seconds.append(time.perf_counter() - t)

    convert_module.replace_table = timed_commit
    base = _rss_mib()
    start = time.perf_counter()
    out: dict = {"task": task}
    if task in ("nb101", "nb101-nocrc", "nb101-full", "nb101-again"):
        result = convert(source, "nb101", data_dir=data_dir, check_crc=task in ("nb101", "nb101-again"))
        out["rows"] = len(result.table)
    elif task == "nb201":
        result = convert(source, "nb201", data_dir=data_dir)
        out["rows"] = len(result.table)
    elif task == "nb201-load":
        times = {}
        path = Path(data_dir) / "nb201" / "nb201_converted.npz"
        for name, fn in (("read_table", lambda: read_table(path)),
                         ("load_benchmark_converted", lambda: gnnnas.load_benchmark("nb201", data_dir=data_dir))):
            runs = []
            for _ in range(3):
                t = time.perf_counter()
                value = fn()
                runs.append(time.perf_counter() - t)
            times[name] = min(runs)
            out["rows"] = len(value)
        csv_dir = os.environ.get("GNNNAS_DATA")
        if csv_dir and (Path(csv_dir) / "nb201" / "nb201_test_acc_200ep.csv").is_file():
            runs = []
            for _ in range(3):
                t = time.perf_counter()
                gnnnas.load_benchmark("nb201", data_dir=csv_dir)
                runs.append(time.perf_counter() - t)
            times["load_benchmark_csv"] = min(runs)
        out["load_seconds"] = times
    out["seconds"] = time.perf_counter() - start
    if commit_seconds:
        out["commit_seconds"] = sum(commit_seconds)
    out["rss_before_mib"] = base
    out["peak_rss_growth_mib"] = _peak_mib() - base
    return out


def run_child(task: str, source: Path, data_dir: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, __file__, "--child", task, str(source), str(data_dir)],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child {task} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--nb201-archs", type=int, default=15_625)
    parser.add_argument("--child", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0

    sys.path.insert(0, str(ROOT))
    from gnnnas.data.formats import synthetic

    results: dict = {"platform": platform.platform(), "python": platform.python_version(),
                     "cpus": os.cpu_count(), "tasks": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cells = -(-args.records // 3)
        tfrecord = tmp / "nasbench_only108.tfrecord"
        t = time.perf_counter()
        synthetic.write_nb101_tfrecord(tfrecord, cells, budgets=(108,), repeats=3, keep=False)
        results["nb101_source"] = {"records": cells * 3, "cells": cells, "bytes": tfrecord.stat().st_size,
                                   "write_seconds": time.perf_counter() - t}
        print(f"NB101 source: {cells * 3} records, {tfrecord.stat().st_size / 2**20:.1f} MiB", flush=True)
        for task in ("nb101", "nb101-nocrc"):
            record = run_child(task, tfrecord, tmp / f"data-{task}")
            results["tasks"].append(record)
            print(f"{task}: {record['seconds']:.2f} s, peak RSS growth {record['peak_rss_growth_mib']:.1f} MiB",
                  flush=True)
        record = run_child("nb101-again", tfrecord, tmp / "data-nb101")  # replaces the table converted above
        results["tasks"].append(record)
        print(f"nb101-again: {record['seconds']:.2f} s, commit {record['commit_seconds']:.2f} s", flush=True)
        full = tmp / "nasbench_full.tfrecord"
        synthetic.write_nb101_tfrecord(full, cells, budgets=(4, 12, 36, 108), repeats=3, keep=False)
        results["nb101_full_source"] = {"records": cells * 12, "cells": cells, "bytes": full.stat().st_size}
        tfrecord.unlink()
        record = run_child("nb101-full", full, tmp / "data-nb101-full")
        results["tasks"].append(record)
        full.unlink()
        print(f"nb101-full: {cells * 12} records, {full_bytes(results) / 2**20:.1f} MiB: {record['seconds']:.2f} s, "
              f"peak RSS growth {record['peak_rss_growth_mib']:.1f} MiB", flush=True)

        pth = tmp / "NAS-Bench-201-synthetic.pth"
        t = time.perf_counter()
        data = synthetic.nb201_benchmark_dict(args.nb201_archs, stored_epochs=1)
        try:
            synthetic.write_nb201_pth(pth, data, "legacy")
            how = "legacy torch.save"
        except ImportError:
            synthetic.write_nb201_pth(pth, data, "pickle")
            how = "pickle"
        del data
        results["nb201_source"] = {"archs": args.nb201_archs, "bytes": pth.stat().st_size, "container": how,
                                   "write_seconds": time.perf_counter() - t}
        print(f"NB201 source: {args.nb201_archs} archs, {pth.stat().st_size / 2**20:.1f} MiB ({how})", flush=True)
        record = run_child("nb201", pth, tmp / "data-nb201")
        results["tasks"].append(record)
        print(f"nb201: {record['seconds']:.2f} s, peak RSS growth {record['peak_rss_growth_mib']:.1f} MiB", flush=True)
        record = run_child("nb201-load", pth, tmp / "data-nb201")
        results["tasks"].append(record)
        print(f"nb201-load: {record['load_seconds']}", flush=True)

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "data_convert.json").write_text(json.dumps(results, indent=1))
    (RESULTS / "data_convert.md").write_text(markdown(results))
    print(f"wrote {RESULTS / 'data_convert.json'} and .md")
    return 0


def full_bytes(results: dict) -> int:
    return results["nb101_full_source"]["bytes"]


def markdown(results: dict) -> str:
    src101, src201 = results["nb101_source"], results["nb201_source"]
    tasks = {r["task"]: r for r in results["tasks"]}
    lines = [
        "# gnnnas data convert: memory and speed",
        "",
        (
            f"Measured by `benchmarks/data_convert.py` ({results['platform']}, Python {results['python']}, "
            f"{results['cpus']} CPUs shared with other jobs). Each task ran once in a fresh process; "
            "peak RSS growth = `ru_maxrss` after the task - RSS before it (after imports). Sources are "
            "synthetic files in the official layouts (`gnnnas.data.formats.synthetic`, seed 0), written "
            "to a temporary directory; NB101: 3 repeats per cell."
        ),
        "",
        "| task | source | rows | wall time | peak RSS growth |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, label in (("nb101", "NB101 tfrecord, CRC checked"), ("nb101-nocrc", "NB101 tfrecord, --no-crc")):
        r = tasks[name]
        lines.append(
            f"| {label} | {src101['records']:,} records, {src101['bytes'] / 2**20:.1f} MiB | "
            f"{r['rows']:,} | {r['seconds']:.2f} s | {r['peak_rss_growth_mib']:.1f} MiB |"
        )
    if "nb101-again" in tasks:
        r = tasks["nb101-again"]
        lines.append(
            f"| NB101 tfrecord, CRC checked, again over the existing table | {src101['records']:,} records, "
            f"{src101['bytes'] / 2**20:.1f} MiB | {r['rows']:,} | {r['seconds']:.2f} s | "
            f"{r['peak_rss_growth_mib']:.1f} MiB |"
        )
    r, src = tasks["nb101-full"], results["nb101_full_source"]
    lines.append(f"| NB101 tfrecord, same cells x 4 budgets, CRC checked | {src['records']:,} records, "
                 f"{src['bytes'] / 2**20:.1f} MiB | {r['rows']:,} | {r['seconds']:.2f} s | "
                 f"{r['peak_rss_growth_mib']:.1f} MiB |")
    r = tasks["nb201"]
    lines.append(f"| NB201 .pth ({src201['container']}) | {src201['archs']:,} archs, "
                 f"{src201['bytes'] / 2**20:.1f} MiB | {r['rows']:,} | {r['seconds']:.2f} s | "
                 f"{r['peak_rss_growth_mib']:.1f} MiB |")
    commits = [(label, tasks[name]) for name, label in (
        ("nb101", "NB101, first conversion"), ("nb101-again", "NB101, replacing the table"),
        ("nb201", "NB201")) if "commit_seconds" in tasks.get(name, {})]
    if commits:
        lines += ["", ("Of the wall time, the commit of table and manifest (lock, table write to a temporary file, "
                  "its SHA-256, the manifest as journal, hard link of the old table, rename, final manifest; "
                  "`gnnnas.data.manifest.replace_table`):"), "", "| conversion | commit seconds | share of wall time |",
                  "| --- | --- | --- |"]
        lines += [f"| {label} | {r['commit_seconds']:.3f} | {100 * r['commit_seconds'] / r['seconds']:.1f} % |"
                  for label, r in commits]
    load = tasks["nb201-load"]["load_seconds"]
    lines += ["", "Loading NB201 (best of 3):", "", "| route | seconds |", "| --- | --- |"]
    names = {
        "read_table": "converted table, `read_table` (npz, no pickle)",
        "load_benchmark_converted": "`load_benchmark('nb201')` from the converted table (incl. parsing the archs)",
        "load_benchmark_csv": "`load_benchmark('nb201')` from the shipped CSVs",
    }
    for key, label in names.items():
        if key in load:
            lines.append(f"| {label} | {load[key]:.3f} |")
    lines += [
        "",
        (
            "The NB101 reader holds one record at a time plus per-cell sums: memory follows the number of "
            "distinct cells (423,624 at most), not the file size. The synthetic NB201 file keeps only the "
            "last epoch of each curve, so it is far smaller than the official v1.1 file (4.7 GB); a `.pth` "
            "must be unpickled whole, here about 9x its size in RAM (see docs/data.md: the NATS `-simple` "
            "directory is the low-memory route)."
        ),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
