"""benchmarks/paired.py: the paired-by-seed summaries that benchmark tables and the README quote."""

import sys
from pathlib import Path

import pytest
from scipy.stats import binomtest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
paired = pytest.importorskip("paired")  # benchmarks/ is not a package; absent from an sdist without it


def record(model, n, seed, tau):
    return {"model": model, "train_size": n, "seed": seed, "kendall_tau": tau, "test_size": 100, "fit_seconds": 1.0}


def test_overview_pools_every_size_and_seed_pair():
    records = [record("base", n, s, 0.5) for n in (10, 20) for s in range(3)]
    records += [record("up", 10, s, 0.6) for s in range(3)]  # 3 wins at 10
    records += [record("up", 20, 0, 0.4), record("up", 20, 1, 0.5), record("up", 20, 2, 0.7)]  # 1 win, 1 loss, 1 tie
    records += [record("up", 40, 0, 0.9)]  # no baseline at 40: not paired
    table, lines = paired.overview_rows({"P": records}, "base")
    row = table["P"]["up"]
    assert (row["pairs"], row["wins"], row["losses"]) == (6, 4, 1)
    assert row["diff_mean"] == pytest.approx((0.1 * 3 - 0.1 + 0 + 0.2) / 6)
    assert row["sign_p"] == pytest.approx(binomtest(4, 5).pvalue)  # ties leave the test
    assert "base" not in table["P"]
    assert any("10: +0.100 (3/0)" in line and "20: +0.033 (1/1)" in line and "40" not in line for line in lines)


def test_overview_leaves_out_models_with_no_paired_seed():
    records = [record("base", 10, 0, 0.5), record("other", 10, 1, 0.7)]
    table, lines = paired.overview_rows({"P": records}, "base")
    assert table == {} and len(lines) == 2  # the header only
