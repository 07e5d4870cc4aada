"""gnnnas as a NASLib predictor: ``fit(xtrain, ytrain)`` / ``query(xtest)`` on real NB201 cells.

NASLib hands predictors its own graph objects; for NAS-Bench-201 their ``get_op_indices()`` /
``get_hash()`` is 6 op indices. This example stands in for NASLib's graphs with those indices
(NASLib itself is not on PyPI), fits ``NASLibPredictor`` on ``--n-train`` labelled cells of
``gnnnas.load_benchmark("nb201")`` (the table shipped with gnnnas, or ``$GNNNAS_DATA`` when
set), queries ``--n-test`` others and
prints Kendall tau. Inside NASLib, pass the predictor where NASLib expects one, e.g. to its
``PredictorEvaluator`` or a predictor-based optimizer.

Needs: the default install (``pip install gnnnas``); NASLib is not needed; no data directory.
About 12 s CPU.

Run::

    python examples/adapter_naslib.py
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

import gnnnas
from gnnnas.adapters import NASLibPredictor
from gnnnas.adapters.naslib import nb201_to_op_indices


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=100)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    bench = gnnnas.load_benchmark("nb201")
    order = np.random.default_rng(args.seed).permutation(len(bench.archs))
    train, test = order[: args.n_train], order[args.n_train: args.n_train + args.n_test]

    # What NASLib passes for NB201: op indices (its get_hash()), one tuple per architecture.
    xtrain = [nb201_to_op_indices(bench.encodings[i]) for i in train]
    xtest = [nb201_to_op_indices(bench.encodings[i]) for i in test]

    predictor = NASLibPredictor(ss_type="nasbench201", epochs=args.epochs, hidden_dim=64, num_layers=3,
                                device="cpu", seed=args.seed)
    predictor.pre_process()
    predictor.fit(xtrain, bench.y[train], train_info=None)
    predictions = predictor.query(xtest, info=None)  # scaled like ytrain; a ranking, not calibrated

    tau = gnnnas.metrics.kendall_tau(bench.y[test], predictions)
    best = int(np.argmax(predictions))
    print(f"fitted on {len(train)} NB201 cells, queried {len(test)}: Kendall tau {tau:.3f}")
    print(f"top predicted cell {xtest[best]} = {bench.encodings[test[best]]}: "
          f"accuracy {bench.y[test[best]]:.2f} (best of the queried cells {bench.y[test].max():.2f})")
    return {"kendall_tau": tau, "n_test": len(test)}


if __name__ == "__main__":
    main()
