"""The P201 table on the local backend and on a local 2-worker Ray cluster: same numbers? how long?

    python benchmarks/scaleout.py [--seeds 5] [--models gnnnas,random-forest] [--sizes ...]

Runs ``harness.run_protocol`` on protocol P201 (every training size of the protocol unless
``--sizes``, ``--seeds`` seeds, gnnnas and the random forest, 1 torch thread per fit) twice in
this process: first ``backend="local"`` (the tasks one after another), then ``backend="ray"`` on a
Ray started here with ``num_cpus=2`` (two tasks at a time, one CPU each). Reports each backend's
wall time, the speed-up, whether every record's Kendall tau, Spearman rho and precision@5% are
equal, and the overhead per task: (Ray wall time x 2 workers - the local wall time) / tasks,
the worker-seconds a Ray task costs beyond the same task run locally (worker start, imports,
the benchmark shipped to each worker, result transfer, idle workers at the end). Writes
benchmarks/results/scaleout.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--models", default="gnnnas,random-forest")
    parser.add_argument("--sizes", default=None, help="comma-separated (default: the protocol's)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "scaleout"))
    parser.add_argument("--plot-only", action="store_true", help="redraw the plot from the JSON")
    args = parser.parse_args(argv)
    if args.plot_only:
        plot(json.loads(Path(args.out).with_suffix(".json").read_text()), Path(args.out))
        return 0
    import ray

    from gnnnas import harness
    from gnnnas.protocols import get_protocol

    protocol = get_protocol("P201")
    models = harness.default_models(args.models.split(","))
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    bench = protocol.load()
    runs = {}
    loads = {}
    for backend in ("local", "ray"):
        if backend == "ray":
            ray.init(num_cpus=args.workers, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        load_start = os.getloadavg()[0]
        start = time.perf_counter()
        records = harness.run_protocol(protocol, models, seeds=range(args.seeds), train_sizes=sizes, bench=bench,
                                       backend=backend)
        runs[backend] = (time.perf_counter() - start, records)
        loads[backend] = [load_start, os.getloadavg()[0]]
        print(f"{backend}: {len(records)} tasks in {runs[backend][0]:.1f} s", flush=True)
    ray.shutdown()
    local_s, local = runs["local"]
    ray_s, remote = runs["ray"]
    fields = ("kendall_tau", "spearman", "precision_at_5pct")
    same = [all(getattr(a, f) == getattr(b, f) for f in fields) and (a.model, a.train_size, a.seed) ==
            (b.model, b.train_size, b.seed) for a, b in zip(local, remote)]
    n = len(local)
    result = {"protocol": "P201", "models": args.models, "seeds": args.seeds,
              "sizes": sorted({r.train_size for r in local}), "tasks": n, "workers": args.workers,
              "local_wall_seconds": local_s, "ray_wall_seconds": ray_s, "speed_up": local_s / ray_s,
              "overhead_worker_seconds_per_task": (ray_s * args.workers - local_s) / n,
              "records_equal": sum(same), "fit_seconds_sum": {b: sum(r.fit_seconds for r in runs[b][1]) for b in runs},
              "load_average": loads, "environment": harness.environment(),
              "records": {b: [r.__dict__ for r in runs[b][1]] for b in runs}}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str))
    lines = ["# P201 on the local backend and on a local Ray cluster", "",
             (f"Protocol P201 (NB201, all 15,625 cells, CIFAR-10 test accuracy after 200 epochs), sizes "
              f"{', '.join(map(str, result['sizes']))}, {args.seeds} seeds, models {args.models}: {n} tasks, 1 torch "
              f"thread per fit. Local = one after another in one process; Ray = `run_protocol(backend=\"ray\")` on "
              f"`ray.init(num_cpus={args.workers})` on this 2-core machine. 1-minute load average at start / end: "
              f"local {loads['local'][0]:.1f} / {loads['local'][1]:.1f}, Ray {loads['ray'][0]:.1f} / "
              f"{loads['ray'][1]:.1f}."), "",
             "| backend | wall s | sum of fit s | speed-up |", "| --- | --- | --- | --- |",
             f"| local | {local_s:.0f} | {result['fit_seconds_sum']['local']:.0f} | 1.00x |",
             (f"| Ray, {args.workers} workers | {ray_s:.0f} | {result['fit_seconds_sum']['ray']:.0f} | "
              f"{local_s / ray_s:.2f}x |"), "",
             (f"Same numbers: {sum(same)} of {n} records have equal Kendall tau, Spearman rho and precision@5% "
              f"(bit for bit). Overhead: (Ray wall x {args.workers} - local wall) / tasks = "
              f"{result['overhead_worker_seconds_per_task']:.1f} worker-seconds per task (fits running two at a time "
              "on two cores also slow each other: compare the sums of fit seconds).")]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    plot(result, out)
    print("\n".join(lines))
    return 0


def plot(result: dict, out: Path) -> None:
    """Wall time of each backend, and each record's Kendall tau local vs Ray (the diagonal)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.bar(["local", f"Ray, {result['workers']} workers"], [result["local_wall_seconds"], result["ray_wall_seconds"]],
             color=["#999999", "#4c72b0"])
    left.set_ylabel(f"wall seconds, {result['tasks']} tasks")
    left.set_title(f"P201 table: {result['speed_up']:.2f}x")
    local = [r["kendall_tau"] for r in result["records"]["local"]]
    remote = [r["kendall_tau"] for r in result["records"]["ray"]]
    right.plot(local, remote, "o", ms=3)
    right.plot([min(local), max(local)], [min(local), max(local)], "k-", lw=0.5)
    right.set_xlabel("Kendall tau, local")
    right.set_ylabel("Kendall tau, Ray")
    right.set_title(f"{result['records_equal']} of {result['tasks']} records equal")
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
