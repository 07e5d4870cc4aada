"""Kendall tau of our predictor, its ablations and the baselines under one protocol.

    python benchmarks/run_protocol.py --protocol P201 --seeds 5
    python benchmarks/run_protocol.py --protocol P201 --models gnnnas,random-forest --sizes 78,156
    python benchmarks/run_protocol.py --protocol PDARTS --seed-list 2 --out benchmarks/results/pdarts_s2

Results go to benchmarks/results/<protocol>.json and .md, rewritten after every record. Records
of an earlier run of the same protocol are kept unless this run measured the same (model, N, seed)
again, so a table can be filled in several runs (each record keeps its own timings).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gnnnas import harness
from gnnnas.protocols import get_protocol

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", required=True)
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--seeds", type=int, default=5, help="seeds 0..SEEDS-1")
    chosen.add_argument("--seed-list", default=None,
                        help="comma-separated seeds instead of --seeds (e.g. 1,2: one process per seed on a "
                             "multi-core machine, each with its own --out: processes sharing one file would "
                             "overwrite each other's records)")
    parser.add_argument("--models", default=None, help="comma-separated (default: all)")
    parser.add_argument("--sizes", default=None, help="comma-separated train sizes (default: the protocol's)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads of the GNN models (default: 1, the Predictor's; -1: every CPU)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--skip-existing", action="store_true",
                        help="leave out (model, N, seed) runs already in the results file")
    parser.add_argument("--out", default=None, help="output stem (default: benchmarks/results/<protocol>)")
    args = parser.parse_args(argv)
    protocol = get_protocol(args.protocol)
    models = harness.default_models(args.models.split(",") if args.models else None, epochs=args.epochs,
                                    num_threads=args.threads)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    seeds = [int(s) for s in args.seed_list.split(",")] if args.seed_list else range(args.seeds)
    if len(set(seeds)) != len(seeds):
        parser.error(f"--seed-list repeats a seed: {args.seed_list}")
    stem = Path(args.out) if args.out else RESULTS / protocol.name.lower()

    old_path = stem.with_suffix(".json")
    old = json.loads(old_path.read_text()) if old_path.is_file() else {"records": [], "models": {}}
    descriptions = {m.name: m for m in models}
    for name, text in old.get("models", {}).items():
        descriptions.setdefault(name, harness.ModelSpec(name, None, text))
    order = {m.name: i for i, m in enumerate(harness.default_models())}
    fresh_records: list[harness.Record] = []

    def save():
        """Merge this run's records so far into the table (written after every record, so an
        interrupted run keeps what it measured)."""
        fresh = {(r.model, r.train_size, r.seed) for r in fresh_records}
        kept = [harness.Record(**r) for r in old["records"] if (r["model"], r["train_size"], r["seed"]) not in fresh]
        records = sorted(kept + fresh_records, key=lambda r: (order.get(r.model, 99), r.model, r.train_size, r.seed))
        all_models = sorted(descriptions.values(), key=lambda m: order.get(m.name, 99))
        return harness.write_results(stem, protocol, records, all_models)

    def on_record(r):
        print(f"{r.model:20s} N={r.train_size:<5d} seed={r.seed} tau={r.kendall_tau:.4f} "
              f"fit={r.fit_seconds:.1f}s predict={r.predict_seconds:.2f}s", flush=True)
        fresh_records.append(r)
        save()

    done = {(r["model"], r["train_size"], r["seed"]) for r in old["records"]} if args.skip_existing else set()
    harness.run_protocol(protocol, models, seeds=seeds, train_sizes=sizes, data_dir=args.data_dir,
                         on_record=on_record, skip=lambda m, n, s: (m, n, s) in done)
    json_path, md_path = save()
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
