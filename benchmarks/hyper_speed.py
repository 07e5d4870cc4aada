"""Wall time of the hypernetwork task: executor throughput and training epochs with / without it.

    python benchmarks/hyper_speed.py                 # CPU
    python benchmarks/hyper_speed.py --device cuda   # on a GPU machine

Measures (median of --repeats):
- executor forward + backward (hypernetwork head included) for 16 archs x 32 digits images
  (8x8) at width 8, per space: archs sampled from the space, seconds per step and
  arch-images per second;
- a training epoch on P201 seed 0 with 469 labels (15 ranking steps of 32 archs), ranking only
  vs with the hypernetwork task (defaults: 16 archs x 32 images every 2nd step);
- one full default fit on those 469 labels with the hypernetwork (goal: under 5 minutes on the
  2-core CPU).
Writes benchmarks/results/hyper_speed.json and .md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import gnnnas
from gnnnas.data.paths import atomic_write
from gnnnas.data.proxy import load_proxy
from gnnnas.harness import environment
from gnnnas.nn.executors import get_executor
from gnnnas.nn.featurize import GraphFeaturizer
from gnnnas.nn.hypernet import HyperNetworkHead

RESULTS = Path(__file__).resolve().parent / "results"


def executor_step_seconds(space_name: str, device: torch.device, repeats: int, archs: int = 16, images: int = 32) -> float:
    space = gnnnas.get_space(space_name)
    rng = np.random.default_rng(0)
    graphs = [space.sample(rng) for _ in range(archs)]
    feat_dim = 0 if graphs[0].node_features is None else graphs[0].node_features.shape[1]
    batch = GraphFeaturizer(space.vocab, node_feature_dim=feat_dim, prune=True, contract_identities=True).fit(graphs).transform(graphs).to(device)
    proxy = load_proxy("digits")
    executor = get_executor(space_name, space.vocab, proxy.in_channels, proxy.num_classes, 8).to(device)
    head = HyperNetworkHead(128, executor.weight_specs()).to(device)
    emb = torch.randn(archs, batch.op.shape[1], 128, device=device, requires_grad=True)
    x, y = proxy.train_x[:images].to(device), proxy.train_y[:images].to(device)

    def step():
        logits = executor(batch, head(emb), head.unpack, x)
        F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.repeat(archs)).backward()
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--spaces", default="nb201,nb101,darts,macro,vit")
    parser.add_argument("--skip-full-fit", action="store_true")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=str(RESULTS / "hyper_speed"))
    args = parser.parse_args(argv)
    device = torch.device(args.device)

    executors = {}
    for name in args.spaces.split(","):
        seconds = executor_step_seconds(name, device, args.repeats)
        executors[name] = {"step_seconds": seconds, "arch_images_per_second": 16 * 32 / seconds}
        print(f"executor {name}: {seconds:.3f} s per step", flush=True)

    bench = gnnnas.load_benchmark("nb201", data_dir=args.data_dir)
    train = np.random.RandomState(0).permutation(len(bench))[:469]
    archs, y = [bench.archs[i] for i in train], bench.y[train]
    epochs = {}
    for hyper in (False, True):
        per_epoch = []
        for _ in range(max(1, args.repeats // 2)):
            pred = gnnnas.Predictor(space="nb201", seed=0, epochs=5, hypernetwork=hyper, device=args.device)
            start = time.perf_counter()
            pred.fit(archs, y)
            per_epoch.append((time.perf_counter() - start) / 5)
        epochs["hypernetwork" if hyper else "ranking_only"] = statistics.median(per_epoch)
        print(f"epoch ({'with' if hyper else 'without'} hypernetwork): {epochs['hypernetwork' if hyper else 'ranking_only']:.2f} s", flush=True)
    full = None
    if not args.skip_full_fit:
        pred = gnnnas.Predictor(space="nb201", seed=0, hypernetwork=True, device=args.device)
        start = time.perf_counter()
        pred.fit(archs, y)
        full = {"seconds": time.perf_counter() - start, "epochs": len(pred.history_[0]),
                "kendall_tau_P201_seed0": gnnnas.metrics.kendall_tau(bench.y, pred.predict(bench.archs))}
        print(f"full fit with hypernetwork: {full['seconds']:.0f} s", flush=True)

    result = {"environment": environment() | {"device": args.device}, "executors": executors,
              "epoch_seconds_469": epochs, "full_fit_469_hypernetwork": full, "repeats": args.repeats}
    out = Path(args.out)
    with atomic_write(out.with_suffix(".json"), "w") as handle:
        json.dump(result, handle, indent=1)
    lines = [
        "# Hypernetwork task: speed",
        "",
        f"Environment: {result['environment']}",
        "",
        "| executor (16 archs x 32 digits images, width 8, forward + backward) | s per step | arch-images / s |",
        "| --- | --- | --- |",
        *[f"| {k} | {v['step_seconds']:.3f} | {v['arch_images_per_second']:.0f} |" for k, v in executors.items()],
        "",
        "| P201, 469 labels, seed 0 | seconds |",
        "| --- | --- |",
        f"| epoch, ranking only (15 steps) | {epochs['ranking_only']:.2f} |",
        f"| epoch, + hypernetwork (16 archs x 32 images every 2nd step) | {epochs['hypernetwork']:.2f} |",
    ]
    if full:
        lines.append(f"| full default fit with the hypernetwork ({full['epochs']} epochs; goal < 300 s on 2 CPU cores) "
                     f"| {full['seconds']:.0f} |")
    lines += ["", f"Medians of {args.repeats} steps / {max(1, args.repeats // 2)} five-epoch fits."]
    with atomic_write(out.with_suffix(".md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
