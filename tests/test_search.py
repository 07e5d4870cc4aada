import csv
import json

import numpy as np
import pytest

import gnnnas
from gnnnas.cli import main
from gnnnas.predictor import Predictor
from gnnnas.search import (
    BenchmarkOracle,
    SearchResult,
    UnknownArchitectureError,
    acquisition_scores,
    predictor_search,
    random_search,
    regularized_evolution,
)

SPACE = gnnnas.get_space("nb201")


def tiny_factory(space, seed):
    return Predictor(space=space, hidden_dim=16, num_layers=1, epochs=5, n_members=2, seed=seed)


class CountingOracle:
    """Cheap synthetic oracle: live conv ops (+ depth as a tie-breaker); records every call."""

    def __init__(self):
        self.calls = []

    def __call__(self, arch):
        self.calls.append(arch)
        return float(arch.prune().num_parametric_ops + 0.1 * arch.macro["cell_depth"])


def run(method, budget, seed=0, candidates=None, oracle=None):
    oracle = oracle if oracle is not None else CountingOracle()
    if method == "random":
        result = random_search(SPACE, oracle, budget, seed, candidates=candidates)
    elif method == "rea":
        result = regularized_evolution(SPACE, oracle, budget, seed, population=8, sample=3, candidates=candidates)
    else:
        result = predictor_search(SPACE, oracle, budget, seed, initial=6, per_round=5, pool=60,
                                  predictor_factory=tiny_factory, candidates=candidates)
    return result, oracle


@pytest.mark.parametrize("method", ["random", "rea", "predictor"])
def test_budget_respected_and_no_duplicates(method):
    result, oracle = run(method, budget=23)
    assert len(result) == 23 == len(oracle.calls)
    assert len(set(result.archs)) == 23
    assert oracle.calls == result.archs
    np.testing.assert_array_equal(result.values, [oracle(a) for a in result.archs])
    assert result.method == method
    assert np.all(np.diff(result.best_so_far) >= 0) and result.best_so_far[-1] == result.values.max()


@pytest.mark.parametrize("method", ["random", "rea", "predictor"])
def test_reproducible_with_a_seed(method):
    a, _ = run(method, budget=16, seed=3)
    b, _ = run(method, budget=16, seed=3)
    c, _ = run(method, budget=16, seed=4)
    assert a.archs == b.archs
    np.testing.assert_array_equal(a.values, b.values)
    assert a.archs != c.archs


@pytest.mark.parametrize("method", ["random", "rea", "predictor"])
def test_candidates_restrict_the_search_and_run_out(method):
    rng = np.random.default_rng(1)
    pool = [SPACE.sample(rng) for _ in range(30)]
    pool += pool[:5]  # duplicates in the list count once
    distinct = set(pool)
    result, _ = run(method, budget=50, candidates=pool)
    assert set(result.archs) == distinct and len(result) == len(distinct)
    small, _ = run(method, budget=12, candidates=pool)
    assert len(small) == 12 and set(small.archs) <= distinct


def test_mutation_among_candidates_prefers_near_neighbours():
    from gnnnas.search import _Run

    parent = SPACE.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|avg_pool_3x3~2|")
    near = SPACE.mutate(parent, 0)
    far = SPACE.parse("|avg_pool_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|nor_conv_3x3~1|none~2|")
    runner = _Run(SPACE, CountingOracle(), 5, [far, parent, near], "test", None)
    runner.query(parent)
    assert runner.mutate_unseen(parent, np.random.default_rng(0), k=2) == [near, far]


def test_predictor_search_records_rounds_and_finds_the_top():
    result, _ = run("predictor", budget=21)
    assert [r["queries"] for r in result.rounds] == [6, 11, 16, 21]
    assert all(r["fitted_on"] == r["queries"] - 5 for r in result.rounds[1:])
    assert result.best_value >= 5  # a 5-6 conv cell among 21 queries (random: ~5% of the space)


def test_predictor_search_falls_back_to_random_on_constant_labels():
    result = predictor_search(SPACE, lambda a: 1.0, 12, 0, initial=4, per_round=4, pool=20,
                              predictor_factory=tiny_factory)
    assert len(set(result.archs)) == 12 and all(r.get("fitted_on", 0) == 0 for r in result.rounds)


def _edits(a, b):
    return sum(x != y for x, y in zip(SPACE.edge_ops(a), SPACE.edge_ops(b)))


@pytest.mark.parametrize("local", [0.0, 1.0])
def test_local_share_queries_next_to_the_incumbent(local):
    result = predictor_search(SPACE, CountingOracle(), 16, 3, initial=6, per_round=10, pool=200, local=local,
                              predictor_factory=tiny_factory)
    incumbent = result.archs[int(np.argmax(result.values[:6]))]
    distances = [_edits(incumbent, a) for a in result.archs[6:]]
    if local == 1.0:
        # every query of the round is one of the ~100 unseen archs nearest the incumbent
        assert max(distances) <= 3 and np.mean(distances) < 2.5
    else:
        assert max(distances) >= 4  # the global top of a 200-arch pool: mostly far from it


