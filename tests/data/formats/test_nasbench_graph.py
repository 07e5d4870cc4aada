import pickle

import numpy as np
import pytest
from conftest import need_module

from gnnnas.data.formats import FormatError
from gnnnas.data.formats import synthetic as S
from gnnnas.data.formats.nasbench_graph import read_nasbench_graph


def test_light_layout(tmp_path):
    data = S.write_nbg_light(tmp_path / "cora.bench", [3, 17, 24], seed=1)
    table = read_nasbench_graph(tmp_path / "cora.bench")
    assert table.meta["dataset"] == "cora" and list(table["key"]) == [3, 17, 24]
    for row, key in enumerate((3, 17, 24)):
        assert table["valid_perf"][row] == data[key]["valid_perf"]
        assert table["test_perf"][row] == data[key]["perf"]
        assert table["params"][row] == round(data[key]["para"] * 1e6)


def test_full_layout_best_valid_epoch_seed_mean(tmp_path):
    keys = [5, 7]
    seeds = [S.write_nbg_full(tmp_path / f"citeseer{s}.bench", keys, epochs=15, seed=s) for s in range(3)]
    table = read_nasbench_graph([tmp_path / f"citeseer{s}.bench" for s in range(3)])
    assert table.meta["dataset"] == "citeseer" and (table["seeds"] == 3).all()
    for row, key in enumerate(keys):
        curves = [np.asarray(d[key]["dur"]) for d in seeds]
        best = [int(np.argmax(c[:, 1])) for c in curves]
        assert table["valid_perf"][row] == pytest.approx(np.mean([c[b, 1] for c, b in zip(curves, best)]))
        assert table["test_perf"][row] == pytest.approx(np.mean([c[b, 2] for c, b in zip(curves, best)]))
        assert table["best_epoch"][row] == pytest.approx(np.mean(best))
    assert np.isnan(table["latency"]).all()


def test_mismatched_seed_files_and_truncation(tmp_path):
    S.write_nbg_full(tmp_path / "cora0.bench", [1, 2], seed=0)
    S.write_nbg_full(tmp_path / "cora1.bench", [1, 3], seed=1)
    with pytest.raises(FormatError, match="cora1.bench.*different data sets or versions"):
        read_nasbench_graph([tmp_path / "cora0.bench", tmp_path / "cora1.bench"])
    S.write_nbg_full(tmp_path / "pubmed0.bench", [1, 2], seed=2)
    with pytest.raises(ValueError, match="several data sets"):
        read_nasbench_graph([tmp_path / "cora0.bench", tmp_path / "cora1.bench", tmp_path / "pubmed0.bench"])
    raw = (tmp_path / "cora0.bench").read_bytes()
    (tmp_path / "cora0.bench").write_bytes(raw[:-20])
    with pytest.raises(FormatError, match="cora0.bench"):
        read_nasbench_graph(tmp_path / "cora0.bench")


@pytest.mark.parametrize("keys, bad", [
    ([3, 1.2, 1.7], r"key 1\.2 is not a NAS-Bench-Graph architecture key"),  # int() would make both 1
    ([3, 42], "key 42 is not"),  # (gat, gat, sage, gin) all reading the input: key 24 is that class's
    ([3, True], "key True is not"),
    ([3, "17"], "key '17' is not"),
])
def test_keys_must_be_keys_of_the_space(tmp_path, keys, bad):
    record = {"valid_perf": 0.5, "perf": 0.5, "latency": 0.01, "para": 0.1}
    (tmp_path / "cora.bench").write_bytes(pickle.dumps(dict.fromkeys(keys, record)))
    with pytest.raises(FormatError, match=bad) as err:
        read_nasbench_graph(tmp_path / "cora.bench")
    assert err.value.record == 1
    (tmp_path / "cora0.bench").write_bytes(pickle.dumps({k: {"dur": [[0.1] * 7]} for k in keys}))
    with pytest.raises(FormatError, match=bad):
        read_nasbench_graph([tmp_path / "cora0.bench"])


def test_real_light_files_match_the_package_reader():
    """Verification against real official files: the light tables shipped on PyPI."""
    need_module("nas_bench_graph", "pip install nas-bench-graph")
    from pathlib import Path

    import nas_bench_graph
    from nas_bench_graph.readbench import light_read

    files = sorted((Path(nas_bench_graph.__file__).parent / "light").glob("*.bench"))
    assert len(files) == 9
    for file in files:
        table = read_nasbench_graph(file)
        reference = light_read(file.stem)
        assert len(table) == len(reference) == len(set(table["key"]))
        assert {int(k) for k in table["key"]} == set(reference)
        for row, key in enumerate(table["key"]):
            record = reference[int(key)]
            assert table["valid_perf"][row] == record["valid_perf"]
            assert table["test_perf"][row] == record["perf"]
            assert table["latency"][row] == record["latency"]
            assert table["params"][row] == round(float(record["para"]) * 1e6)
