"""gnnnas inside NNI: an NNI strategy searches NAS-Bench-201, a fitted predictor scores every model.

The example fits ``gnnnas.Predictor`` on ``--n-train`` labelled NB201 cells (the table
shipped with gnnnas, or ``$GNNNAS_DATA`` when set), writes NB201 as an NNI search space (six ``Categorical`` ops labelled ``i_j``, the labels of NNI's
``NasBench201Benchmark``), and runs NNI's ``RegularizedEvolution`` strategy in process
(``SequentialExecutionEngine``) with :class:`gnnnas.adapters.PredictorEvaluator` as the
evaluator: each sampled model is scored by the predictor (reported with
``nni.report_final_result``) instead of being trained. It prints the best models found with their
true accuracy, and ranks a batch of random NNI samples with :func:`gnnnas.adapters.rank_candidates`.

For a real network space, give ``PredictorEvaluator`` a ``to_arch`` that turns the sampled model
(NNI's ``ExecutableModelSpace``; its ``.sample`` dict) into a gnnnas architecture.

Needs: NNI 3 (``pip install "gnnnas[nni]"``; without it the example stops with that command);
no data directory. About 12 s CPU.

Run::

    python examples/adapter_nni.py
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import numpy as np

import gnnnas
from gnnnas.adapters import PredictorEvaluator, nb201_from_nni, rank_candidates

NNI_OPS = ("none", "skip_connect", "conv_1x1", "conv_3x3", "avg_pool_3x3")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--models", type=int, default=300, help="models the NNI strategy evaluates")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    try:
        import nni  # noqa: F401
    except ImportError:
        raise SystemExit('this example needs NNI 3: pip install "gnnnas[nni]"') from None
    from nni.mutable import Categorical, MutableDict
    from nni.nas.execution import SequentialExecutionEngine
    from nni.nas.space import RawFormatModelSpace
    from nni.nas.strategy import RegularizedEvolution

    logging.getLogger("nni").setLevel(logging.WARNING)  # NNI logs every model at INFO
    bench = gnnnas.load_benchmark("nb201")
    accuracy = dict(zip(bench.encodings, bench.y))
    train = np.random.default_rng(args.seed).permutation(len(bench.archs))[: args.n_train]
    predictor = gnnnas.Predictor("nb201", epochs=args.epochs, hidden_dim=64, num_layers=3, device="cpu",
                                 seed=args.seed).fit([bench.archs[i] for i in train], bench.y[train])

    edges = [f"{i}_{j}" for j in (1, 2, 3) for i in range(j)]  # 0_1, 0_2, 1_2, 0_3, 1_3, 2_3
    space = MutableDict({edge: Categorical(list(NNI_OPS), label=edge) for edge in edges})
    evaluator = PredictorEvaluator(predictor, to_arch=nb201_from_nni)
    model_space = RawFormatModelSpace.from_model(space, evaluator)
    strategy = RegularizedEvolution(population_size=30, sample_size=10)
    strategy.initialize(model_space, SequentialExecutionEngine(max_model_count=args.models))
    strategy.run()

    top = list(strategy.list_models(sort=True, limit=5))
    print(f"NNI RegularizedEvolution scored {args.models} models with the predictor; top 5:")
    for model in top:
        arch = nb201_from_nni(model.sample)
        print(f"  score {model.metric:7.2f}  true accuracy {accuracy[arch]:.2f}  {arch}")
    best_true = accuracy[nb201_from_nni(top[0].sample)]
    percentile = float((bench.y < best_true).mean() * 100)

    rng = np.random.RandomState(args.seed)
    candidates = [space.random(random_state=rng) for _ in range(500)]
    ranked = rank_candidates(predictor, candidates)
    true_sorted = [accuracy[nb201_from_nni(c)] for c, _ in ranked]
    tau = gnnnas.metrics.kendall_tau(true_sorted, [s for _, s in ranked])
    print(f"best found: true accuracy {best_true:.2f} (better than {percentile:.1f}% of NB201); "
          f"Kendall tau over 500 random NNI samples {tau:.3f}")
    return {"best_accuracy": best_true, "best_percentile": percentile, "kendall_tau": tau}


if __name__ == "__main__":
    main()
