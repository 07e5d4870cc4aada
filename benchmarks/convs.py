"""The encoder's convolutions side by side, paired by seed with the former dense encoder.

Runs are made with ``run_protocol.py`` (same protocols, splits and seeds for every model):

    # every conv of the registry, this tree (gnnnas-scratch: the GCN from random weights like the
    # other convs; plain `gnnnas` starts NB201 fits from the shipped encoder since 2026-12-04)
    python benchmarks/run_protocol.py --protocol P201 --seeds 3 --sizes 78 \\
        --models gnnnas-scratch,gnnnas-gin,gnnnas-gine,gnnnas-gatv2,gnnnas-transformer,gnnnas-resgated,gnnnas-graphconv,gnnnas-sage \\
        --out benchmarks/results/convs/p201
    # the dense encoder before the port, from a checkout of 5d3ea6e
    (cd /tmp/dense-tree && PYTHONPATH=. python benchmarks/run_protocol.py --protocol P201 --seeds 3 --sizes 78 \\
        --models gnnnas --out <repo>/benchmarks/results/convs/p201_dense)

then this script reads ``benchmarks/results/convs/<protocol>.json`` and ``<protocol>_dense.json``
(and ``<protocol>_<part>.json`` / ``<protocol>_<part>_dense.json`` of a sweep split over processes)
and writes benchmarks/results/convs.{json,md,png}: mean Kendall tau-b per conv, protocol and
training size, and for each the paired difference to the dense encoder over the seeds both ran
(mean, wins/losses, two-sided sign test, scipy's ``binomtest``).

``gine`` and ``resgated`` aggregate by mean since checkpoint format 4; their runs from before
(every file whose stem does not end in ``_mean``) appear as ``gnnnas-gine-sum`` and
``gnnnas-resgated-sum``, out of the "Overall" ranking.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired import load, load_from_scratch, paired_rows, write_summary  # benchmarks/ is not a package

RESULTS = Path(__file__).resolve().parent / "results"
DENSE = "dense encoder (before the port)"
#: runs of the summing gine / resgated (before checkpoint format 4), in files not named *_mean
SUMMED = {"gnnnas-gine": "gnnnas-gine-sum", "gnnnas-resgated": "gnnnas-resgated-sum"}


def _load_conv_runs(path: Path) -> list[dict]:
    records = load_from_scratch(path, nb201=path.stem.startswith("p201"))  # the GCN from random weights, like every conv
    if not path.stem.endswith("_mean"):
        for r in records:
            r["model"] = SUMMED.get(r["model"], r["model"])
    return records


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocols", default="p201,p101,pdarts,pvit")
    parser.add_argument("--out", default=str(RESULTS / "convs"))
    args = parser.parse_args(argv)
    table = {}
    lines = ["# The encoder's convolutions, paired by seed with the former dense encoder", "",
             ("Kendall tau-b on each protocol's test set (P201: all 15,625 NB201 cells, training cells included "
              "as P201 defines it, label = CIFAR-10 test accuracy after 200 epochs; P101 (20,001 NB101 cells, "
              "108-epoch validation accuracy), PDARTS (725 DARTS cells) and PVIT (200 AutoFormer-Ti subnets): "
              "the protocol's other distinct archs, test-set size in each row); training archs drawn by the "
              "protocol from each seed (same splits for every model). `gnnnas` = the PyG two-direction GCN "
              "(`conv=\"gcn\"`, the same function as the dense encoder; dropout masks and float summation order "
              "differ, so a seed's fit is not bit-identical; its rows were measured before the GCN's training moved "
              "from gather-scatter to sparse CSR products, which changes float summation order only and leaves "
              "the other convs untouched: PC201, 9 runs at 78 labels, .770 before and after, "
              "benchmarks/results/pretrain.md). `gnnnas-gine` and `gnnnas-resgated` aggregate their messages by "
              "mean (since checkpoint format 4, measured 2026-12-04); `-sum` rows are the same layers summing "
              "them, as gnnnas built them before (ResGatedGCN's sums diverged on DARTS: "
              "benchmarks/results/darts_divergence_mean.md). 1 torch thread per fit, default hyperparameters. "
              "diff = conv - dense encoder on the same seed; sign test two-sided."), ""]
    for proto in args.protocols.split(","):
        # <protocol>.json, and <protocol>_<part>.json where a sweep was split over processes
        records = []
        for path in sorted((RESULTS / "convs").glob(f"{proto}*.json")):
            stem = path.stem
            if stem == proto or (stem.startswith(proto + "_") and not stem.endswith("_dense")):
                records += _load_conv_runs(path)
            elif stem.startswith(proto + "_") and stem.endswith("_dense"):
                records += load(path, DENSE)
        if not records:
            continue
        table[proto], rows = paired_rows(records, DENSE)
        lines += [f"## {proto.upper()}", "", *rows]
        lines.append("")
    lines += _matrix(table)
    lines += _overall(table)
    write_summary(Path(args.out), table, lines, DENSE)
    return 0


def _matrix(table: dict) -> list[str]:
    """Every conv by (protocol, N) in one table, as the README shows it: mean tau (paired
    difference to the dense encoder; wins/losses where every seed went one way; seeds if not 3)."""
    order = ["gnnnas", "gnnnas-gine", "gnnnas-gin", "gnnnas-gatv2", "gnnnas-transformer", "gnnnas-resgated",
             "gnnnas-graphconv", "gnnnas-sage"]
    head = [m.removeprefix("gnnnas-") if m != "gnnnas" else "gcn" for m in order]
    lines = ["## Matrix", "", ("Mean tau (paired difference to the dense encoder; wins/losses where every seed "
                                "went one way; seed count where not 3)."), "", f"| | {' | '.join(head)} |", f"|{' --- |' * (len(order) + 1)}"]
    for proto, by_size in table.items():
        for n in sorted(by_size, key=int):
            cells = []
            for model in order:
                row = by_size[n].get(model)
                if row is None:
                    cells.append("")
                    continue
                notes = []
                if len(row["seeds"]) != 3:
                    notes.append(f"{len(row['seeds'])} seed{'s' if len(row['seeds']) > 1 else ''}")
                if "diff_mean" in row:
                    notes.append(f"{row['diff_mean']:+.3f}".replace("0.", ".", 1))
                    w, lo = row["wins"], row["losses"]
                    if (w == 0 or lo == 0) and w + lo == len(row["paired_seeds"]) and w + lo > 1:
                        notes.append(f"{w}/{lo}")
                cells.append(f"{row['tau_mean']:.3f}".lstrip("0") + (f" ({', '.join(notes)})" if notes else ""))
            lines.append(f"| {proto.upper()}, {n} | {' | '.join(cells)} |")
    return [*lines, ""]


def _overall(table: dict) -> list[str]:
    """Which conv wins where: over every (protocol, N) cell with at least 3 seeds."""
    cells = [(p, n) for p in table for n in table[p]
             if sum(len(r["seeds"]) >= 3 for m, r in table[p][n].items()
                    if m != DENSE and m not in SUMMED.values()) >= 2]
    convs = sorted({m for p, n in cells for m in table[p][n] if m != DENSE and m not in SUMMED.values()})
    lines = ["## Overall", "", (f"Over the {len(cells)} (protocol, N) cells where at least two convs ran 3 seeds: "
                                "how many of them each conv ran (3+ seeds), its mean paired difference to the dense "
                                "encoder there, in how many it has the best mean tau of all convs (ties to 3 "
                                "decimals count for each), and its worst cell."), "",
             "| conv | cells | mean diff vs dense | best in | worst cell (diff) |", "| --- | --- | --- | --- | --- |"]
    for conv in convs:
        mine = [(p, n) for p, n in cells if conv in table[p][n] and len(table[p][n][conv]["seeds"]) >= 3]
        diffs = [(table[p][n][conv].get("diff_mean"), p, n) for p, n in mine]
        diffs = [d for d in diffs if d[0] is not None]
        top = {(p, n): max(r["tau_mean"] for m, r in table[p][n].items()
                           if m in convs and len(r["seeds"]) >= 3)
               for p, n in mine}
        best = sum(table[p][n][conv]["tau_mean"] >= top[p, n] - 5e-4 for p, n in mine)  # ties (3 decimals) shared
        worst = min(diffs) if diffs else None
        mean = sum(d[0] for d in diffs) / len(diffs) if diffs else float("nan")
        worst_text = f"{worst[1].upper()} {worst[2]} ({worst[0]:+.3f})" if worst else ""
        lines.append(f"| {conv} | {len(mine)} | {mean:+.3f} | {best} | {worst_text} |")
    return [*lines, ""]


if __name__ == "__main__":
    sys.exit(main())
