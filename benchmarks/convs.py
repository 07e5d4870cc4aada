"""The encoder's convolutions side by side, paired by seed with the former dense encoder.

Runs are made with ``run_protocol.py`` (same protocols, splits and seeds for every model):

    # every conv of the registry, this tree
    python benchmarks/run_protocol.py --protocol P201 --seeds 3 --sizes 78 \\
        --models gnnnas,gnnnas-gin,gnnnas-gine,gnnnas-gatv2,gnnnas-transformer,gnnnas-resgated,gnnnas-graphconv,gnnnas-sage \\
        --out benchmarks/results/convs/p201
    # the dense encoder before the port, from a checkout of 5d3ea6e
    (cd /tmp/dense-tree && PYTHONPATH=. python benchmarks/run_protocol.py --protocol P201 --seeds 3 --sizes 78 \\
        --models gnnnas --out <repo>/benchmarks/results/convs/p201_dense)

then this script reads ``benchmarks/results/convs/<protocol>.json`` and ``<protocol>_dense.json``
(and ``<protocol>_<part>.json`` / ``<protocol>_<part>_dense.json`` of a sweep split over processes)
and writes benchmarks/results/convs.{json,md,png}: mean Kendall tau-b per conv, protocol and
training size, and for each the paired difference to the dense encoder over the seeds both ran
(mean, wins/losses, two-sided sign test, scipy's ``binomtest``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from scipy.stats import binomtest

RESULTS = Path(__file__).resolve().parent / "results"
DENSE = "dense encoder (before the port)"


def load(path: Path, rename: str | None = None) -> list[dict]:
    if not path.exists():
        return []
    records = json.loads(path.read_text())["records"]
    for r in records:
        r["model"] = rename or r["model"]
    return records


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocols", default="p201,p101,pdarts,pvit")
    parser.add_argument("--out", default=str(RESULTS / "convs"))
    args = parser.parse_args(argv)
    from gnnnas.data.paths import atomic_write
    from gnnnas.harness import environment

    table = {}
    lines = ["# The encoder's convolutions, paired by seed with the former dense encoder", "",
             "Kendall tau-b on each protocol's test set (P201: all 15,625 NB201 cells, training cells included as P201 defines it, label = CIFAR-10 test "
             "accuracy after 200 epochs; PVIT: the rest of 200 AutoFormer-Ti subnets); training archs drawn "
             "by the protocol from each seed (same splits for every model). `gnnnas` = the PyG two-direction "
             "GCN (`conv=\"gcn\"`, the same function as the dense encoder; dropout masks and float summation "
             "order differ, so a seed's fit is not bit-identical). 1 torch thread per fit, default "
             "hyperparameters. diff = conv - dense encoder on the same seed; sign test two-sided.", ""]
    for proto in args.protocols.split(","):
        # <protocol>.json, and <protocol>_<part>.json where a sweep was split over processes
        records = []
        for path in sorted((RESULTS / "convs").glob(f"{proto}*.json")):
            stem = path.stem
            if stem == proto or (stem.startswith(proto + "_") and not stem.endswith("_dense")):
                records += load(path)
            elif stem.startswith(proto + "_") and stem.endswith("_dense"):
                records += load(path, DENSE)
        if not records:
            continue
        by = defaultdict(dict)
        for r in records:
            by[(r["model"], r["train_size"])][r["seed"]] = r
        sizes = sorted({n for _, n in by})
        models = sorted({m for m, _ in by}, key=lambda m: (m != DENSE, m != "gnnnas", m))
        lines += [f"## {proto.upper()}", "",
                  "| model | N | test set | seeds | tau mean ± sd | diff vs dense | wins/losses | sign p | fit s (median) |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for n in sizes:
            for model in models:
                runs = by.get((model, n))
                if not runs:
                    continue
                taus = [r["kendall_tau"] for r in runs.values()]
                row = {"seeds": sorted(runs), "test_size": next(iter(runs.values()))["test_size"], "tau_mean": statistics.mean(taus),
                       "tau_sd": statistics.stdev(taus) if len(taus) > 1 else 0.0,
                       "fit_seconds_median": statistics.median(r["fit_seconds"] for r in runs.values())}
                dense = by.get((DENSE, n), {})
                common = sorted(set(runs) & set(dense))
                diff_text, wl, p_text = "", "", ""
                if model != DENSE and common:
                    diffs = [runs[s]["kendall_tau"] - dense[s]["kendall_tau"] for s in common]
                    wins, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
                    p = binomtest(wins, wins + losses).pvalue if wins + losses else 1.0
                    row |= {"paired_seeds": common, "diff_mean": statistics.mean(diffs), "wins": wins,
                            "losses": losses, "sign_p": p}
                    diff_text, wl, p_text = f"{statistics.mean(diffs):+.3f}", f"{wins}/{losses}", f"{p:.2f}"
                table.setdefault(proto, {}).setdefault(str(n), {})[model] = row
                lines.append(f"| {model} | {n} | {row['test_size']} | {len(taus)} | {row['tau_mean']:.3f} ± {row['tau_sd']:.3f} | "
                             f"{diff_text} | {wl} | {p_text} | {row['fit_seconds_median']:.0f} |")
        lines.append("")
    result = {"environment": environment(), "table": table}
    out = Path(args.out)
    with atomic_write(out.with_suffix(".json"), "w") as handle:
        json.dump(result, handle, indent=1)
    with atomic_write(out.with_suffix(".md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    try:
        _plot(table, out.with_suffix(".png"))
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
    print("\n".join(lines))
    return 0


def _plot(table: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(p, n) for p in table for n in sorted(table[p], key=int)]
    cols = min(4, len(panels))
    rows_ = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows_, cols, figsize=(4.5 * cols, 4 * rows_), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (proto, n) in zip(axes.flat, panels):
        rows = table[proto][n]
        names = list(rows)
        means = [rows[m]["tau_mean"] for m in names]
        sds = [rows[m]["tau_sd"] for m in names]
        ax.barh(range(len(names)), means, xerr=sds, color=["grey" if m == DENSE else "C0" for m in names])
        ax.set_yticks(range(len(names)), [m.replace("gnnnas-", "") for m in names], fontsize=8)
        ax.set_xlim(min(means) - 0.05, max(means) + 0.03)
        ax.set_title(f"{proto.upper()} N={n}")
        ax.set_xlabel("Kendall tau-b (mean ± sd over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
