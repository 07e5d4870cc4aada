"""Plot Kendall tau vs number of training labels from benchmarks/results/<protocol>.json.

    python benchmarks/plot_tau.py p201      # writes benchmarks/results/p201.png

Needs matplotlib (``pip install gnnnas[plots]``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__)
        return 2
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plotting needs matplotlib: pip install gnnnas[plots]", file=sys.stderr)
        return 2
    for stem in argv:
        path = RESULTS / f"{stem.lower()}.json"
        payload = json.loads(path.read_text())
        fig, ax = plt.subplots(figsize=(6, 4))
        models = list(dict.fromkeys(s["model"] for s in payload["summary"]))
        # curves only: variants measured at one or two sizes are in the tables, not the plot
        models = [m for m in models if sum(s["model"] == m for s in payload["summary"]) >= 3]
        for model in models:
            rows = sorted((s for s in payload["summary"] if s["model"] == model), key=lambda s: s["train_size"])
            x = [s["train_size"] for s in rows]
            y = [s["kendall_tau_mean"] for s in rows]
            e = [s["kendall_tau_std"] for s in rows]
            ax.errorbar(x, y, yerr=e, marker="o", capsize=3, label=model)
        ax.set_xscale("log")
        ax.set_xlabel("training architectures (labels)")
        ax.set_ylabel("Kendall tau (mean ± std over seeds)")
        ax.set_title(payload["protocol"]["name"])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        out = path.with_suffix(".png")
        fig.savefig(out, dpi=120)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
