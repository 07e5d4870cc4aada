"""Fit and predict time with 1 vs 2 torch intra-op threads (``Predictor(num_threads=...)``).

    python benchmarks/threads.py [--rounds 2] [--epochs 30]

Protocol: P201 seed-0 split at 78 labels (``RandomState(0).permutation``), default Predictor with
``epochs`` fixed (3 steps per epoch), fit, then predict all 15,625 cells; thread counts
interleaved over ``--rounds`` rounds in one process, so other jobs on the machine slow both
alike. The machine and its load average at the start are recorded.
Results: benchmarks/results/threads.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(RESULTS.parents[1]))

import gnnnas


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default=str(RESULTS / "threads"))
    args = parser.parse_args(argv)
    bench = gnnnas.load_benchmark("nb201")
    idx = np.random.RandomState(0).permutation(len(bench))[:78]
    archs, y = [bench.archs[i] for i in idx], bench.y[idx]
    load = os.getloadavg()
    rows = []
    for rnd in range(args.rounds):
        for threads in (1, 2):
            model = gnnnas.Predictor(space=bench.space, epochs=args.epochs, num_threads=threads, seed=0, device="cpu")
            start = time.perf_counter()
            model.fit(archs, y)
            fit = time.perf_counter() - start
            start = time.perf_counter()
            model.predict(bench.archs)
            predict = time.perf_counter() - start
            rows.append({"round": rnd, "threads": threads, "fit_s": fit, "predict_s": predict,
                         "steps": 3 * args.epochs})
            print(json.dumps(rows[-1]), flush=True)
    payload = {"description": __doc__, "machine": platform.platform(), "cpus": os.cpu_count(),
               "load_average_at_start": load, "torch": torch.__version__, "rows": rows}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(payload, indent=1))
    lines = ["# Torch intra-op threads: fit and predict time", "",
             __doc__.split("\n\n", 2)[2].split("Results:")[0].strip(), "",
             (f"{platform.platform()}, {os.cpu_count()} CPUs, load average at start {load[0]:.1f} "
             f"(other jobs were running), torch {torch.__version__}."), "",
             "| round | threads | fit s | steps | predict s (15,625 cells) |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['round']} | {r['threads']} | {r['fit_s']:.1f} | {r['steps']} | {r['predict_s']:.2f} |" for r in rows]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
