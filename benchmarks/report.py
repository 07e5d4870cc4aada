"""Writing one benchmark's results: JSON, markdown and a plot, atomically (shared by the small
measurement scripts; benchmarks/ is not a package, scripts import it by path)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(RESULTS.parents[1]))


def write_report(out: Path, payload: dict, lines: list[str], draw: Callable | None = None) -> None:
    """``out``.json (``payload``), ``out``.md (``lines``) and, when matplotlib is installed,
    ``out``.png drawn by ``draw(axes)`` on one 6 x 3.5 in figure; prints the markdown."""
    from gnnnas.data.paths import atomic_write

    with atomic_write(out.with_suffix(".json"), "w") as handle:
        json.dump(payload, handle, indent=1)
    with atomic_write(out.with_suffix(".md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    if draw is not None:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib not installed: no plot", file=sys.stderr)
        else:
            fig, ax = plt.subplots(figsize=(6, 3.5))
            draw(ax)
            fig.tight_layout()
            fig.savefig(out.with_suffix(".png"), dpi=100)
            plt.close(fig)
    print("\n".join(lines))
