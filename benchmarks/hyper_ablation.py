"""Does the hypernetwork task pay for itself? Paired comparison on P201, from p201.json.

    python benchmarks/hyper_ablation.py

Reads the P201 records written by ``run_protocol.py`` (models ``gnnnas`` = ranking only and the
``gnnnas-hyper*`` variants, same splits and seeds) and writes
benchmarks/results/hyper_ablation.{json,md}: per variant and N, the mean Kendall tau, the mean
of the per-seed differences to ranking-only, how many seeds improved, and a two-sided paired
t-test p-value over the seeds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy import stats

RESULTS = Path(__file__).resolve().parent / "results"
BASE = "gnnnas"


def main() -> int:
    data = json.loads((RESULTS / "p201.json").read_text())
    tau = {(r["model"], r["train_size"], r["seed"]): r["kendall_tau"] for r in data["records"]}
    fit = {(r["model"], r["train_size"], r["seed"]): r["fit_seconds"] for r in data["records"]}
    variants = sorted({m for m, _, _ in tau if m.startswith("gnnnas-hyper") or m == "np-gcn-hyper"})
    rows = []
    for model in variants:
        base_model = "np-gcn" if model == "np-gcn-hyper" else BASE
        for size in sorted({n for m, n, _ in tau if m == model}):
            seeds = sorted(s for m, n, s in tau if m == model and n == size and (base_model, n, s) in tau)
            if not seeds:
                continue
            ours = np.array([tau[(model, size, s)] for s in seeds])
            base = np.array([tau[(base_model, size, s)] for s in seeds])
            diff = ours - base
            p = float(stats.ttest_rel(ours, base).pvalue) if len(seeds) > 1 and diff.std() > 0 else None
            rows.append({
                "model": model, "baseline": base_model, "train_size": size, "seeds": seeds,
                "tau": float(ours.mean()), "tau_ranking_only": float(base.mean()),
                "mean_gain": float(diff.mean()), "seeds_improved": int((diff > 0).sum()),
                "paired_t_p": p, "per_seed_gain": diff.round(4).tolist(),
                "fit_seconds": float(np.mean([fit[(model, size, s)] for s in seeds])),
            })
    descriptions = data.get("models", {})
    (RESULTS / "hyper_ablation.json").write_text(json.dumps({"base": BASE, "rows": rows}, indent=1))
    lines = [
        "# P201: the hypernetwork task vs ranking only (paired by seed)",
        "",
        (
            "Same splits and seeds as `p201.json` (numpy RandomState(seed).permutation, tau over all 15,625 "
            "archs). Gain = tau(variant) - tau(ranking only) per seed; p = two-sided paired t-test over seeds. "
            "Fit seconds were measured with several benchmarks sharing the 2-core CPU (see hyper_speed.md "
            "for quiet timings)."
        ),
        "",
        "| variant | N | seeds | tau | same model without the task | mean gain | seeds improved | p | fit s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        p = "" if r["paired_t_p"] is None else f"{r['paired_t_p']:.2f}"
        lines.append(f"| {r['model']} | {r['train_size']} | {len(r['seeds'])} | {r['tau']:.3f} | {r['tau_ranking_only']:.3f} | "
                     f"{r['mean_gain']:+.3f} | {r['seeds_improved']}/{len(r['seeds'])} | {p} | {r['fit_seconds']:.0f} |")
    lines += ["", "Variants:", ""] + [f"- `{m}`: {descriptions.get(m, '')}" for m in variants]
    (RESULTS / "hyper_ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
