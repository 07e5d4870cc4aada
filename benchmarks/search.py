"""Query-budgeted search on benchmark tables: random search vs REA vs predictor-guided search.

    python benchmarks/search.py --tasks nb201-cifar10 --runs 20 --budget 150
    python benchmarks/search.py --tasks darts,nb101 --runs 10 --budget 150 --methods gnnnas

Random search and REA cost nothing but the lookups, so they run ``--baseline-budget`` queries
(default 3,000) to show when they reach the optimum; predictor search runs ``--budget``.

For every task (a benchmark table used as the oracle) and method, ``--runs`` independent runs
(seeds 0..runs-1) of ``--budget`` queries each. Reported per task and method: how many queries
each run needed to reach the table's maximum (the global optimum; runs that never reach it count
as "not found" and the median is given only when at least half the runs found it), and the best
value found after 50 / 100 / 150 queries (mean, std, and how many runs had found the optimum by
then). NB201 tasks search the whole space (every architecture has a label); ``darts`` (725 cells)
and ``nb101`` (20,001 cells) are restricted to the cells of the table, whose optimum is the
optimum of the available cells, not of the space.

Results go to ``benchmarks/results/search.json`` / ``.md`` (+ ``search.png`` with best-so-far
curves when matplotlib is installed), rewritten after every run; runs already in the file are
kept unless measured again, so a table can be filled by several processes one after the other
(``--skip-existing`` leaves them out).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

import gnnnas
from gnnnas import search

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired import SHIPPED_START_SINCE  # benchmarks/ is not a package

RESULTS = Path(__file__).resolve().parent / "results"

#: task name -> (benchmark, metric, search restricted to the table's cells)
TASKS: dict[str, tuple[str, str | None, bool]] = {
    "nb201-cifar10": ("nb201", "cifar10", False),
    "nb201-cifar100": ("nb201", "cifar100", False),
    "nb201-imagenet16": ("nb201", "imagenet16", False),
    "darts": ("darts", None, True),
    "nb101": ("nb101", None, True),
}
METHODS = ("random", "rea", "gnnnas", "gnnnas-pretrained", "gnnnas-scratch")
CHECKPOINTS = (50, 100, 150)


class _Reached(Exception):
    """Raised from ``on_round`` once a run has queried the optimum: later queries cannot change
    any reported number (queries to optimum, best after k queries), so the run stops there."""


def run_one(method: str, space, oracle: search.BenchmarkOracle, budget: int, seed: int, candidates,
            predictor_options: dict, stop_at_optimum: bool = False) -> tuple[search.SearchResult, bool]:
    """One run; returns its result and whether it stopped early at the optimum."""
    if method == "random":
        return search.random_search(space, oracle, budget, rng=seed, candidates=candidates), False
    if method == "rea":
        return search.regularized_evolution(space, oracle, budget, rng=seed, population=20, sample=5,
                                            candidates=candidates), False
    last: list[search.SearchResult] = []

    def on_round(result: search.SearchResult) -> None:
        last[:] = [result]
        if stop_at_optimum and result.best_value >= oracle.max_value:
            raise _Reached

    if method in _START:  # the default factory's predictor with an explicit start of its encoder
        predictor_options = {**predictor_options, "predictor_factory": _START[method]}
    try:
        result = search.predictor_search(space, oracle, budget, rng=seed, candidates=candidates,
                                         on_round=on_round, **predictor_options)
    except _Reached:
        return last[0], True
    return result, False


def _pretrained_factory(space, seed: int):
    """:func:`gnnnas.search.default_predictor_factory`'s predictor with ``pretrained="default"``."""
    return search.default_predictor_factory(space, seed).set_params(pretrained="default")


def _scratch_factory(space, seed: int):
    """:func:`gnnnas.search.default_predictor_factory`'s predictor with ``pretrained=None``."""
    return search.default_predictor_factory(space, seed).set_params(pretrained=None)


_START = {"gnnnas-pretrained": _pretrained_factory, "gnnnas-scratch": _scratch_factory}


