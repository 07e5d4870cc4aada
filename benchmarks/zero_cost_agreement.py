"""Do gnnnas's own zero-cost proxies rank NB201 cells like NASLib's published ones?

    python benchmarks/zero_cost_agreement.py [--images 64] [--width 8]

Reads NASLib's zero-cost scores of 725 NB201 cells (``nb201/nb201_725_zero_cost.json`` of the
data directory: NASLib's ``zc_nasbench201.json``, CIFAR-10 entry, full NB201 networks on
CIFAR-10), computes gnnnas's :mod:`gnnnas.nn.probe` scores of the same cells (the executor's
small network, width ``--width``, He-normal random weights from seed 0, ``--images`` digits
images: what the ``zero_cost`` and ``flow`` pretexts regress) and reports the Kendall tau-b of:
ours vs theirs for each shared proxy, each proxy vs the cells' CIFAR-10 validation accuracy
(NASLib's ``val_accuracy``) and the time to score the 725 cells (1 torch thread).

Writes benchmarks/results/zero_cost_agreement.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

RESULTS = Path(__file__).resolve().parent / "results"
NB201_OPS = ["skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3"]  # NASLib's op ids
EDGES = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]  # NASLib's key order


def naslib_cells(data_dir: str | None):
    import gnnnas
    from gnnnas.data.paths import require_file

    path = require_file("nb201/nb201_725_zero_cost.json", data_dir, "see the data README (NASLib zc_nasbench201.json)")
    table = json.loads(Path(path).read_text())["cifar10"]
    space = gnnnas.get_space("nb201")
    archs, theirs = [], {}
    for key, row in table.items():
        e = dict(zip(EDGES, [NB201_OPS[int(t)] for t in key.strip("()").split(",")], strict=True))
        archs.append(space.parse(f"|{e[0, 1]}~0|+|{e[0, 2]}~0|{e[1, 2]}~1|+|{e[0, 3]}~0|{e[1, 3]}~1|{e[2, 3]}~2|"))
        for name, value in row.items():
            if isinstance(value, dict) and "score" in value:
                theirs.setdefault(name, {})[len(archs) - 1] = float(value["score"])
            elif name == "val_accuracy":
                theirs.setdefault(name, {})[len(archs) - 1] = float(value)
    # a proxy missing from a row (NASLib's table has one such row) is NaN there; tau omits it
    return space, archs, {n: np.array([v.get(i, np.nan) for i in range(len(archs))]) for n, v in theirs.items()}


def tau(a, b) -> float:
    return float(kendalltau(a, b, nan_policy="omit").statistic)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    from gnnnas.data.paths import atomic_write
    from gnnnas.data.proxy import load_proxy
    from gnnnas.harness import environment
    from gnnnas.nn.executors import get_executor
    from gnnnas.nn.featurize import GraphFeaturizer
    from gnnnas.nn.probe import probe_scores

    torch.set_num_threads(1)
    space, archs, theirs = naslib_cells(args.data_dir)
    proxy = load_proxy("digits", seed=0)
    torch.manual_seed(0)  # the shared stem and classifier, as gnnnas.nn.probe.cached_probe_scores builds them
    executor = get_executor("nb201", space.vocab, proxy.in_channels, proxy.num_classes, width=args.width)
    featurizer = GraphFeaturizer(space.vocab).fit(archs)
    batch = featurizer.transform(archs)
    idx = torch.randperm(len(proxy.train_y), generator=torch.Generator().manual_seed(0))[: args.images]
    start = time.perf_counter()
    ours = probe_scores(executor, batch, proxy.train_x[idx], proxy.train_y[idx], seed=0)
    seconds = time.perf_counter() - start
    accuracy = theirs["val_accuracy"]
    rows = {}
    for name, values in ours.items():
        rows[f"gnnnas {name}"] = {"vs_naslib_same_proxy": tau(values, theirs[name]) if name in theirs else None,
                                  "vs_val_accuracy": tau(values, accuracy)}
    for name, values in theirs.items():
        if name != "val_accuracy":
            rows[f"NASLib {name}"] = {"vs_naslib_same_proxy": None, "vs_val_accuracy": tau(values, accuracy)}
    result = {"environment": environment(), "cells": len(archs), "images": args.images, "width": args.width,
              "seconds_725_cells": seconds, "threads": 1, "rows": rows}
    lines = ["# gnnnas's zero-cost proxies vs NASLib's on 725 NB201 cells", "",
             f"Cells: the {len(archs)} NB201 cells of NASLib's `zc_nasbench201.json` (CIFAR-10 entry). Ours: "
             f"the hypernetwork executor's network at width {args.width}, He-normal random weights (seed 0), "
             f"{args.images} digits images (8x8), scored in {seconds:.1f} s on 1 thread. NASLib's: the full NB201 "
             "network on CIFAR-10. Kendall tau-b against NASLib's score of the same proxy, and against the "
             "cells' CIFAR-10 validation accuracy (NASLib's `val_accuracy`); a cell without NASLib's score of a proxy "
             "is left out of that proxy's tau (one cell lacks some).", "",
             "| proxy | tau vs NASLib's same proxy | tau vs validation accuracy |", "| --- | --- | --- |"]
    for name, row in rows.items():
        same = "" if row["vs_naslib_same_proxy"] is None else f"{row['vs_naslib_same_proxy']:.3f}"
        lines.append(f"| {name} | {same} | {row['vs_val_accuracy']:.3f} |")
    RESULTS.mkdir(exist_ok=True)
    with atomic_write(RESULTS / "zero_cost_agreement.json", "w") as handle:
        json.dump(result, handle, indent=1)
    with atomic_write(RESULTS / "zero_cost_agreement.md", "w") as handle:
        handle.write("\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = list(rows)
        fig, ax = plt.subplots(figsize=(7, 0.3 * len(names) + 1.5))
        ax.barh(range(len(names)), [rows[n]["vs_val_accuracy"] for n in names],
                color=["C0" if n.startswith("gnnnas") else "grey" for n in names])
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_xlabel("Kendall tau-b vs CIFAR-10 validation accuracy (725 NB201 cells)")
        fig.tight_layout()
        fig.savefig(RESULTS / "zero_cost_agreement.png", dpi=100)
        plt.close(fig)
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
