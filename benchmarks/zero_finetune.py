"""Kendall tau of the zero-finetune evaluator next to the zero-cost proxies stored in the data.

    python benchmarks/zero_finetune.py --seeds 3 --steps 1000
    python benchmarks/zero_finetune.py --spaces nb201 --nb201-sample 2000

For each space a hypernetwork is trained on architectures sampled from the space (no accuracy
labels), then every benchmark architecture is scored by the held-out proxy accuracy of its
network with generated weights (no finetuning). Rows:

- nb201: a seeded uniform sample of the 15,625 cells (label: CIFAR-10 200-epoch test accuracy),
  and the 725 cells of NASLib's zero-cost file (label: its val_accuracy) with every stored proxy.
- nb101: the 500 NASLib cells (val_accuracy) with their zero-cost proxies.
- darts: the 725 NASLib DARTS cells (val_accuracy) with their zero-cost proxies.

Results: benchmarks/results/zero_finetune.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

import gnnnas
from gnnnas.evaluator import ZeroFinetuneEvaluator
from gnnnas.metrics import kendall_tau

RESULTS = Path(__file__).resolve().parent / "results"
BENCHMARK = {"nb201": "nb201", "nb101": "nb101_500", "darts": "darts"}


def _zero_cost(bench, rows: np.ndarray) -> dict[str, float]:
    out = {}
    for name, column in sorted(bench.extra.items()):
        if not name.startswith("zc_") or name == "zc_val_accuracy":
            continue
        values = np.asarray(column, dtype=np.float64)[rows]
        ok = np.isfinite(values)
        if ok.mean() >= 0.95:  # only proxies scored on (almost) every row of this set
            out[name[3:]] = kendall_tau(bench.y[rows][ok], values[ok])
    for name in ("params", "flops"):
        if name in bench.extra:
            out[name] = kendall_tau(bench.y[rows], np.asarray(bench.extra[name], dtype=np.float64)[rows])
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", default="nb201,nb101,darts")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--proxy", default="digits")
    parser.add_argument("--nb201-sample", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=str(RESULTS / "zero_finetune"))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    records = []
    env = f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    out = Path(args.out)

    def save():  # after every record, so an interrupted run keeps what it measured
        payload = {"description": __doc__, "steps": args.steps, "width": args.width, "proxy": args.proxy,
                   "environment": env, "records": records}
        out.with_suffix(".json").write_text(json.dumps(payload, indent=1))
        out.with_suffix(".md").write_text(_markdown(payload))

    for space in args.spaces.split(","):
        bench = gnnnas.load_benchmark(BENCHMARK[space], data_dir=args.data_dir)
        sets = []
        if space == "nb201":
            sample = np.sort(np.random.RandomState(0).choice(len(bench), args.nb201_sample, replace=False))
            sets.append(("uniform sample, CIFAR-10 200-epoch test acc", bench, sample))
            zc = gnnnas.load_benchmark("nb201", metric="cifar10", data_dir=args.data_dir)
            zc_rows = np.flatnonzero(np.isfinite(np.asarray(zc.extra.get("zc_val_accuracy", np.full(len(zc), np.nan)), dtype=float)))
            if len(zc_rows):
                zc.y = np.asarray(zc.extra["zc_val_accuracy"], dtype=np.float64)
                sets.append(("NASLib zero-cost cells, val_accuracy", zc, zc_rows))
        else:
            sets.append(("all cells of the file, val_accuracy", bench, np.arange(len(bench))))
        for seed in range(args.seeds):
            evaluator = ZeroFinetuneEvaluator(space=space, proxy_data=args.proxy, width=args.width, steps=args.steps,
                                              seed=seed, device="auto")
            evaluator.fit()
            for label, b, rows in sets:
                start = time.perf_counter()
                scores = evaluator.score_archs([b.archs[i] for i in rows])
                score_s = time.perf_counter() - start
                record = {
                    "space": space, "set": label, "n_archs": len(rows), "seed": seed, "steps": args.steps,
                    "kendall_tau": kendall_tau(b.y[rows], scores),
                    "kendall_tau_loss": None,
                    "mean_proxy_accuracy": float(np.mean(scores)),
                    "fit_seconds": evaluator.fit_seconds_, "score_seconds": score_s,
                    "zero_cost": _zero_cost(b, rows) if seed == 0 else None,
                }
                records.append(record)
                save()
                print(f"{space:6s} {label:45s} n={len(rows):5d} seed={seed} tau={record['kendall_tau']:.4f} "
                      f"fit={evaluator.fit_seconds_:.0f}s score={score_s:.0f}s", flush=True)
    save()
    print(f"wrote {out.with_suffix('.json')} and .md")
    return 0


def _markdown(payload) -> str:
    lines = [
        "# Zero-finetune evaluator vs zero-cost proxies (Kendall tau)",
        "",
        f"Hypernetwork trained {payload['steps']} steps on archs sampled from the space (no accuracy labels), "
        f"generated networks of width {payload['width']} scored by held-out {payload['proxy']} accuracy, no finetuning. "
        f"Environment: {payload['environment']}.",
        "",
        "| space | archs scored | n | ours: tau mean ± std (seeds) | fit s | best zero-cost proxies (tau) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    groups: dict = {}
    for r in payload["records"]:
        groups.setdefault((r["space"], r["set"]), []).append(r)
    for (space, label), rs in groups.items():
        taus = np.array([r["kendall_tau"] for r in rs])
        zc = next((r["zero_cost"] for r in rs if r["zero_cost"]), {}) or {}
        best = ", ".join(f"{k} {v:.3f}" for k, v in sorted(zc.items(), key=lambda kv: -kv[1])[:5])
        lines.append(f"| {space} | {label} | {rs[0]['n_archs']} | {taus.mean():.3f} ± {taus.std():.3f} ({len(rs)}) | "
                     f"{np.mean([r['fit_seconds'] for r in rs]):.0f} | {best} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
