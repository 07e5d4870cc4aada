"""Figures of measured results: Kendall tau against the number of training labels.

Needs matplotlib (``pip install "gnnnas[plots]"``); importing this module does not import it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["plot_tau"]


def plot_tau(summary: Sequence[Mapping[str, Any]], path: str | os.PathLike, title: str = "",
             min_points: int = 1) -> Path:
    """Write a PNG of Kendall tau (mean ± std over seeds) vs training-set size, one curve per model.

    ``summary``: rows with ``model``, ``train_size``, ``kendall_tau_mean`` and ``kendall_tau_std``
    (:func:`gnnnas.harness.summarise` as dicts, or the ``summary`` of a results JSON).
    ``min_points``: models measured at fewer sizes are left to the tables. The x axis is
    logarithmic (labels). Raises ``ImportError`` with the install command without matplotlib.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError('plotting needs matplotlib: pip install "gnnnas[plots]"') from None
    from gnnnas.files import atomic_write

    rows = [dict(r) for r in summary]
    models = list(dict.fromkeys(r["model"] for r in rows))
    models = [m for m in models if sum(r["model"] == m for r in rows) >= min_points]
    fig, ax = plt.subplots(figsize=(6, 4))
    try:
        for model in models:
            mine = sorted((r for r in rows if r["model"] == model), key=lambda r: r["train_size"])
            ax.errorbar([r["train_size"] for r in mine], [r["kendall_tau_mean"] for r in mine],
                        yerr=[r["kendall_tau_std"] for r in mine], marker="o", capsize=3, label=model)
        ax.set_xscale("log")
        ax.set_xlabel("training architectures (labels)")
        ax.set_ylabel("Kendall tau-b (mean ± std over seeds)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = Path(path)
        with atomic_write(path) as handle:
            fig.savefig(handle, dpi=120, format="png")
    finally:
        plt.close(fig)
    return path
