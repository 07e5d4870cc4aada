"""gnnnas as an Archai surrogate: ``fit(X, y)`` / ``predict(X) -> MeanVar`` on array rows.

Archai's Bayesian searchers (e.g. MO-BANANAS) give the surrogate the arrays that the search
space's ``encode(model)`` returns. Here the rows come from :class:`gnnnas.adapters.ArrayEncoding`
(lossless: each row decodes to the exact graph), for ``--n-train`` labelled NB201 cells of
``gnnnas.load_benchmark("nb201")`` (the table shipped with gnnnas, or ``$GNNNAS_DATA`` when
set), with two targets as in a multi-objective search: accuracy and the number of
parameters (in millions). The surrogate predicts ``--n-test`` other cells; the example prints
Kendall tau per target, the mean predicted variance, and picks a candidate by one Thompson-style
draw from the predicted mean and variance, as MO-BANANAS does.

In an Archai search space, return ``encoding.encode([arch])[0]`` from ``encode(model)`` and pass
``ArchaiPredictor(encoding=encoding)`` as the surrogate. Works with or without Archai installed
(``pip install 'gnnnas[archai]'``).

Needs: the default install (``pip install gnnnas``); with ``gnnnas[archai]`` the surrogate is a
subclass of Archai's own ``Predictor``, without it a stand-in with the same interface; no data
directory. About 25 s CPU (three bagged members per target).

Run::

    python examples/adapter_archai.py
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

import gnnnas
from gnnnas.adapters import ArchaiPredictor, ArrayEncoding
from gnnnas.adapters.archai import HAVE_ARCHAI


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=100)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    bench = gnnnas.load_benchmark("nb201")
    order = np.random.default_rng(args.seed).permutation(len(bench.archs))
    train, test = order[: args.n_train], order[args.n_train: args.n_train + args.n_test]

    encoding = ArrayEncoding("nb201")
    x_train = encoding.encode([bench.archs[i] for i in train])  # [n, encoding.width] float64
    x_test = encoding.encode([bench.archs[i] for i in test])
    params = np.array([a.macro["params"] / 1e6 for a in bench.archs])
    y_train = np.stack([bench.y[train], params[train]], axis=1)  # [n, 2 targets]

    surrogate = ArchaiPredictor(encoding=encoding, n_members=args.members, epochs=args.epochs, hidden_dim=64,
                                num_layers=3, device="cpu", seed=args.seed)
    surrogate.fit(x_train, y_train)
    pred = surrogate.predict(x_test)  # MeanVar: mean and var, each [n_test, 2]

    tau_acc = gnnnas.metrics.kendall_tau(bench.y[test], pred.mean[:, 0])
    tau_params = gnnnas.metrics.kendall_tau(params[test], pred.mean[:, 1])
    draw = np.random.default_rng(args.seed).normal(pred.mean[:, 0], np.sqrt(pred.var[:, 0]))
    pick = int(np.argmax(draw))
    print(f"Archai base class: {'archai' if HAVE_ARCHAI else 'stand-in (Archai not installed)'}; "
          f"rows of width {encoding.width}")
    print(f"fitted on {len(train)} NB201 cells, predicted {len(test)}: Kendall tau accuracy {tau_acc:.3f}, "
          f"params {tau_params:.3f}; mean predicted std of accuracy {np.sqrt(pred.var[:, 0]).mean():.3f}")
    print(f"Thompson draw picks {bench.encodings[test[pick]]}: accuracy {bench.y[test[pick]]:.2f} "
          f"(best of the candidates {bench.y[test].max():.2f})")
    return {"kendall_tau": tau_acc, "kendall_tau_params": tau_params, "n_test": len(test)}


if __name__ == "__main__":
    main()
