"""Speed and peak memory of the PyG encoder beside the former dense encoder, in one run.

    python benchmarks/encoder_speed.py --baseline-tree /tmp/dense-tree --rounds 3

``--baseline-tree`` is a checkout of the code before the port (e.g. ``git worktree add
/tmp/dense-tree 5d3ea6e``). Every measurement runs in a fresh Python process (so peak RSS is
that task's alone), alternating between the two trees round by round, so a machine whose load
changes during the run slows both alike. Tasks (1 torch thread, CPU):

- ``predict_nb201``: all 15,625 NB201 arch strings -> scores (parse + featurise + forward) with a
  predictor fitted for one epoch on 78 labels (the weights do not change the cost);
- ``predict_nb101``: 100,000 NB101 cells sampled from the space (seed 0) -> scores (featurise +
  forward; sampling not timed);
- ``fit_nb201_469``: fit on 469 labels (P201 seed 0 split), default hyperparameters;
- ``fit_darts_100_60ep``: fit on 100 DARTS cells (PDARTS seed 0 split), 60 epochs (the default
  would be 500: the ratio is the point), default hyperparameters otherwise.

Writes benchmarks/results/encoder_speed.{json,md}: median wall seconds and peak RSS (MiB) per
task and tree, the ratio new / dense, and the load average during the run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
TASKS = ("predict_nb201", "predict_nb101", "fit_nb201_469", "fit_darts_100_60ep")
GOALS = {"predict_nb201": "<= 0.5 s (stretch 0.3 s); dense encoder 0.89 s on 2026-11-23",
         "predict_nb101": "", "fit_nb201_469": "<= 30 s; dense encoder 29 s on 2026-11-23",
         "fit_darts_100_60ep": "no slower than the dense encoder (cell context: 8 sequential passes per step)"}


def worker(task: str) -> dict:
    """Run ``task`` in this process; returns seconds and peak RSS."""
    import resource

    import numpy as np
    import torch

    import gnnnas

    torch.set_num_threads(1)
    if task == "fit_darts_100_60ep":
        from gnnnas.protocols import get_protocol

        protocol = get_protocol("PDARTS")
        darts = protocol.load()
        idx = protocol.split(len(darts), 100, 0).train
        archs = [darts.archs[i] for i in idx]
        start = time.perf_counter()
        gnnnas.Predictor(space="darts", seed=0, epochs=60).fit(archs, darts.y[idx])
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    bench = gnnnas.load_benchmark("nb201")
    train = np.random.RandomState(0).permutation(len(bench))
    if task == "fit_nb201_469":
        idx = train[:469]
        archs = [bench.archs[i] for i in idx]
        start = time.perf_counter()
        gnnnas.Predictor(space="nb201", seed=0).fit(archs, bench.y[idx])
        seconds = time.perf_counter() - start
    else:
        idx = train[:78]
        space_name = "nb201" if task == "predict_nb201" else "nb101"
        space = gnnnas.get_space(space_name)
        if space_name == "nb201":
            archs = [bench.archs[i] for i in idx]
            y = bench.y[idx]
        else:
            rng = np.random.default_rng(1)
            archs = [space.sample(rng) for _ in range(78)]
            y = rng.random(78)
        predictor = gnnnas.Predictor(space=space_name, seed=0, epochs=1).fit(archs, y)
        if space_name == "nb201":
            strings = list(bench.encodings)
            start = time.perf_counter()
            scores = predictor.predict([space.parse(s) for s in strings])
        else:
            rng = np.random.default_rng(0)
            cells = [space.sample(rng) for _ in range(100_000)]
            start = time.perf_counter()
            scores = predictor.predict(cells)
        seconds = time.perf_counter() - start
        assert np.all(np.isfinite(scores))
        # where the time goes, on objects with no cached featurisation
        t0 = time.perf_counter()
        if space_name == "nb201":
            fresh = [space.parse(s) for s in strings]
        else:
            fresh = cells
            for a in fresh:
                a.__dict__.pop("_featurize_cache", None)
        t1 = time.perf_counter()
        predictor.featurizer_.transform(fresh)  # computes and caches each arch's graph
        t2 = time.perf_counter()
        predictor.predict(fresh)  # graphs cached: padding, de-duplication and the forward pass
        t3 = time.perf_counter()
        parts = {"parse_seconds": t1 - t0 if space_name == "nb201" else 0.0, "featurise_seconds": t2 - t1,
                 "forward_seconds": t3 - t2}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_rss_mib": peak, **(parts if task != "fit_nb201_469" else {})}


def run_in(tree: Path, task: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, __file__, "--worker", task], cwd=tree, env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=TASKS, help=argparse.SUPPRESS)
    parser.add_argument("--baseline-tree", type=Path, help="checkout of the dense-encoder code")
    parser.add_argument("--baseline-label", default="dense encoder (5d3ea6e)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--out", default=str(RESULTS / "encoder_speed"))
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return 0
    if args.baseline_tree is None:
        parser.error("--baseline-tree is required")
    from gnnnas.data.paths import atomic_write
    from gnnnas.harness import environment

    trees = {"pyg encoder (this tree)": REPO, args.baseline_label: args.baseline_tree.resolve()}
    tasks = args.tasks.split(",")
    runs = {t: {name: [] for name in trees} for t in tasks}
    loads = [os.getloadavg()[0]]
    for r in range(args.rounds):
        for task in tasks:
            order = list(trees) if r % 2 == 0 else list(trees)[::-1]
            for name in order:
                runs[task][name].append(run_in(trees[name], task))
                loads.append(os.getloadavg()[0])
                print(f"round {r} {task} {name}: {runs[task][name][-1]}", file=sys.stderr, flush=True)
    summary = {}
    for task in tasks:
        summary[task] = {name: {"median_seconds": statistics.median(x["seconds"] for x in rs),
                                "peak_rss_mib": max(x["peak_rss_mib"] for x in rs)} for name, rs in runs[task].items()}
    new, old = list(trees)
    result = {"environment": environment(), "rounds": args.rounds, "threads": 1,
              "load_average_1min": {"min": min(loads), "max": max(loads)}, "summary": summary, "runs": runs}
    out = Path(args.out)
    with atomic_write(out.with_suffix(".json"), "w") as handle:
        json.dump(result, handle, indent=1)
    lines = ["# Encoder speed: PyG encoder vs the former dense encoder", "",
             f"Side by side in one run, fresh process per measurement, alternating order, {args.rounds} rounds, "
             f"1 torch thread, CPU. 1-minute load average during the run: {min(loads):.1f} to {max(loads):.1f} "
             "(2 cores; other jobs were running when it is above 0.5, so compare the two columns, not runs "
             "of other days).", "", f"Environment: {result['environment']}", "",
             "Task seconds: the first prediction (or the fit) in a fresh process, set-up of the first call "
             "included; the breakdown below is a second, warm pass.", "",
             f"| task | {new} s | {old} s | ratio | {new} peak MiB | {old} peak MiB | goal |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for task in tasks:
        a, b = summary[task][new], summary[task][old]
        lines.append(f"| {task} | {a['median_seconds']:.2f} | {b['median_seconds']:.2f} | "
                     f"{a['median_seconds'] / b['median_seconds']:.2f} | {a['peak_rss_mib']:.0f} | "
                     f"{b['peak_rss_mib']:.0f} | {GOALS.get(task, '')} |")
    lines += ["", "Where the prediction time goes (median seconds; parse = arch strings -> ArchGraphs, featurise = "
              "computation graphs of the ArchGraphs, forward = predict on archs whose graphs are computed: padded "
              "batch, de-duplication of equal graphs, the model's forward pass):", "",
              "| task | tree | parse | featurise | forward |", "| --- | --- | --- | --- | --- |"]
    for task in tasks:
        if not task.startswith("predict"):
            continue
        for name in trees:
            rs = runs[task][name]
            lines.append(f"| {task} | {name} | " + " | ".join(
                f"{statistics.median(x[k] for x in rs):.2f}" for k in ("parse_seconds", "featurise_seconds", "forward_seconds")) + " |")
    with atomic_write(out.with_suffix(".md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
