"""What pre-training costs per space, and what fine-tuning from the shipped NB201 encoder costs.

    python benchmarks/pretrain_cost.py [--spaces nb201,nb101,...] [--pretext costs] [--threads 1]

Protocol: for each built-in space, ``Predictor(space=S, pretrain=PRETEXT, seed=0).pretrain_only()``
with the default schedule (every cell of a finite space of at most ``pretrain_archs`` = 20,000,
else 20,000 seeded samples; 10 epochs, batch 256, AdamW), one process, one torch thread. Then
the issue-17 fine-tuning cost: the default predictor (which starts from the shipped NB201
encoder) fitted on the 469 labels of P201 seed 0. Wall and process CPU seconds of each are
reported, with the 1-minute load average before and after: on a shared machine wall time grows
with the load, CPU seconds much less. With ``zero_cost`` or ``flow`` the time includes building
the probe cache (every architecture's network at initialisation) where the cache directory has
no file for the space yet; each row says whether the directory held a probe file of the space
before the run ("a file of the space before": of any width, seed or probe batch, so the run may
have added rows; "built in this run": it had none). Results: benchmarks/results/pretrain_cost.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import RESULTS, write_report  # benchmarks/ is not a package; also puts the repo on sys.path

import gnnnas
from gnnnas.harness import environment
from gnnnas.predictor import auto_epochs

SPACES = ("nb201", "nb101", "darts", "vit", "macro", "nasbench_graph")


def _timed(work) -> tuple[object, dict]:
    load_before = os.getloadavg()[0]
    start, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, {"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu,
                    "load_before": load_before, "load_after": os.getloadavg()[0]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", default=",".join(SPACES))
    parser.add_argument("--pretext", default="costs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-finetune", action="store_true", help="skip the 469-label NB201 fine-tuning run")
    parser.add_argument("--out", default=str(RESULTS / "pretrain_cost"))
    args = parser.parse_args(argv)
    from gnnnas.data.paths import resolve_cache_dir
    from gnnnas.nn.pretext import parse_pretrain

    probed = bool({"zero_cost", "flow"} & set(parse_pretrain(args.pretext)))
    rows = []
    for name in args.spaces.split(","):
        probes = resolve_cache_dir() / "probes"
        cached = probes.is_dir() and any(p.name.startswith(f"{name}-") for p in probes.iterdir())
        predictor = gnnnas.Predictor(space=name, pretrain=args.pretext, seed=0, num_threads=args.threads)
        _, cost = _timed(predictor.pretrain_only)
        info = predictor.pretrained_encoder_.pretrain
        rows.append({"stage": "pretrain", "space": name, "pretext": args.pretext, "archs": info["archs"],
                     "epochs": info["epochs"], "last_loss": info["history"][-1]["loss"],
                     "probe_cache": ("a file of the space before" if cached else "built in this run")
                     if probed else None, **cost})
        print(json.dumps(rows[-1]), flush=True)
    if not args.no_finetune:
        bench = gnnnas.load_benchmark("nb201")
        idx = np.random.RandomState(0).permutation(len(bench))[:469]
        predictor = gnnnas.Predictor(space="nb201", seed=0, num_threads=args.threads)
        _, cost = _timed(lambda: predictor.fit([bench.archs[i] for i in idx], bench.y[idx]))
        assert predictor.pretrained_encoder_ is not None, "the default NB201 predictor should start from the shipped encoder"
        rows.append({"stage": "fine-tune (P201 seed 0, 469 labels, from the shipped encoder)", "space": "nb201",
                     "pretext": None, "archs": 469, "epochs": auto_epochs(469, predictor.batch_size),
                     "last_loss": None, **cost})
        print(json.dumps(rows[-1]), flush=True)
    payload = {"environment": {**environment(), "torch_threads": args.threads}, "rows": rows}
    lines = ["# Pre-training cost per space, and fine-tuning from the shipped NB201 encoder", "",
             (f"`Predictor(space=S, pretrain={args.pretext!r}, seed=0).pretrain_only()` with the default schedule, "
              f"{args.threads} torch thread(s), one process; then the default NB201 predictor (starts from "
              "gnnnas/pretrained/nb201.safetensors) fitted on P201 seed 0's 469 labels. Load = 1-minute load "
              f"average before / after. Environment: {environment()}."), "",
             "| stage | space | archs | epochs | probe cache | wall s | CPU s | load before / after |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['stage']} | {r['space']} | {r['archs']} | {r['epochs'] if r['epochs'] is not None else ''} | "
              f"{r.get('probe_cache') or ''} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | "
              f"{r['load_before']:.1f} / {r['load_after']:.1f} |" for r in rows]

    def draw(ax):
        labels = [r["space"] if r["stage"] == "pretrain" else "nb201 fine-tune 469" for r in rows]
        ax.barh(labels, [r["cpu_s"] for r in rows], color="C0", label="CPU s")
        ax.barh(labels, [r["wall_s"] for r in rows], color="none", edgecolor="k", label="wall s")
        ax.set_xlabel("seconds")
        ax.legend()

    write_report(Path(args.out), payload, lines, draw)
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    raise SystemExit(main())
