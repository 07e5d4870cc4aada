"""Fit and predict time with 1, 2 and all torch intra-op threads, alone and with competing load
(``Predictor(num_threads=...)``, issue 15).

    python benchmarks/threads.py [--rounds 2] [--epochs 30] [--load 0,4]

Protocol: P201 seed-0 split at 78 labels (``RandomState(0).permutation``), default Predictor with
``epochs`` fixed (3 steps per epoch), fit, then predict all 15,625 cells. Each configuration runs
in a fresh process (so OpenMP settings can differ): ``num_threads`` 1, 2 and -1 (every CPU), and 2
threads with ``OMP_WAIT_POLICY=PASSIVE`` (threads that wait sleep instead of spinning).
Configurations are interleaved over ``--rounds`` rounds. Competing load: ``--load N`` runs N
``python -c "while True: pass"`` processes during the configuration, in the same session as the
measured process, so the scheduler shares the CPUs between threads one for one (in separate
sessions, Linux's autogroup would give the measured process one share whatever its threads:
see first_hour.py). Wall and CPU time of fit and
predict are recorded, with the machine and the load average at the start.
Results: benchmarks/results/threads.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parents[1]

CONFIGS = [
    {"threads": 1, "env": {}},
    {"threads": 2, "env": {}},
    {"threads": -1, "env": {}},
    {"threads": 2, "env": {"OMP_WAIT_POLICY": "PASSIVE"}},
]


def worker(threads: int, epochs: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch

    import gnnnas
    from gnnnas.predictor import available_cpus

    bench = gnnnas.load_benchmark("nb201")
    idx = np.random.RandomState(0).permutation(len(bench))[:78]
    archs, y = [bench.archs[i] for i in idx], bench.y[idx]
    model = gnnnas.Predictor(space=bench.space, epochs=epochs, num_threads=threads, seed=0, device="cpu")
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(archs, y)
    fit_wall, fit_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall, cpu = time.perf_counter(), time.process_time()
    model.predict(bench.archs)
    predict_wall, predict_cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"threads_used": available_cpus() if threads == -1 else threads, "torch": torch.__version__,
            "fit_s": fit_wall, "fit_cpu_s": fit_cpu, "predict_s": predict_wall, "predict_cpu_s": predict_cpu,
            "steps": 3 * epochs}


def run_config(config: dict, load: int, epochs: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GNNNAS_DATA")}
    env.update(config["env"])
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(load)]
    try:
        time.sleep(1.0 if load else 0.0)
        start_load = os.getloadavg()[0]
        out = subprocess.run([sys.executable, __file__, "--worker", str(config["threads"]), "--epochs", str(epochs)],
                             env=env, capture_output=True, text=True, check=True).stdout
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    row = json.loads(out.strip().splitlines()[-1])
    row.update(num_threads=config["threads"], omp_wait_policy=config["env"].get("OMP_WAIT_POLICY", "default"),
               competing=load, load_average_at_start=start_load)
    return row


def write_report(payload: dict, out: Path) -> None:
    out.with_suffix(".json").write_text(json.dumps(payload, indent=1) + "\n")
    rows = payload["rows"]
    lines = ["# Torch intra-op threads: fit and predict time, alone and with competing load", "",
             __doc__.split("\n\n", 2)[2].split("Results:")[0].strip(), "",
             f"{payload['machine']}, {payload['cpus']} CPUs, torch {rows[0]['torch'] if rows else '?'}, "
             f"measured {payload['date']}.", "",
             "Medians over rounds (wall seconds; CPU seconds of the process in brackets):", "",
             "| competing processes | num_threads | OMP_WAIT_POLICY | fit s (CPU) | predict s (CPU), 15,625 cells |",
             "| --- | --- | --- | --- | --- |"]
    keys = sorted({(r["competing"], r["num_threads"], r["omp_wait_policy"]) for r in rows},
                  key=lambda k: (k[0], k[1] if k[1] > 0 else 99, k[2]))
    for competing, threads, policy in keys:
        group = [r for r in rows if (r["competing"], r["num_threads"], r["omp_wait_policy"]) == (competing, threads, policy)]

        def med(key, group=group):
            return statistics.median(r[key] for r in group)

        label = f"{threads} (all = {group[0]['threads_used']})" if threads == -1 else str(threads)
        lines.append(f"| {competing} | {label} | {policy} | {med('fit_s'):.1f} ({med('fit_cpu_s'):.1f}) | "
                     f"{med('predict_s'):.2f} ({med('predict_cpu_s'):.2f}) |")
    lines += ["", "Every run:", "", "| round | competing | num_threads | OMP_WAIT_POLICY | fit s | predict s | load avg |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['round']} | {r['competing']} | {r['num_threads']} | {r['omp_wait_policy']} | {r['fit_s']:.1f} | "
              f"{r['predict_s']:.2f} | {r['load_average_at_start']:.1f} |" for r in rows]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--load", default="0,4", help="numbers of competing CPU-bound processes")
    parser.add_argument("--out", default=str(RESULTS / "threads"))
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--report-only", action="store_true", help="rewrite the .md from the .json")
    args = parser.parse_args(argv)
    if args.report_only:
        write_report(json.loads(Path(args.out).with_suffix(".json").read_text()), Path(args.out))
        return 0
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.epochs)))
        return 0
    payload = {"description": __doc__, "machine": platform.platform(), "cpus": os.cpu_count(),
               "date": time.strftime("%Y-%m-%d"), "rows": []}
    for load in [int(n) for n in args.load.split(",")]:
        for rnd in range(args.rounds):
            for config in CONFIGS:
                row = run_config(config, load, args.epochs)
                row["round"] = rnd
                payload["rows"].append(row)
                print(json.dumps(row), flush=True)
                write_report(payload, Path(args.out))
    print(f"wrote {Path(args.out).with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
