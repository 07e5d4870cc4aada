"""Paired-by-seed comparison tables shared by the benchmark summaries (convs.py, pretrain.py).

Records come from ``run_protocol.py`` JSON files; every model is compared with one baseline model
on the seeds both ran: mean Kendall tau-b, the paired difference, wins/losses and a two-sided
sign test (scipy's ``binomtest``).
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from scipy.stats import binomtest


def load(path: Path, rename: str | None = None) -> list[dict]:
    """The records of one run_protocol.py JSON file (``rename``: give every record this model name)."""
    if not path.exists():
        return []
    records = json.loads(path.read_text())["records"]
    for r in records:
        r["model"] = rename or r["model"]
    return records


#: from this date on, run_protocol.py's `gnnnas` starts NB201 fits from the shipped encoder
#: (Predictor's pretrained="auto"); `gnnnas-scratch` is the random start `gnnnas` had before
SHIPPED_START_SINCE = "2026-12-04"


def load_from_scratch(path: Path, nb201: bool) -> list[dict]:
    """The records of one run_protocol.py file with the random-start GCN named ``gnnnas``, as it
    was named before the default start changed: ``gnnnas-scratch`` runs become ``gnnnas``, and on
    NB201 protocols (``nb201``) ``gnnnas`` runs from the shipped encoder become ``gnnnas-shipped-start``
    (told by the record's ``encoder_start`` where it has one, else by the file's date)."""
    if not path.exists():
        return []
    written = json.loads(path.read_text())["environment"]["date"]
    records = load(path)
    for r in records:
        start = r.get("encoder_start")
        shipped = start.startswith("shipped:") if start is not None else written >= SHIPPED_START_SINCE
        if r["model"] == "gnnnas" and nb201 and shipped:
            r["model"] = "gnnnas-shipped-start"
        elif r["model"] == "gnnnas-scratch":
            r["model"] = "gnnnas"
    return records


def _by_model_size(records: list[dict]) -> dict:
    """``{(model, train_size): {seed: record}}``."""
    by = defaultdict(dict)
    for r in records:
        by[(r["model"], r["train_size"])][r["seed"]] = r
    return by


def _sign_test(diffs: list[float]) -> tuple[int, int, float]:
    """``(wins, losses, two-sided sign-test p)`` of paired differences; ties leave the test."""
    wins, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    return wins, losses, binomtest(wins, wins + losses).pvalue if wins + losses else 1.0


def paired_rows(records: list[dict], baseline: str) -> tuple[dict, list[str]]:
    """``(table {N: {model: row}}, markdown lines)`` of one protocol's records."""
    by = _by_model_size(records)
    sizes = sorted({n for _, n in by})
    models = sorted({m for m, _ in by}, key=lambda m: (m != baseline, m != "gnnnas", m))
    table: dict = {}
    lines = [f"| model | N | test set | seeds | tau mean ± sd | diff vs {baseline} | wins/losses | sign p | fit s (median) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for n in sizes:
        for model in models:
            runs = by.get((model, n))
            if not runs:
                continue
            taus = [r["kendall_tau"] for r in runs.values()]
            row = {"seeds": sorted(runs), "test_size": next(iter(runs.values()))["test_size"],
                   "tau_mean": statistics.mean(taus), "tau_sd": statistics.stdev(taus) if len(taus) > 1 else 0.0,
                   "fit_seconds_median": statistics.median(r["fit_seconds"] for r in runs.values())}
            base = by.get((baseline, n), {})
            common = sorted(set(runs) & set(base))
            diff_text, wl, p_text = "", "", ""
            if model != baseline and common:
                diffs = [runs[s]["kendall_tau"] - base[s]["kendall_tau"] for s in common]
                wins, losses, p = _sign_test(diffs)
                row |= {"paired_seeds": common, "diff_mean": statistics.mean(diffs), "wins": wins,
                        "losses": losses, "sign_p": p}
                diff_text, wl, p_text = f"{statistics.mean(diffs):+.3f}", f"{wins}/{losses}", f"{p:.2f}"
            table.setdefault(str(n), {})[model] = row
            lines.append(f"| {model} | {n} | {row['test_size']} | {len(taus)} | {row['tau_mean']:.3f} ± "
                         f"{row['tau_sd']:.3f} | {diff_text} | {wl} | {p_text} | {row['fit_seconds_median']:.0f} |")
    return table, lines


def overview_rows(protocols: dict[str, list[dict]], baseline: str) -> tuple[dict, list[str]]:
    """One row per (protocol, model): the paired difference to ``baseline`` at each train size
    (``diff wins/losses``), over every (train size, seed) pair of the protocol together with the
    two-sided sign test of those pooled pairs, and per seed (its mean difference over the sizes it
    ran) with the sign test over seeds; ``protocols`` maps a title to its records."""
    table: dict = {}
    header = (f"| protocol | model | paired diff vs {baseline} per N (wins/losses) | all pairs wins/losses | "
              "mean diff | sign p | seeds up/down (mean over N) | sign p (seeds) |")
    lines = [header, "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for title, records in protocols.items():
        by = _by_model_size(records)
        models = sorted({m for m, _ in by if m != baseline})
        for model in models:
            cells, pooled, per_seed = [], [], defaultdict(list)
            for n in sorted({n for m, n in by if m == model}):
                base, runs = by.get((baseline, n), {}), by[(model, n)]
                common = sorted(set(runs) & set(base))
                diffs = [runs[s]["kendall_tau"] - base[s]["kendall_tau"] for s in common]
                for seed, d in zip(common, diffs, strict=True):
                    per_seed[seed].append(d)
                if diffs:
                    up_n, down_n, _ = _sign_test(diffs)
                    cells.append(f"{n}: {statistics.mean(diffs):+.3f} ({up_n}/{down_n})")
                    pooled += diffs
            if not pooled:
                continue
            wins, losses, p = _sign_test(pooled)
            up, down, p_seeds = _sign_test([statistics.mean(d) for d in per_seed.values()])
            table.setdefault(title, {})[model] = {"pairs": len(pooled), "wins": wins, "losses": losses,
                                                  "diff_mean": statistics.mean(pooled), "sign_p": p,
                                                  "seeds_up": up, "seeds_down": down, "sign_p_seeds": p_seeds}
            lines.append(f"| {title} | {model} | {'; '.join(cells)} | {wins}/{losses} | "
                         f"{statistics.mean(pooled):+.3f} | {p:.3f} | {up}/{down} | {p_seeds:.3f} |")
    return table, lines


def write_summary(out: Path, table: dict, lines: list[str], baseline: str, extra: dict | None = None) -> None:
    """``out``.json (environment + table + ``extra``'s keys), .md (``lines``) and .png (:func:`plot`
    of ``table``), atomically; the markdown is printed too."""
    from gnnnas.data.paths import atomic_write
    from gnnnas.harness import environment

    with atomic_write(out.with_suffix(".json"), "w") as handle:
        json.dump({"environment": environment(), "table": table, **(extra or {})}, handle, indent=1)
    with atomic_write(out.with_suffix(".md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    try:
        plot(table, out.with_suffix(".png"), baseline)
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
    print("\n".join(lines))


def plot(table: dict, path: Path, baseline: str) -> None:
    """One bar panel per (protocol, N): mean tau ± sd of every model, the baseline in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(p, n) for p in table for n in sorted(table[p], key=int)]
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 4 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (proto, n) in zip(axes.flat, panels):
        models = table[proto][n]
        names = list(models)
        means = [models[m]["tau_mean"] for m in names]
        sds = [models[m]["tau_sd"] for m in names]
        ax.barh(range(len(names)), means, xerr=sds, color=["grey" if m == baseline else "C0" for m in names])
        ax.set_yticks(range(len(names)), [m.replace("gnnnas-", "") for m in names], fontsize=8)
        ax.set_xlim(min(means) - 0.05, max(means) + 0.03)
        ax.set_title(f"{proto.upper()} N={n}")
        ax.set_xlabel("Kendall tau-b (mean ± sd over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
