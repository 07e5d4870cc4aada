import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import need_module

import gnnnas
from gnnnas.data.nasbench_graph import NBG_DATASETS, NBG_METRICS, read_bench_dict
from gnnnas.spaces.nasbench_graph import NBG_PROTEINS_OPS


@pytest.fixture(scope="module")
def light_dir():
    """Folder of the package's light .bench files; skip without the package (fail under CI)."""
    nas_bench_graph = need_module("nas_bench_graph", "pip install nas-bench-graph")
    return Path(nas_bench_graph.__file__).parent / "light"


def raw_table(light_dir, dataset):
    with open(light_dir / f"{dataset}.bench", "rb") as handle:
        return pickle.load(handle)


@pytest.mark.parametrize("dataset", NBG_DATASETS)
def test_counts_and_values(light_dir, dataset):
    b = gnnnas.load_benchmark("nasbench_graph", metric=dataset)
    raw = raw_table(light_dir, dataset)
    expected = 2_021 if dataset == "proteins" else 26_206
    assert len(b) == len(b.archs) == len(b.y) == len(b.encodings) == len(raw) == expected
    assert b.metric == dataset and b.metrics == NBG_METRICS
    keys = b.extra["key"]
    assert set(keys.tolist()) == set(raw)
    assert np.all(np.diff(keys) > 0)
    for row in (0, 1, len(b) // 2, len(b) - 1):
        record = raw[int(keys[row])]
        assert b.y[row] == pytest.approx(float(record["perf"]))
        assert b.extra["test_perf"][row] == pytest.approx(float(record["perf"]))
        assert b.extra["valid_perf"][row] == pytest.approx(float(record["valid_perf"]))
        assert b.extra["latency"][row] == pytest.approx(float(record["latency"]))
        assert b.extra["params"][row] == pytest.approx(float(record["para"]) * 1e6, abs=0.5)
        assert b.space.format(b.archs[row]) == b.encodings[row]
        assert b.space.key(b.encodings[row]) == keys[row]
    assert 0.0 < b.y.min() and b.y.max() <= 1.0
    if dataset == "proteins":
        assert all(set(ops) <= set(NBG_PROTEINS_OPS) for _, ops in b.encodings)


def test_known_rows(light_dir):
    from nas_bench_graph import Arch

    b = gnnnas.load_benchmark("nasbench_graph")  # default: cora test performance
    assert b.metric == "cora"
    raw = raw_table(light_dir, "cora")
    row = b.encodings.index(b.space.canonical(([0, 1, 2, 1], ["gcn", "gin", "fc", "cheb"])))
    key = Arch([0, 1, 2, 1], ["gcn", "gin", "fc", "cheb"]).valid_hash()
    assert b.extra["key"][row] == key == 61_237
    assert b.y[row] == pytest.approx(raw[key]["perf"])
    # the best Cora architecture is the table's maximum
    assert b.y.max() == pytest.approx(max(r["perf"] for r in raw.values()))


def test_valid_metric_and_macro_params(light_dir):
    valid = gnnnas.load_benchmark("nasbench_graph", metric="pubmed:valid", macro_params=True)
    test = gnnnas.load_benchmark("nasbench_graph", metric="pubmed")
    assert valid.metric == "pubmed:valid"
    np.testing.assert_array_equal(valid.y, test.extra["valid_perf"])
    np.testing.assert_array_equal(valid.extra["test_perf"], test.y)
    assert valid.archs[3].macro["params"] == valid.extra["params"][3]
    assert "params" not in test.archs[3].macro
    assert valid.archs[3].canonical_hash() == test.archs[3].canonical_hash()
    sub = test.subset(np.array([5, 2]))
    assert sub.encodings == [test.encodings[5], test.encodings[2]]


def test_unknown_dataset(light_dir):
    with pytest.raises(ValueError, match="has no metric 'mnist'"):
        gnnnas.load_benchmark("nasbench_graph", metric="mnist")
    with pytest.raises(ValueError, match="has no metric 'cora:train'"):
        gnnnas.load_benchmark("nasbench_graph", metric="cora:train")
    with pytest.raises(ValueError, match="unknown NAS-Bench-Graph data set 'mnist'"):
        read_bench_dict("mnist")


def test_missing_package_message(monkeypatch):
    # runs without the package too: a None entry in sys.modules makes the import fail
    monkeypatch.setitem(sys.modules, "nas_bench_graph", None)
    monkeypatch.setitem(sys.modules, "nas_bench_graph.readbench", None)
    with pytest.raises(ImportError, match="pip install nas-bench-graph"):
        gnnnas.load_benchmark("nasbench_graph", metric="cora")
