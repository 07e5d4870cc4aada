"""Peak memory and CPU time of the ``zero_cost`` / ``flow`` probes against how many
architectures run together (``archs_per_chunk`` of :func:`gnnnas.nn.probe.probe_scores`).

    python benchmarks/probe_chunk.py [--spaces nb201,nb101,vit,darts,macro] [--archs 256] [--chunks 4,8,16,32,128]

Protocol: ``--archs`` architectures sampled with seeds 0..archs-1 from each space, featurised as
the probe cache does, probed by :func:`~gnnnas.nn.probe.probe_scores` (width 8, the first 64
digits training images, seed 0, one torch thread), each (space, chunk) in its own child process
so that its peak resident memory (``ru_maxrss``) is its own; the chunks of a space run one after
another, in the order given, once each. Reported: process CPU seconds per architecture, the peak
resident memory and what it adds to the process before probing (the space, the executor, the
featurised batch), and the largest relative difference of any score from the first chunk's
(the scores must not depend on the chunk). Results: benchmarks/results/probe_chunk.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import RESULTS, write_report  # benchmarks/ is not a package; also puts the repo on sys.path

from gnnnas.harness import environment


def child(space_name: str, archs: int, chunk: int, scores_out: str) -> None:
    """One measurement, in a fresh process: prints a JSON line."""
    import resource
    import time

    import numpy as np
    import torch

    import gnnnas
    from gnnnas.data.proxy import load_proxy
    from gnnnas.nn.executors import get_executor
    from gnnnas.nn.featurize import GraphFeaturizer
    from gnnnas.nn.probe import probe_scores

    torch.set_num_threads(1)
    space = gnnnas.get_space(space_name)
    proxy = load_proxy("digits", seed=0)
    torch.manual_seed(0)
    executor = get_executor(space_name, space.vocab, in_channels=proxy.in_channels,
                            num_classes=proxy.num_classes, width=8)
    graphs = [space.sample(np.random.default_rng(i)) for i in range(archs)]
    dim = 0 if graphs[0].node_features is None else graphs[0].node_features.shape[1]
    batch = GraphFeaturizer(space.vocab, node_feature_dim=dim).fit(graphs).transform(graphs)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu = time.process_time()
    scores = probe_scores(executor, batch, proxy.train_x[:64], proxy.train_y[:64], archs_per_chunk=chunk)
    cpu = time.process_time() - cpu
    np.savez(scores_out, **scores)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"space": space_name, "archs": archs, "chunk": chunk, "cpu_s": cpu,
                      "cpu_ms_per_arch": 1000 * cpu / archs, "rss_before_mb": before, "peak_rss_mb": peak}))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", default="nb201,nb101,vit,darts,macro")
    parser.add_argument("--archs", type=int, default=256)
    parser.add_argument("--chunks", default="4,8,16,32,128")
    parser.add_argument("--out", default=str(RESULTS / "probe_chunk"))
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]), args.child[3])
        return 0
    import tempfile

    import numpy as np

    chunks = [int(c) for c in args.chunks.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for space in args.spaces.split(","):
            reference = None
            for chunk in chunks:
                out = os.path.join(tmp, f"{space}-{chunk}.npz")
                load = os.getloadavg()[0]
                done = subprocess.run([sys.executable, __file__, "--child", space, str(args.archs), str(chunk), out],
                                      check=True, capture_output=True, text=True)
                row = json.loads(done.stdout.strip().splitlines()[-1])
                with np.load(out) as stored:
                    scores = {k: stored[k] for k in stored.files}
                reference = scores if reference is None else reference
                row["max_rel_diff"] = max(float(np.max(np.abs(scores[k] - reference[k]) / (np.abs(reference[k]) + 1e-6)))
                                          for k in scores)
                row["load_before"] = load
                rows.append(row)
                print(row, flush=True)
    lines = ["# Probe chunk size: peak memory and CPU time", "",
             (f"{args.archs} architectures per space (sampled with seeds 0..{args.archs - 1}), `probe_scores` at width 8 "
              "on 64 digits images, seed 0, 1 torch thread, one child process per (space, chunk), measured once; "
              "peak = the child's peak resident memory, added = peak minus the resident memory before probing; "
              f"max rel diff = largest relative difference of any score from chunk {chunks[0]}'s. "
              f"Environment: {({**environment(), 'torch_threads': 1})}."), "",
             "| space | archs per chunk | CPU ms / arch | peak MiB | added MiB | max rel diff | load before |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['space']} | {r['chunk']} | {r['cpu_ms_per_arch']:.0f} | {r['peak_rss_mb']:.0f} | "
              f"{r['peak_rss_mb'] - r['rss_before_mb']:.0f} | {r['max_rel_diff']:.1e} | {r['load_before']:.1f} |"
              for r in rows]

    def draw(ax):
        for space in args.spaces.split(","):
            mine = [r for r in rows if r["space"] == space]
            ax.plot([r["peak_rss_mb"] / 1024 for r in mine], [r["cpu_ms_per_arch"] for r in mine], "o-", label=space)
            for r in mine:
                ax.annotate(str(r["chunk"]), (r["peak_rss_mb"] / 1024, r["cpu_ms_per_arch"]), fontsize=7)
        ax.set_xlabel("peak resident memory, GiB")
        ax.set_ylabel("CPU ms per architecture")
        ax.legend(fontsize=7)

    write_report(Path(args.out), {"environment": {**environment(), "torch_threads": 1}, "rows": rows}, lines, draw)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
