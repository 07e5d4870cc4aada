"""Fit and predict cost per architecture: NAS-Bench-Graph (Cora) next to NAS-Bench-201, one run.

    python benchmarks/fit_cost.py [--threads 1]

Protocol: the default ``gnnnas.Predictor`` (one member, ``epochs=None`` = about 4,000 optimiser
steps) is fitted on the first N archs of ``RandomState(0).permutation`` of each benchmark
(PGRAPH-cora N = 262, P201 N = 469, and NB201 at N = 262 for equal labels), then predicts every
arch of the benchmark. All run in this one process, interleaved over ``--repeats`` rounds, so a
shared machine slows them alike: compare the ratios within a round. Reports wall seconds of fit and predict, optimiser steps,
seconds per step, and per architecture (fit / N, predict / archs predicted).
Results: benchmarks/results/fit_cost.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(RESULTS.parents[1]))

import gnnnas
from gnnnas.predictor import auto_epochs

CASES = (("nasbench_graph", 262), ("nb201", 262), ("nb201", 469))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="rounds over the cases, interleaved")
    parser.add_argument("--out", default=str(RESULTS / "fit_cost"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    benches = {name: gnnnas.load_benchmark(name) for name in dict.fromkeys(name for name, _ in CASES)}
    for repeat, (name, n) in ((r, case) for r in range(args.repeats) for case in CASES):
        bench = benches[name]
        idx = np.random.RandomState(0).permutation(len(bench))[:n]
        archs, y = [bench.archs[i] for i in idx], bench.y[idx]
        model = gnnnas.Predictor(space=bench.space, seed=0)
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(archs, y)
        fit, fit_cpu = time.perf_counter() - start, time.process_time() - cpu
        start, cpu = time.perf_counter(), time.process_time()
        model.predict(bench.archs)
        predict, predict_cpu = time.perf_counter() - start, time.process_time() - cpu
        n_train = n - round(model.validation_fraction * n)
        steps_per_epoch = math.ceil(n_train / min(model.batch_size, n_train))
        steps = auto_epochs(n_train, min(model.batch_size, n_train)) * steps_per_epoch
        row = {"repeat": repeat, "benchmark": name, "labels": n, "archs_predicted": len(bench), "fit_s": fit, "predict_s": predict, "fit_cpu_s": fit_cpu, "predict_cpu_s": predict_cpu,
               "cpu_s_per_step": fit_cpu / steps, "fit_cpu_s_per_label": fit_cpu / n,
               "predict_cpu_ms_per_arch": 1000 * predict_cpu / len(bench),
               "steps": steps, "s_per_step": fit / steps, "fit_s_per_label": fit / n,
               "predict_ms_per_arch": 1000 * predict / len(bench)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    payload = {"description": __doc__, "threads": args.threads, "torch": torch.__version__,
               "machine": platform.platform(), "rows": rows}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(payload, indent=1))
    lines = ["# Fit and predict cost per architecture", "", __doc__.split("\n\n", 2)[2].split("Results:")[0].strip(), "",
             f"torch {torch.__version__}, {args.threads} thread(s), {platform.platform()}; other jobs shared the 2 cores.", "",
             ("CPU seconds (process time, one torch thread) are what the work costs; wall seconds include "
             "waiting for the shared cores."), "",
             ("| round | benchmark | labels | steps | fit s wall | fit s CPU | CPU s / step | CPU s / label | "
             "archs predicted | predict s CPU | predict CPU ms / arch |"),
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['repeat']} | {r['benchmark']} | {r['labels']} | {r['steps']} | {r['fit_s']:.1f} | "
                     f"{r['fit_cpu_s']:.1f} | {r['cpu_s_per_step']:.4f} | {r['fit_cpu_s_per_label']:.3f} | "
                     f"{r['archs_predicted']:,} | {r['predict_cpu_s']:.1f} | {r['predict_cpu_ms_per_arch']:.3f} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
