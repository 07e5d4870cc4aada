import numpy as np
import pytest

import gnnnas
from gnnnas.data import MissingDataError

FILES = ("vit/autoformer_ti_100a.json", "vit/autoformer_ti_100b.json")
ACCURACIES = (
    "c100_kd_acc",
    "c100_base_acc",
    "flower_kd_acc",
    "flower_base_acc",
    "chaoyang_kd_acc",
    "chaoyang_base_acc",
    "imagenet_super_acc",
)


@pytest.fixture(scope="module")
def bench(data_root):
    root = data_root(*FILES)
    return gnnnas.load_benchmark("vit", data_dir=root), root


def test_counts_and_known_rows(bench):
    b, _ = bench
    assert len(b) == 200 and b.metric == "c100_kd_acc"
    assert set(b.metrics) == set(ACCURACIES)
    assert b.encodings[0] == {
        "hidden_dim": 192,
        "depth": 12,
        "mlp_ratio": [3.5, 4.0, 3.5, 4.0, 3.5, 3.5, 4.0, 3.5, 4.0, 4.0, 4.0, 3.5],
        "num_heads": [4, 4, 3, 4, 3, 3, 4, 4, 3, 3, 3, 4],
    }
    assert b.y[0] == pytest.approx(76.06) and b.y[100] == pytest.approx(78.07)
    assert b.extra["c100_base_acc"][0] == pytest.approx(68.66)
    assert np.isnan(b.extra["c100_base_acc"][100:]).all()
    assert b.extra["imagenet_super_acc"][1] == pytest.approx(71.48000002)
    assert b.extra["source"].tolist() == [0] * 100 + [1] * 100
    assert b.extra["params"][0] == b.archs[0].macro["params"] == 5_791_720
    assert "c100_kd_acc" not in b.extra
    assert b.space.format(b.archs[150]) == b.encodings[150]


@pytest.mark.parametrize("metric, rows", [(m, 100 if "base" in m else 200) for m in ACCURACIES])
def test_metrics_drop_null_labels(bench, metric, rows):
    b, root = bench
    other = gnnnas.load_benchmark("vit", metric=metric, data_dir=root)
    assert len(other) == rows and np.isfinite(other.y).all()
    if metric != "c100_kd_acc":
        np.testing.assert_array_equal(other.y, b.extra[metric][:rows])
        assert other.extra["c100_kd_acc"][0] == b.y[0]


def test_errors(bench, tmp_path, monkeypatch):
    _, root = bench
    with pytest.raises(ValueError, match="no metric 'c10_acc'"):
        gnnnas.load_benchmark("vit", metric="c10_acc", data_dir=root)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GNNNAS_DATA", raising=False)
    with pytest.raises(MissingDataError, match="vit/autoformer_ti_100a.json.*To obtain it.*Auto-Prox"):
        gnnnas.load_benchmark("vit", data_dir=tmp_path, embedded=False)
    (tmp_path / "vit").mkdir()
    (tmp_path / "vit" / "autoformer_ti_100a.json").write_text((root / FILES[0]).read_text())
    # file b is read from file a's directory, never from another source
    with pytest.raises(MissingDataError, match="autoformer_ti_100b.json"):
        gnnnas.load_benchmark("vit", data_dir=tmp_path)
