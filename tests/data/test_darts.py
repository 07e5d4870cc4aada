import numpy as np
import pytest

import gnnnas
from gnnnas.data import MissingDataError
from gnnnas.spaces.darts import format_key

FILE = "nb301/nb301_725_valid_acc.json"
FIRST_KEY = (
    "[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], "
    "[(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]"
)
PROXIES = ("synflow", "grasp", "fisher", "grad_norm", "l2_norm", "plain", "nwot", "epe_nas", "jacov", "snip")


@pytest.fixture(scope="module")
def bench(data_root):
    root = data_root(FILE)
    return gnnnas.load_benchmark("darts", metric="val_accuracy", data_dir=root), root


def test_counts_and_known_rows(bench):
    b, _ = bench
    assert len(b) == len(b.y) == len(b.encodings) == 725
    assert b.metric == "val_accuracy" and b.metrics == ("val_accuracy",)
    assert format_key(b.encodings[0]) == FIRST_KEY
    assert b.space.format(b.archs[0]) == b.encodings[0]
    assert b.y[0] == pytest.approx(93.32119084207302)
    assert b.extra["params"][0] == 856_298
    assert b.extra["flops"][0] == 153_499_136
    assert b.extra["zc_nwot"][0] == pytest.approx(448.83994136418596)
    assert b.extra["zc_synflow"][0] == pytest.approx(52.796010658657906)
    assert b.y.min() > 91 and b.y.max() == pytest.approx(94.48888302784498)
    assert len({a.canonical_hash() for a in b.archs}) == 725


def test_extras(bench):
    b, _ = bench
    for proxy in PROXIES:
        column = b.extra[f"zc_{proxy}"]
        assert column.shape == (725,) and np.isfinite(column).all()
    # the computed network matches the file's parameter counts row for row
    np.testing.assert_array_equal([a.macro["params"] for a in b.archs], b.extra["params"])


def test_default_metric_and_errors(bench, tmp_path, monkeypatch):
    b, root = bench
    default = gnnnas.load_benchmark("darts", data_dir=root)
    assert default.metric == "val_accuracy"
    np.testing.assert_array_equal(default.y, b.y)
    with pytest.raises(ValueError, match="no metric 'test_accuracy'"):
        gnnnas.load_benchmark("darts", metric="test_accuracy", data_dir=root)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GNNNAS_DATA", raising=False)
    with pytest.raises(MissingDataError, match="nb301/nb301_725_valid_acc.json.*To obtain it.*NASLib"):
        gnnnas.load_benchmark("darts", data_dir=tmp_path, embedded=False)
