"""What the ``zero_cost`` / ``flow`` probes cost per architecture in each space with an executor.

    python benchmarks/probe_cost.py [--spaces nb201,nb101,vit,darts,macro] [--archs 200]

Protocol: ``--archs`` and then twice as many distinct architectures (by
:meth:`~gnnnas.SearchSpace.identity`, the key of the cache rows) sampled with seed 0 from each
space run through :func:`gnnnas.nn.probe.cached_probe_scores` as the pre-training stage runs them
(width 8, 64 digits images, random weights from seed 0), each into an empty cache directory,
one torch thread, after a warm-up run of 8 architectures of the space. The cost per
architecture is the difference of the two runs over the difference of their sizes, so the fixed
cost of a run (the executor, the probe batch) drops out; both runs are reported. Wall and process CPU seconds per architecture, with the 1-minute load
average before and after, and the projection to the default pre-training pool (every cell of a finite space of at most
20,000, else 20,000 samples): what building the probe cache costs before a ``zero_cost`` or
``flow`` pre-training can start. Results: benchmarks/results/probe_cost.{json,md,png}.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import RESULTS, write_report  # benchmarks/ is not a package; also puts the repo on sys.path

import gnnnas
from gnnnas.data.proxy import load_proxy
from gnnnas.harness import environment
from gnnnas.nn.probe import cached_probe_scores

POOL = gnnnas.Predictor().pretrain_archs  # the default pre-training pool's size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", default="nb201,nb101,vit,darts,macro")
    parser.add_argument("--archs", type=int, default=200)
    parser.add_argument("--out", default=str(RESULTS / "probe_cost"))
    args = parser.parse_args(argv)
    proxy = load_proxy("digits", seed=0)
    rows = []
    for name in args.spaces.split(","):
        space = gnnnas.get_space(name)
        rng = np.random.default_rng(0)
        predictor = gnnnas.Predictor(space=name)
        graphs, seen = [], set()
        while len(graphs) < 2 * args.archs:  # distinct: the cache computes each identity once
            graph = predictor._as_archs([space.sample(rng)], space)[0]
            identity = space.identity(graph)
            if identity not in seen:
                seen.add(identity)
                graphs.append(graph)
        featurizer = predictor._new_featurizer(graphs, space).fit(graphs)
        load_before = os.getloadavg()[0]
        runs = []
        for count in (8, args.archs, 2 * args.archs):
            with tempfile.TemporaryDirectory() as cache:
                start, cpu = time.perf_counter(), time.process_time()
                cached_probe_scores(space, graphs[:count], featurizer, proxy, width=8, images=64, seed=0, cache_dir=cache)
                runs.append((time.perf_counter() - start, time.process_time() - cpu))
        runs = runs[1:]  # without the warm-up
        wall, cpu = runs[1][0] - runs[0][0], runs[1][1] - runs[0][1]
        pool = space.size if space.size is not None and space.size <= POOL else POOL
        rows.append({"space": name, "archs": args.archs, "wall_s_per_arch": wall / args.archs,
                     "cpu_s_per_arch": cpu / args.archs, "pool": pool, "pool_cpu_min": cpu / args.archs * pool / 60,
                     "runs_wall_cpu_s": runs,
                     "load_before": load_before, "load_after": os.getloadavg()[0]})
        print(rows[-1], flush=True)
    lines = ["# Probe cost (zero_cost / flow targets) per architecture", "",
             (f"{args.archs} and {2 * args.archs} architectures sampled with seed 0 per space, `cached_probe_scores` "
              "(width 8, 64 digits images, seed 0) into an empty cache, 1 torch thread, one process; cost per "
              f"architecture = (time of {2 * args.archs} - time of {args.archs}) / {args.archs}; pool = the default pre-training "
              f"pool (every cell of a finite space of at most {POOL:,}, else {POOL:,} samples), its CPU minutes "
              f"projected from the per-architecture CPU time. Environment: {environment()}."), "",
             ("| space | runs: archs, wall s, CPU s | wall ms / arch | CPU ms / arch | pool | pool CPU min (projected) "
              "| load before / after |"), "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['space']} | {'; '.join(f'{n}, {w:.1f}, {c:.1f}' for n, (w, c) in zip((r['archs'], 2 * r['archs']), r['runs_wall_cpu_s']))} | {1000 * r['wall_s_per_arch']:.0f} | {1000 * r['cpu_s_per_arch']:.0f} | "
              f"{r['pool']} | {r['pool_cpu_min']:.0f} | {r['load_before']:.1f} / {r['load_after']:.1f} |" for r in rows]

    def draw(ax):
        ax.barh([r["space"] for r in rows], [r["pool_cpu_min"] for r in rows])
        ax.set_xlabel("CPU minutes to probe the default pre-training pool (projected)")

    write_report(Path(args.out), {"environment": {**environment(), "torch_threads": 1}, "rows": rows}, lines, draw)
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    raise SystemExit(main())