def _read_runs(path: Path) -> dict:
    """A results file, its NB201 `gnnnas` runs of before the default start changed renamed
    `gnnnas-scratch` (what they measured), so that merged files keep the two starts apart."""
    payload = json.loads(path.read_text())
    if payload.get("environment", {}).get("date", SHIPPED_START_SINCE) < SHIPPED_START_SINCE:
        for run in payload["runs"]:
            if run["method"] == "gnnnas" and run["task"].startswith("nb201"):
                run["method"] = "gnnnas-scratch"
        if "gnnnas" in payload.get("methods", {}):
            payload["methods"]["gnnnas-scratch"] = payload["methods"]["gnnnas"] + " (random initial weights)"
    return payload


def summarise(runs: list[dict], task: str, method: str) -> dict:
    mine = [r for r in runs if r["task"] == task and r["method"] == method]
    if not mine:
        return {}
    budget = min(r["budget"] for r in mine)
    to_opt = [r["queries_to_optimum"] for r in mine]
    found = sorted(q for q in to_opt if q is not None)
    # a median over all runs, counting "not found" as larger than any budget
    median = float(np.median(found + [math.inf] * (len(mine) - len(found))))
    out = {"task": task, "method": method, "runs": len(mine), "budget": budget, "found": len(found),
           "queries_to_optimum": to_opt, "median_queries_to_optimum": median if math.isfinite(median) else None,
           "seconds_mean": float(np.mean([r["seconds"] for r in mine]))}
    for c in CHECKPOINTS:
        if c <= budget:
            best = np.array([np.nanmax(r["values"][:c]) for r in mine])
            out[f"best@{c}"] = {"mean": float(best.mean()), "std": float(best.std()),
                                "found": int(sum(q is not None and q <= c for q in to_opt))}
    return out


