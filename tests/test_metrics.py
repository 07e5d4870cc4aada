import numpy as np
import pytest
from scipy import stats

from gnnnas import metrics


def test_kendall_and_spearman_match_scipy():
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    p = y + rng.normal(scale=0.5, size=50)
    assert metrics.kendall_tau(y, p) == pytest.approx(stats.kendalltau(y, p).statistic)
    assert metrics.spearman(y, p) == pytest.approx(stats.spearmanr(y, p).statistic)
    assert metrics.kendall_tau(y, y) == pytest.approx(1.0)
    assert metrics.kendall_tau(y, -y) == pytest.approx(-1.0)


def test_tau_b_handles_ties():
    y = np.array([1, 2, 3, 4])
    p = np.array([1, 1, 2, 2])
    assert metrics.kendall_tau(y, p) == pytest.approx(stats.kendalltau(y, p, variant="b").statistic)


def test_precision_at_k_and_n_at_k():
    y = np.arange(100, dtype=float)  # arch 99 is the best
    perfect = y.copy()
    reverse = -y
    assert metrics.precision_at_k(y, perfect, 10) == 1.0
    assert metrics.precision_at_k(y, reverse, 10) == 0.0
    assert metrics.precision_at_k(y, perfect, 0.05) == 1.0  # 5 % = 5 archs
    assert metrics.n_at_k(y, perfect, 5) == 1
    assert metrics.n_at_k(y, reverse, 5) == 96  # best of the 5 worst archs has true rank 96
    shuffled = y.copy()
    shuffled[[99, 90]] = shuffled[[90, 99]]  # predictor puts the 10th best first
    assert metrics.n_at_k(y, shuffled, 1) == 10
    assert metrics.top_k_overlap is metrics.precision_at_k


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: metrics.kendall_tau([1, 2], [1, 2, 3]), "y_true has 2 values"),
        (lambda: metrics.kendall_tau([1], [1]), "at least 2"),
        (lambda: metrics.spearman([1, np.nan], [1, 2]), "finite"),
        (lambda: metrics.precision_at_k([1, 2, 3], [1, 2, 3], 5), "k must be in"),
        (lambda: metrics.n_at_k([1, 2, 3], [1, 2, 3], 0), "k must be in"),
    ],
)
def test_metric_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
