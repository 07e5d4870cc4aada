"""Plot Kendall tau vs number of training labels from benchmarks/results/<protocol>.json.

    python benchmarks/plot_tau.py p201      # writes benchmarks/results/p201.png

Needs matplotlib (``pip install gnnnas[plots]``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(RESULTS.parents[1]))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__)
        return 2
    from gnnnas.plots import plot_tau

    for stem in argv:
        path = RESULTS / f"{stem.lower()}.json"
        payload = json.loads(path.read_text())
        # curves only: variants measured at one or two sizes are in the tables, not the plot
        try:
            out = plot_tau(payload["summary"], path.with_suffix(".png"), payload["protocol"]["name"], min_points=3)
        except ImportError as error:
            print(error, file=sys.stderr)
            return 2
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
