"""Wall time of the predictor on NB201 (CPU unless --device says otherwise).

Measures (median of --repeats runs, after one warm-up run on a fresh parse):
- predict: all 15,625 NB201 arch strings -> scores, including parsing the strings;
- fit: 469 labelled archs (P201 seed 0), default hyperparameters.
Writes benchmarks/results/speed.json and .md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

import gnnnas
from gnnnas.data.paths import atomic_write
from gnnnas.harness import environment

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=str(RESULTS / "speed"))
    args = parser.parse_args(argv)

    bench = gnnnas.load_benchmark("nb201", data_dir=args.data_dir)
    strings = list(bench.encodings)
    train = np.random.RandomState(0).permutation(len(bench))[:469]

    fit_times, predictor = [], None
    for _ in range(max(1, args.repeats // 2)):
        predictor = gnnnas.Predictor(space="nb201", seed=0, device=args.device)
        start = time.perf_counter()
        predictor.fit([strings[i] for i in train], bench.y[train])
        fit_times.append(time.perf_counter() - start)

    space = gnnnas.get_space("nb201")
    predictor.predict([space.parse(s) for s in strings])  # warm-up
    parse_times, predict_times, total_times = [], [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        archs = [space.parse(s) for s in strings]  # fresh objects: no cached featurisation
        parsed = time.perf_counter()
        scores = predictor.predict(archs)
        done = time.perf_counter()
        parse_times.append(parsed - start)
        predict_times.append(done - parsed)
        total_times.append(done - start)
    tau = gnnnas.metrics.kendall_tau(bench.y, scores)

    result = {
        "environment": environment() | {"device": args.device},
        "predict_all_15625_from_strings_seconds": statistics.median(total_times),
        "parse_seconds": statistics.median(parse_times),
        "featurise_and_forward_seconds": statistics.median(predict_times),
        "fit_469_seconds": statistics.median(fit_times),
        "fit_epochs": predictor.history_[0][-1]["epoch"],
        "repeats": args.repeats,
        "kendall_tau_of_this_model_P201_seed0_469": tau,
        "all_runs": {"predict_total": total_times, "fit": fit_times},
    }
    out = Path(args.out)
    with atomic_write(out.with_suffix(".json"), "w") as handle:
        json.dump(result, handle, indent=1)
    lines = [
        "# Predictor speed on NB201",
        "",
        f"Environment: {result['environment']}",
        "",
        "| measurement | median seconds | goal |",
        "| --- | --- | --- |",
        f"| predict all 15,625 archs from arch strings (parse + featurise + forward) | {result['predict_all_15625_from_strings_seconds']:.3f} | < 1 s (0.3 s) |",
        f"| of which parsing strings | {result['parse_seconds']:.3f} | |",
        f"| fit on 469 labels ({result['fit_epochs']} epochs, default hyperparameters) | {result['fit_469_seconds']:.1f} | < 60 s |",
        "",
        f"Repeats: {args.repeats} (predict), {len(fit_times)} (fit). Kendall tau of the fitted model (P201, seed 0, N=469): {tau:.3f}.",
    ]
    with atomic_write(out.with_suffix(".md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
