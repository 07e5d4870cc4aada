
import numpy as np
import pytest

import gnnnas
from gnnnas.data import MissingDataError
from gnnnas.spaces import nb101_enumerate as nbe

FILE_20K = "nb101/nb101_20k_valid_acc_by_hash.json"
FILE_500 = "nb101/nb101_500_valid_acc.json"


@pytest.fixture(scope="module")
def bench(data_root, nb101_cache):
    root = data_root(FILE_20K)
    return gnnnas.load_benchmark("nb101", data_dir=root), root


def test_nb101_counts_and_known_rows(bench):
    b, _ = bench
    assert len(b) == len(b.y) == len(b.encodings) == 20_001
    assert b.metric == "val_acc_108"
    assert b.extra["key"][0] == "00005c142e6f48ac74fdcf73e3439874"
    assert b.y[0] == pytest.approx(0.9304887652397156)
    assert b.extra["val_acc_4"][0] == pytest.approx(0.3604767620563507)
    assert b.extra["training_time"][0] == pytest.approx(1768.9759521484375)
    assert b.extra["params"][0] == 8_555_530
    assert b.encodings[0][1] == [
        "input", "conv3x3-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "conv3x3-bn-relu",
        "conv1x1-bn-relu", "output",
    ]
    assert np.all((b.y > 0) & (b.y <= 1))
    for metric in ("val_acc_4", "val_acc_12", "val_acc_36", "val_acc_108"):
        assert metric in b.metrics and metric in b.extra


def test_nb101_graphs_match_hashes_and_params(bench):
    b, _ = bench
    params = np.array([a.macro["params"] for a in b.archs])
    assert np.array_equal(params, b.extra["params"])  # computed params == trainable_parameters
    for i in range(0, 20_001, 997):
        assert b.space.hash(b.archs[i]) == b.extra["key"][i]
        assert b.space.parse(b.encodings[i]) == b.archs[i]


def test_nb101_other_metric(bench, nb101_cache):
    _, root = bench
    b12 = gnnnas.load_benchmark("nb101", metric="val_acc_12", data_dir=root)
    assert b12.y[0] == pytest.approx(0.42197516560554504)
    with pytest.raises(ValueError, match="has no metric 'val_acc_200'"):
        gnnnas.load_benchmark("nb101", metric="val_acc_200", data_dir=root)


def test_nb101_unknown_hash_is_an_error(tmp_path, nb101_cache, data_root):
    import json

    root = data_root(FILE_20K)
    with open(root / FILE_20K) as handle:
        table = json.load(handle)
    small = {k: v[:3] for k, v in table.items()}
    small["key"][1] = "0" * 32
    (tmp_path / "nb101").mkdir()
    with open(tmp_path / FILE_20K, "w") as handle:
        json.dump(small, handle)
    with pytest.raises(ValueError, match="1 of 3 hashes .* are not NB101 cells"):
        gnnnas.load_benchmark("nb101", data_dir=tmp_path)


def test_nb101_500(data_root):
    root = data_root(FILE_500)
    b = gnnnas.load_benchmark("nb101_500", data_dir=root)
    assert len(b) == 500 and b.metric == "val_accuracy"
    assert b.y[0] == pytest.approx(92.578125)  # percent, as in the file
    assert b.extra["params"][0] == 4_095_778
    assert b.extra["flops"][0] == 624_558_080
    assert np.array_equal(b.extra["params"], [a.macro["params"] for a in b.archs])
    assert np.array_equal(b.extra["flops"], [a.macro["flops"] for a in b.archs])
    zc = sorted(k for k in b.extra if k.startswith("zc_"))
    assert {"zc_synflow", "zc_snip", "zc_jacov", "zc_grasp", "zc_fisher"} <= set(zc)
    assert b.extra["zc_synflow"][0] == pytest.approx(88.08498394991342)
    assert all(np.isfinite(b.extra[k]).all() for k in zc)
    for arch, enc, h in zip(b.archs, b.encodings, b.extra["hash"]):
        assert b.space.parse(enc) == arch
        assert b.space.hash(arch) == h


def test_missing_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GNNNAS_DATA", raising=False)
    with pytest.raises(MissingDataError, match="nb101_20k_valid_acc_by_hash.json.*tiga1231"):
        gnnnas.load_benchmark("nb101", data_dir=tmp_path, embedded=False)
    with pytest.raises(MissingDataError, match="nb101_500_valid_acc.json.*NASLib"):
        gnnnas.load_benchmark("nb101_500", data_dir=tmp_path, embedded=False)


def test_enumeration_cache_path(tmp_path, monkeypatch):
    monkeypatch.setenv("GNNNAS_CACHE", str(tmp_path))
    assert nbe.enumeration_cache_path() == tmp_path / "nb101" / nbe.CACHE_NAME
