import numpy as np
import pytest

import gnnnas
from gnnnas.data import MissingDataError

FILES = ("nb201/nb201_test_acc_200ep.csv", "nb201/nb201_valid_test_acc_12ep.csv")


@pytest.fixture(scope="module")
def bench(data_root):
    root = data_root(*FILES, "nb201/nb201_725_zero_cost.json")
    return gnnnas.load_benchmark("nb201", data_dir=root), root


def test_counts_and_known_rows(bench):
    b, _ = bench
    assert len(b) == len(b.archs) == len(b.y) == 15_625
    assert b.metric == "cifar10"
    # row 0 and 1 of the official index order
    assert b.encodings[0] == (
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    )
    assert b.y[0] == pytest.approx(85.86333333333334)
    assert b.extra["cifar100"][1] == pytest.approx(70.29333326822916)
    assert b.extra["cifar10_valid_12ep"][1] == pytest.approx(82.83399999389648)
    assert b.space.format(b.archs[1]) == b.encodings[1]
    # published optima
    assert b.y.max() == pytest.approx(94.37, abs=5e-3)
    assert b.extra["cifar100"].max() == pytest.approx(73.51, abs=5e-3)
    assert b.extra["imagenet16"].max() == pytest.approx(47.31, abs=5e-3)
    assert int(np.sum(b.y == b.y.max())) == 2  # two archs reach the CIFAR-10 optimum


def test_zero_cost_columns(bench):
    b, _ = bench
    nwot = b.extra["zc_nwot"]
    assert int(np.sum(~np.isnan(nwot))) == 725
    known = b.encodings.index(
        "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|"
    )
    assert nwot[known] == pytest.approx(406.5381264995463)
    assert b.extra["zc_params"][known] * 1e6 == pytest.approx(b.extra["params"][known], abs=0.5)


@pytest.mark.parametrize("metric, column", [("cifar100", "cifar100"), ("imagenet16_test_12ep", "imagenet16_test_12ep")])
def test_metrics(bench, metric, column):
    b, root = bench
    other = gnnnas.load_benchmark("nb201", metric=metric, data_dir=root)
    assert other.metric == metric
    np.testing.assert_array_equal(other.y, b.extra[column])


def test_bad_metric_and_missing_files(bench, tmp_path, monkeypatch):
    _, root = bench
    with pytest.raises(ValueError, match="no metric 'cifar11'"):
        gnnnas.load_benchmark("nb201", metric="cifar11", data_dir=root)
    with pytest.raises(ValueError, match="unknown benchmark 'nb999'"):
        gnnnas.load_benchmark("nb999")
    # no data directory holds the file: the embedded table, unless embedded=False
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GNNNAS_DATA", raising=False)
    with pytest.raises(MissingDataError, match="nb201/nb201_test_acc_200ep.csv.*To obtain it"):
        gnnnas.load_benchmark("nb201", data_dir=tmp_path, embedded=False)
    monkeypatch.setenv("GNNNAS_DATA", str(tmp_path))
    with pytest.raises(MissingDataError, match=str(tmp_path)):
        gnnnas.load_benchmark("nb201", embedded=False)
    assert gnnnas.load_benchmark("nb201").source == "embedded"
    monkeypatch.setenv("GNNNAS_DATA", str(root))
    assert len(gnnnas.load_benchmark("nb201", metric="cifar10_test_12ep")) == 15_625


def test_subset(bench):
    b, _ = bench
    sub = b.subset(np.array([3, 1]))
    assert sub.encodings == [b.encodings[3], b.encodings[1]]
    assert sub.extra["params"][1] == b.extra["params"][1]