def test_search_result_and_acquisitions():
    archs = [SPACE.sample(i) for i in range(4)]
    r = SearchResult(archs, [1.0, np.nan, 3.0, 2.0], "x")
    np.testing.assert_array_equal(r.best_so_far, [1.0, 1.0, 3.0, 3.0])
    assert r.queries_to(3.0) == 3 and r.queries_to(2.5) == 3 and r.queries_to(0) == 1 and r.queries_to(4) is None
    assert r.best_value == 3.0 and r.best_arch is archs[2]
    with pytest.raises(ValueError):
        SearchResult(archs, [1.0])
    mean, std = np.array([1.0, 1.0, 0.0]), np.array([0.0, 1.0, 2.0])
    np.testing.assert_allclose(acquisition_scores(mean, std, "ucb", kappa=2.0), [1.0, 3.0, 4.0])
    np.testing.assert_array_equal(acquisition_scores(mean, std, "mean"), mean)
    ei = acquisition_scores(mean, std, "ei", incumbent=1.0)
    assert ei[0] == 0 and ei[1] > 0 and ei[2] > 0
    np.testing.assert_allclose(ei[1], 1 / np.sqrt(2 * np.pi))  # std * pdf(0)


def test_bad_arguments():
    oracle = CountingOracle()
    with pytest.raises(ValueError, match="acquisition"):
        predictor_search(SPACE, oracle, 5, acquisition="pi")
    for local in (-0.1, 1.5, True, "half"):
        with pytest.raises(ValueError, match="local"):
            predictor_search(SPACE, oracle, 5, local=local)
    with pytest.raises(ValueError, match="budget"):
        random_search(SPACE, oracle, -1)
    with pytest.raises(ValueError, match="population"):
        regularized_evolution(SPACE, oracle, 5, population=0)
    with pytest.raises(ValueError, match="candidates is empty"):
        random_search(SPACE, oracle, 5, candidates=[])
    assert len(random_search(SPACE, oracle, 0)) == 0 and not oracle.calls


@pytest.fixture(scope="module")
def nb201(data_root):
    root = data_root("nb201/nb201_test_acc_200ep.csv")
    return gnnnas.load_benchmark("nb201", data_dir=root), root


def test_benchmark_oracle_on_real_data(nb201):
    bench, _ = nb201
    oracle = BenchmarkOracle(bench)
    assert len(oracle) == len(bench) == 15625 and oracle.max_value == bench.y.max()
    arch = SPACE.sample(7)  # built by the space, found in the table by equality
    i = bench.encodings.index(SPACE.format(arch))
    assert oracle(arch) == bench.y[i] == oracle(SPACE.format(arch))
    part = BenchmarkOracle(bench.subset(np.arange(100)))
    outside = bench.archs[500]
    with pytest.raises(KeyError, match="not in benchmark 'nb201'"):
        part(outside)
    with pytest.raises(ValueError, match="candidates=oracle.archs"):
        part(outside)
    assert issubclass(UnknownArchitectureError, ValueError)
    result = regularized_evolution(SPACE, part, 30, 0, population=10, candidates=part.archs)
    assert len(set(result.archs)) == 30 and all(a in part for a in result.archs)
    assert part.n_queries == 30


def test_cli_search_on_nb201(nb201, tmp_path, capsys):
    _, root = nb201
    out = tmp_path / "search.json"
    args = ["search", "--space", "nb201", "--data-dir", str(root), "--budget", "12", "--seed", "0",
            "--initial", "4", "--per-round", "4", "--pool", "40", "--epochs", "2", "--hidden-dim", "16",
            "--num-layers", "1", "--n-members", "2", "--json", str(out)]
    assert main(args) == 0
    text = capsys.readouterr()
    assert "12 of 12 queries" in text.out and "best value found" in text.out and "benchmark maximum" in text.out
    # stderr is not a terminal: one progress line per round (the first batch, then each round)
    steps = [line.split("  ")[1] for line in text.err.splitlines() if line.startswith("search predictor  ")]
    assert steps == ["4/12 (33%)", "8/12 (67%)", "12/12 (100%)"] and "queries" not in text.err
    payload = json.loads(out.read_text())
    assert payload["queries"] == 12 and len(set(payload["archs"])) == 12
    assert payload["best_value"] == max(payload["values"]) and payload["benchmark_max"] > 94
    assert main(["search", "--data-dir", str(root), "--budget", "30", "--method", "rea", "--quiet"]) == 0
    text = capsys.readouterr()
    assert "30 of 30 queries" in text.out and text.err == ""


def test_cli_search_on_a_csv_table(tmp_path, capsys):
    rng = np.random.default_rng(0)
    archs = [SPACE.sample(rng) for _ in range(25)]
    with open(tmp_path / "table.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch", "accuracy"])
        for i, a in enumerate(archs):
            writer.writerow([SPACE.format(a), i])
    assert main(["search", "--csv", str(tmp_path / "table.csv"), "--budget", "40", "--method", "random"]) == 0
    out = capsys.readouterr().out
    assert "25 of 40 queries" in out and "reached after" in out
    assert main(["search", "--csv", str(tmp_path / "table.csv"), "--budget", "0"]) == 2
    assert "--budget" in capsys.readouterr().err