def markdown(payload: dict, json_name: str = "search.json") -> str:
    lines = ["# Query-budgeted search on benchmark tables", ""]
    p = payload["protocol"]
    lines += [
        f"Protocol: {p['description']}",
        "",
        f"Methods: {'; '.join(f'`{k}`: {v}' for k, v in payload['methods'].items())}.",
        "",
        f"Environment: {payload['environment']}",
        "",
        ("| task | optimum | method | runs | found in budget | median queries to optimum | "
         "best @50 | best @100 | best @150 | s / run |"),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in payload["summary"]:
        med = s["median_queries_to_optimum"]
        med_text = f"{med:.1f}" if med is not None else f"> {s['budget']} (found in {s['found']}/{s['runs']})"
        cells = []
        for c in CHECKPOINTS:
            b = s.get(f"best@{c}")
            cells.append(f"{b['mean']:.3f} ± {b['std']:.3f} ({b['found']}/{s['runs']})" if b else "")
        lines.append(f"| {s['task']} | {payload['optima'][s['task']]:.4g} | {s['method']} | {s['runs']} | "
                     f"{s['found']}/{s['runs']} | {med_text} | " + " | ".join(cells) + f" | {s['seconds_mean']:.1f} |")
    lines += ["", ("best @k: mean ± std over runs of the best value among the first k queries "
                   "(in brackets: runs that had reached the optimum by then). Queries to optimum per run "
                   f"(None = not found) are in {json_name}.")]
    return "\n".join(lines) + "\n"


def compact(record: dict) -> dict:
    """Keep every query value (6 decimals) up to the last checkpoint and, beyond it, only the points where the
    best so far improves (``[query, value]``): enough for every number and curve reported, and
    the baselines' 3,000-query runs stay small on disk."""
    values = [round(v, 6) for v in record["values"]]  # table values carry no more digits
    if len(values) <= CHECKPOINTS[-1]:
        return {**record, "values": values}
    best = np.fmax.accumulate(np.asarray(values, dtype=float))
    changed = np.flatnonzero(np.diff(best, prepend=-np.inf) > 0)
    return {**record, "values": values[: CHECKPOINTS[-1]], "n_queries": len(values),
            "improvements": [[int(i) + 1, float(best[i])] for i in changed]}


def _best_so_far(record: dict, n: int) -> np.ndarray:
    """Best value after 1..n queries; a run that ended early (at the optimum, or with the
    candidates used up) keeps its final best."""
    if "improvements" in record:
        best = np.full(min(n, record["n_queries"]), np.nan)
        for query, value in record["improvements"]:
            if query <= len(best):
                best[query - 1:] = value
    else:
        best = np.fmax.accumulate(np.asarray(record["values"][:n], dtype=float))
    return np.concatenate([best, np.full(n - len(best), best[-1])])


def plot(payload: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    tasks = [t for t in TASKS if any(r["task"] == t for r in payload["runs"])]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        optimum = payload["optima"][task]
        for method in METHODS:
            runs = [r for r in payload["runs"] if r["task"] == task and r["method"] == method]
            if not runs:
                continue
            n = min(r["budget"] for r in runs)
            regret = np.array([optimum - _best_so_far(r, n) for r in runs])
            x = np.arange(1, n + 1)
            mean = regret.mean(0)
            lo, hi = np.percentile(regret, [25, 75], axis=0)
            (line,) = ax.plot(x, mean, label=f"{method} ({len(runs)} runs)")
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1e-4 * abs(optimum))  # linear below 0.01 % of the optimum
        ax.set_ylim(bottom=0)
        ax.set_title(f"{task} (optimum {optimum:.4g})", fontsize=9)
        ax.set_xlabel("queries (log)")
        ax.set_ylabel("optimum - best so far (mean, 25-75 %)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, from {list(TASKS)}")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=150, help="queries per gnnnas run")
    parser.add_argument("--baseline-budget", type=int, default=3000,
                        help="queries per random / REA run (cheap; long enough to see when they find the optimum)")
    parser.add_argument("--initial", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=10)
    parser.add_argument("--local", type=float, default=0.5)
    parser.add_argument("--acquisition", default="mean")
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--stop-at-optimum", action="store_true",
                        help="end a gnnnas run at the round it queries the optimum (saves time; no reported "
                             "number changes, as later queries cannot lower the best so far)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--skip-existing", action="store_true")
    parser.add_argument("--out", default=None, help="output stem (default: benchmarks/results/search)")
    parser.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                        help="only merge the runs of these result files (from parallel processes) into --out")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    tasks = args.tasks.split(",")
    methods = args.methods.split(",")
    for name in tasks:
        if name not in TASKS:
            parser.error(f"unknown task {name!r}; choose from {list(TASKS)}")
    for name in methods:
        if name not in METHODS:
            parser.error(f"unknown method {name!r}; choose from {list(METHODS)}")
    predictor_options = {"initial": args.initial, "per_round": args.per_round, "local": args.local,
                         "acquisition": args.acquisition, "pool": args.pool}
    stem = Path(args.out) if args.out else RESULTS / "search"
    json_path = stem.with_suffix(".json")
    payload = _read_runs(json_path) if json_path.is_file() else {"runs": [], "optima": {}}
    payload["protocol"] = {
        "description": (
            "each run queries the benchmark table as an oracle (one query = one label), never the same "
            "architecture twice, seeds 0..runs-1; NB201 tasks search all 15,625 cells of the space "
            "(200-epoch test accuracy, seed mean); darts (725 NASLib cells, val_accuracy) and nb101 "
            "(20,001 hash-keyed cells, 108-epoch validation accuracy of one repeat) search the cells "
            "of the table, mutation = nearest unseen cell"
            + ("; gnnnas runs end at the round in which they query the optimum (the best so far cannot "
               "change after that; curves are held at the optimum)" if args.stop_at_optimum else "")),
    }
    payload["methods"] = {
        "random": "uniform sampling without repeats",
        "rea": "regularized evolution, population 20, tournament 5, one-op mutations",
        "gnnnas": (f"predictor_search: {args.initial} random, then rounds of {args.per_round} queries "
                   f"(a fraction {args.local} to the best-scored unseen neighbours of the incumbent), acquisition "
                   f"{args.acquisition!r}, pool of {args.pool} (half mutations of the 10 best, half random); "
                   "predictor = default_predictor_factory (3 bootstrap members, 50 epochs; since 2026-12-04 "
                   "its encoder starts from the shipped one where it fits, pretrained='auto'), refit every round"),
        "gnnnas-scratch": "as gnnnas, the encoder from a random initialisation (pretrained=None)",
        "gnnnas-pretrained": ("as gnnnas, the predictor starting from the encoder gnnnas ships for the space "
                              "(pretrained='default': NB201, the costs pretext on all cells, no labels)"),
    }
    payload["environment"] = {"gnnnas": gnnnas.__version__, "torch": torch.__version__,
                              "python": platform.python_version(), "torch_threads": torch.get_num_threads(),
                              "date": str(date.today()), "device": "cpu"}

    def save() -> None:
        payload["runs"] = [compact(r) for r in payload["runs"]]
        payload["runs"].sort(key=lambda r: (list(TASKS).index(r["task"]), METHODS.index(r["method"]), r["seed"]))
        payload["summary"] = [s for t in TASKS for m in METHODS if (s := summarise(payload["runs"], t, m))]
        json_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = json_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(payload))  # one line: ~200 runs of up to 150 values
        tmp.replace(json_path)
        stem.with_suffix(".md").write_text(markdown(payload, json_path.name))

    if args.merge:
        methods_text = dict(payload["methods"])
        for path in args.merge:
            other = _read_runs(Path(path))
            keys = {(r["task"], r["method"], r["seed"]) for r in other["runs"]}
            payload["runs"] = [r for r in payload["runs"] if (r["task"], r["method"], r["seed"]) not in keys]
            payload["runs"] += other["runs"]
            payload["optima"].update(other["optima"])
            payload["environment"] = other.get("environment", payload["environment"])
            if any(r["method"] == "gnnnas" for r in other["runs"]):
                methods_text["gnnnas"] = other["methods"]["gnnnas"]
        payload["methods"] = methods_text
        tasks = []
    for task in tasks:
        bench_name, metric, restricted = TASKS[task]
        bench = gnnnas.load_benchmark(bench_name, metric=metric, data_dir=args.data_dir)
        oracle = search.BenchmarkOracle(bench)
        optimum = oracle.max_value
        payload["optima"][task] = optimum
        candidates = oracle.archs if restricted else None
        for method in methods:
            for seed in range(args.first_seed, args.first_seed + args.runs):
                key = (task, method, seed)
                if args.skip_existing and any((r["task"], r["method"], r["seed"]) == key for r in payload["runs"]):
                    continue
                start = time.perf_counter()
                budget = args.budget if method.startswith("gnnnas") else args.baseline_budget
                result, stopped = run_one(method, bench.space, oracle, budget, seed, candidates, predictor_options,
                                          args.stop_at_optimum)
                seconds = time.perf_counter() - start
                record = {"task": task, "method": method, "seed": seed, "budget": budget,
                          "values": [float(v) for v in result.values], "seconds": seconds,
                          "queries_to_optimum": result.queries_to(optimum), "stopped_at_optimum": stopped,
                          "fit_seconds": float(sum(r.get("fit_seconds", 0.0) for r in result.rounds))}
                payload["runs"] = [r for r in payload["runs"] if (r["task"], r["method"], r["seed"]) != key]
                payload["runs"].append(record)
                save()
                print(f"{task:17s} {method:7s} seed={seed:<3d} queries to optimum={record['queries_to_optimum']} "
                      f"best={result.best_value:.4f} ({seconds:.1f} s)", flush=True)
    save()
    if plot(payload, stem.with_suffix(".png")):
        print(f"wrote {stem.with_suffix('.png')}")
    print(f"wrote {json_path} and {stem.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
