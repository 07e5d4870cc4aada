"""Does the HyperNAS global macro node help? The predictor with and without it, paired by seed.

Runs are made with ``run_protocol.py`` (same protocols, splits and seeds for both models):

    python benchmarks/run_protocol.py --protocol PVIT --models gnnnas,gnnnas-no-global --sizes 20,50,100 \\
        --seeds 3 --out benchmarks/results/global_node/pvit
    python benchmarks/run_protocol.py --protocol P101 --models gnnnas,gnnnas-no-global --sizes 100,424 \\
        --seeds 3 --out benchmarks/results/global_node/p101

``gnnnas-no-global`` drops the node and its readout (``use_global_node=False,
readout="mean+sum"``). This script reads those files and, for the protocols measured before,
the ablations already in ``benchmarks/results`` (P201: ``p201.json``, 5 seeds, the dense
encoder, no-global model with a mean readout; PDARTS: ``pdarts_before_identity.json``, 3 seeds,
before the computation graphs of issue 12), and writes
``benchmarks/results/global_node.{json,md,png}``: mean Kendall tau-b per protocol and N, the
paired difference (with - without the node), wins/losses and a two-sided sign test, per cell and
over each protocol's pairs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scipy.stats import binomtest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired import load, paired_rows, write_summary  # benchmarks/ is not a package

RESULTS = Path(__file__).resolve().parent / "results"
WITHOUT = "without the global node"
WITH = "gnnnas"
#: protocol -> (files, the no-global model's name in them, what the era was)
SOURCES = {
    "p201": (["p201.json"], "gnnnas-no-global-readout-mean",
             "5 seeds, the dense encoder before issue 16, 2026-11-23; no-global model with a mean readout"),
    "pdarts": (["pdarts_before_identity.json"], "gnnnas-no-global",
               "3 seeds, before the computation graphs of issue 12 (graphs without explicit sums)"),
    "p101": (["global_node/p101.json"], "gnnnas-no-global", "3 seeds, the PyG encoder, 2026-12-04"),
    "pvit": (["global_node/pvit.json"], "gnnnas-no-global", "3 seeds, the PyG encoder, 2026-12-04"),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(RESULTS / "global_node"))
    args = parser.parse_args(argv)
    table, overall = {}, []
    lines = ["# The global macro node, paired by seed", "",
             ("Kendall tau-b on each protocol's test set (see docs/results.md, Protocols), training archs drawn by "
              "the protocol from each seed, the same splits for both models. `gnnnas` = the default predictor "
              "(global node on; none of these spaces has a shipped encoder except NB201, whose runs predate it); "
              f"`{WITHOUT}` = `use_global_node=False` (readout named per protocol). 1 torch thread per fit. "
              "diff = without - with on the same seed; sign test two-sided."), ""]
    for proto, (files, name, era) in SOURCES.items():
        records = [r for f in files for r in load(RESULTS / f) if r["model"] in (WITH, name)]
        if not records:
            continue
        for r in records:
            r["model"] = WITHOUT if r["model"] == name else WITH
        table[proto], rows = paired_rows(records, WITH)
        cells = [row for by_model in table[proto].values() for row in by_model.values()]
        wins, losses = sum(row.get("wins", 0) for row in cells), sum(row.get("losses", 0) for row in cells)
        p = binomtest(wins, wins + losses).pvalue if wins + losses else 1.0
        overall.append(f"| {proto.upper()} | {wins + losses} | {losses} | {wins} | {p:.2f} |")
        lines += [f"## {proto.upper()} ({era})", "", *rows, ""]
    lines += ["## Over each protocol's pairs", "",
              "| protocol | pairs | node better | node worse | sign p |", "| --- | --- | --- | --- | --- |",
              *overall, ""]
    write_summary(Path(args.out), table, lines, WITH)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
