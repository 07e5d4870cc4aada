"""Why did GINE's PDARTS fit of seed 1 end at tau .27? Its training loss, epoch by epoch, beside the GCN's.

    python benchmarks/gine_darts.py [--epochs 60]

Protocol: PDARTS, 100 labels, the training split of seed 1 (the split where ``conv="gine"`` ended
at tau .269 after the protocol's 500 epochs, benchmarks/results/convs/pdarts_mean.json), tau over
the other 625 cells (NASLib's DARTS val_accuracy). Fits of ``--epochs`` epochs from random weights
(``pretrained=None``), one torch thread: GINE with the protocol's initialisation seed 1, GINE with
another initialisation seed (101) on the same split, and the default GCN with seed 1. Reports the
mean pairwise-logistic training loss per epoch (chance: ln 2 = 0.693), the final tau and the
spread of the predicted scores. Results: benchmarks/results/gine_darts.{json,md,png}.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import RESULTS, write_report  # benchmarks/ is not a package; also puts the repo on sys.path

import gnnnas
from gnnnas import metrics
from gnnnas.harness import environment
from gnnnas.protocols import PROTOCOLS

RUNS = (("gine, init seed 1", {"conv": "gine", "seed": 1}), ("gine, init seed 101", {"conv": "gine", "seed": 101}),
        ("gcn, init seed 1", {"conv": "gcn", "seed": 1}))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--out", default=str(RESULTS / "gine_darts"))
    args = parser.parse_args(argv)
    protocol = PROTOCOLS["PDARTS"]
    bench = gnnnas.load_benchmark("darts")
    truth = protocol.truth(bench)
    split = protocol.split(len(bench), 100, 1)
    rows = []
    for name, params in RUNS:
        start = time.perf_counter()
        predictor = gnnnas.Predictor(space="darts", epochs=args.epochs, pretrained=None, num_threads=1, **params)
        predictor.fit([bench.archs[i] for i in split.train], bench.y[split.train])
        scores = predictor.predict([bench.archs[i] for i in split.test])
        rows.append({"run": name, **params, "kendall_tau": metrics.kendall_tau(truth[split.test], scores),
                     "score_span": float(np.ptp(scores)), "loss": [r["loss"] for r in predictor.history_[0]],
                     "seconds": time.perf_counter() - start})
        print(name, f"tau {rows[-1]['kendall_tau']:.3f}", f"last loss {rows[-1]['loss'][-1]:.3f}", flush=True)
    payload = {"environment": environment(), "epochs": args.epochs, "train_size": 100, "split_seed": 1,
               "test_size": len(split.test), "rows": rows}
    checkpoints = [e for e in (1, 10, 20, 40, args.epochs) if e <= args.epochs]
    lines = ["# GINE on PDARTS, split seed 1: the training loss beside the GCN's", "",
             (f"PDARTS, 100 labels, training split of seed 1, tau over the other {len(split.test)} cells; "
              f"{args.epochs} epochs from random weights, 1 thread. Loss: mean pairwise-logistic training loss of "
              f"the epoch (chance ln 2 = {math.log(2):.3f}). Environment: {environment()}."), "",
             "| run | " + " | ".join(f"loss, epoch {e}" for e in checkpoints) + " | tau | score span |",
             "| --- | " + " | ".join("---" for _ in checkpoints) + " | --- | --- |"]
    lines += ["| " + r["run"] + " | " + " | ".join(f"{r['loss'][e - 1]:.3f}" for e in checkpoints)
              + f" | {r['kendall_tau']:.3f} | {r['score_span']:.3g} |" for r in rows]

    def draw(ax):
        for r in rows:
            ax.plot(range(1, len(r["loss"]) + 1), r["loss"], label=f"{r['run']} (tau {r['kendall_tau']:.2f})")
        ax.axhline(math.log(2), color="grey", linestyle=":", label="chance (ln 2)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss")
        ax.legend(fontsize=8)

    write_report(Path(args.out), payload, lines, draw)
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    raise SystemExit(main())
