import base64
import json

import numpy as np
import pytest
from conftest import need_module

import gnnnas
from gnnnas.data.convert import convert, converted_path, list_data
from gnnnas.data.formats import FormatError
from gnnnas.data.formats import synthetic as S
from gnnnas.data.manifest import MANIFEST_NAME, verify_manifest
from gnnnas.data.table import Table, read_table, write_table
from gnnnas.protocols import get_protocol


def test_nb201_convert_then_load(tmp_path):
    data = S.nb201_benchmark_dict(12, seed=7)
    S.write_nb201_pth(tmp_path / "NAS-Bench-201-v1_1-096897.pth", data, "pickle")
    result = convert(tmp_path / "NAS-Bench-201-v1_1-096897.pth", "nb201", data_dir=tmp_path / "data")
    assert result.path == converted_path("nb201", tmp_path / "data") and result.path.is_file()
    manifest = json.loads((tmp_path / "data" / MANIFEST_NAME).read_text())
    entry = manifest["files"]["nb201/nb201_converted.npz"]
    assert entry["rows"] == 12 and entry["space"] == "nb201" and len(entry["sha256"]) == 64

    bench = gnnnas.load_benchmark("nb201", data_dir=tmp_path / "data")
    table = read_table(result.path)
    assert len(bench) == 12 and bench.encodings == data["meta_archs"]
    np.testing.assert_array_equal(bench.y, table["cifar10_test_200ep"])
    assert {"cifar10", "cifar100_valid_200ep", "imagenet16_train_12ep"} <= set(bench.metrics)
    valid = gnnnas.load_benchmark("nb201", metric="cifar100_valid_200ep", data_dir=tmp_path / "data")
    np.testing.assert_array_equal(valid.y, table["cifar100_valid_200ep"])
    assert [bench.space.format(a) for a in bench.archs] == data["meta_archs"]
    with pytest.raises(ValueError, match="no metric"):
        gnnnas.load_benchmark("nb201", metric="cifar10_valid_90ep", data_dir=tmp_path / "data")


def test_protocols_and_converted_false_read_the_published_tables(tmp_path, data_root):
    root = data_root("nb201/nb201_test_acc_200ep.csv")
    data_dir = tmp_path / "data"
    (data_dir / "nb201").mkdir(parents=True)
    (data_dir / "nb201/nb201_test_acc_200ep.csv").write_bytes((root / "nb201/nb201_test_acc_200ep.csv").read_bytes())
    with pytest.raises(gnnnas.MissingDataError, match="gnnnas data convert"):
        gnnnas.load_benchmark("nb201", data_dir=data_dir, converted=True)
    S.write_nb201_pth(tmp_path / "small.pth", S.nb201_benchmark_dict(12, seed=3), "pickle")
    convert(tmp_path / "small.pth", "nb201", data_dir=data_dir)

    assert len(gnnnas.load_benchmark("nb201", data_dir=data_dir)) == 12  # default: the converted table
    assert len(gnnnas.load_benchmark("nb201", data_dir=data_dir, converted=True)) == 12
    published = gnnnas.load_benchmark("nb201", data_dir=data_dir, converted=False)
    assert len(published) == 15625 and published.y.max() == pytest.approx(94.3733, abs=1e-3)
    assert len(get_protocol("P201").load(data_dir)) == 15625  # protocols pin the published files
    with pytest.raises(ValueError, match="converted must be"):
        gnnnas.load_benchmark("nb201", data_dir=data_dir, converted="yes")


def test_naslib_table_defaults_to_cifar10_valid(tmp_path):
    S.write_naslib_nb201(tmp_path / "nb201_cifar10_full_training.pickle", 5)
    convert(tmp_path / "nb201_cifar10_full_training.pickle", "nb201", data_dir=tmp_path)
    bench = gnnnas.load_benchmark("nb201", data_dir=tmp_path)
    assert bench.metric == "cifar10_valid_200ep" and "cifar10" not in bench.metrics


def test_failed_conversion_writes_nothing(tmp_path):
    S.write_nb201_pth(tmp_path / "good.pth", S.nb201_benchmark_dict(3), "pickle")
    raw = (tmp_path / "good.pth").read_bytes()
    (tmp_path / "bad.pth").write_bytes(raw[: len(raw) - 100])
    data_dir = tmp_path / "data"
    with pytest.raises(FormatError, match="bad.pth"):
        convert(tmp_path / "bad.pth", "nb201", data_dir=data_dir)
    assert not data_dir.exists() or not any(data_dir.rglob("*"))
    # a failed re-conversion keeps the previous table and manifest byte for byte
    convert(tmp_path / "good.pth", "nb201", data_dir=data_dir)
    before = {p: p.read_bytes() for p in data_dir.rglob("*") if p.is_file()}
    with pytest.raises(FormatError):
        convert(tmp_path / "bad.pth", "nb201", data_dir=data_dir)
    assert {p: p.read_bytes() for p in data_dir.rglob("*") if p.is_file()} == before
    # so does a conversion that cannot record itself in an unreadable manifest
    (data_dir / MANIFEST_NAME).write_text("{")
    before = {p: p.read_bytes() for p in data_dir.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match="not a gnnnas manifest"):
        convert(tmp_path / "good.pth", "nb201", data_dir=data_dir)
    assert {p: p.read_bytes() for p in data_dir.rglob("*") if p.is_file()} == before


def test_nb101_convert_then_load(tmp_path):
    infos = S.write_nb101_tfrecord(tmp_path / "nasbench_full.tfrecord", 9, budgets=(4, 12, 36, 108), seed=3)
    (tmp_path / "data").mkdir()
    convert(tmp_path / "nasbench_full.tfrecord", "nb101", data_dir=tmp_path / "data")
    bench = gnnnas.load_benchmark("nb101", metric="test_acc_36", data_dir=tmp_path / "data")
    assert len(bench) == 9 and bench.metric == "test_acc_36"
    first = {i["hash"]: i for i in reversed(infos)}
    for arch, key, encoding in zip(bench.archs, bench.extra["key"], bench.encodings):
        matrix, ops = encoding
        assert ops == first[key]["ops"]
        np.testing.assert_array_equal(matrix, first[key]["matrix"])
        assert bench.extra["params"][bench.extra["key"].tolist().index(key)] == first[key]["params"]
    assert set(bench.metrics) == {f"{s}_acc_{e}" for s in ("val", "test", "train") for e in (4, 12, 36, 108)}


def test_truncated_tfrecord_writes_nothing(tmp_path):
    S.write_nb101_tfrecord(tmp_path / "x.tfrecord", 5, keep=False)
    raw = (tmp_path / "x.tfrecord").read_bytes()
    (tmp_path / "x.tfrecord").write_bytes(raw[:-1])
    with pytest.raises(FormatError, match="truncated"):
        convert(tmp_path / "x.tfrecord", "nb101", data_dir=tmp_path / "data")
    assert not (tmp_path / "data" / "nb101").exists() and not (tmp_path / "data" / MANIFEST_NAME).exists()


def test_nasbench_graph_converted_tables_feed_the_loader(tmp_path):
    need_module("nas_bench_graph", "pip install nas-bench-graph")
    from pathlib import Path

    import nas_bench_graph
    from nas_bench_graph.readbench import light_read

    light = Path(nas_bench_graph.__file__).parent / "light" / "proteins.bench"
    convert(light, "nasbench_graph", data_dir=tmp_path / "light")
    converted = gnnnas.load_benchmark("nasbench_graph", metric="proteins:valid", data_dir=tmp_path / "light")
    package = gnnnas.load_benchmark("nasbench_graph", metric="proteins:valid")
    np.testing.assert_array_equal(converted.y, package.y)
    np.testing.assert_array_equal(converted.extra["params"], package.extra["params"])

    keys = sorted(light_read("proteins"))
    files = [tmp_path / f"proteins{s}.bench" for s in range(2)]
    for s, file in enumerate(files):
        S.write_nbg_full(file, keys, epochs=3, seed=s)
    convert(files, "nasbench_graph", data_dir=tmp_path / "full")
    full = gnnnas.load_benchmark("nasbench_graph", metric="proteins", data_dir=tmp_path / "full")
    table = read_table(tmp_path / "full" / "nasbench_graph" / "nbg_proteins.npz")
    by_key = dict(zip(table["key"].tolist(), table["test_perf"]))
    np.testing.assert_array_equal(full.y, [by_key[int(k)] for k in full.extra["key"]])
    assert (full.extra["seeds"] == 2).all()


def test_table_roundtrip_without_pickle(tmp_path):
    table = Table({"k": np.array(["a", "bb"]), "x": np.array([1.5, np.nan]), "m": np.zeros((2, 3), np.int8)},
                  key="k", meta={"space": "test"})
    write_table(tmp_path / "t.npz", table)
    with np.load(tmp_path / "t.npz", allow_pickle=False) as data:
        assert data["k"].dtype.kind == "U"
    back = read_table(tmp_path / "t.npz")
    assert back.key == "k" and back.meta["space"] == "test" and back["m"].shape == (2, 3)
    np.testing.assert_array_equal(back["x"], table["x"])
    with pytest.raises(ValueError, match="dtype object"):
        Table({"k": np.array([1, None], dtype=object)}, key="k")
    with pytest.raises(ValueError, match="differ in length"):
        Table({"k": np.arange(2), "x": np.arange(3)}, key="k")


def test_manifest_detects_changes_and_list_reports(tmp_path):
    S.write_nb101_tfrecord(tmp_path / "a.tfrecord", 3, keep=False)
    data_dir = tmp_path / "data"
    rows = {r["path"]: r for r in list_data(data_dir)}
    assert not rows["nb101/nb101_converted.npz"]["present"]
    assert not rows["nb101/nb101_converted.npz"]["embedded"]  # converted tables are never shipped
    assert rows["nb201/nb201_test_acc_200ep.csv"]["embedded"] and not rows["nb201/nb201_test_acc_200ep.csv"]["present"]
    assert "nasbench_only108.tfrecord" in rows["nb101/nb101_converted.npz"]["how"]
    convert(tmp_path / "a.tfrecord", "nb101", data_dir=data_dir)
    assert {r["path"]: r for r in list_data(data_dir)}["nb101/nb101_converted.npz"]["present"]
    assert verify_manifest(data_dir) == [("nb101/nb101_converted.npz", "ok")]
    table = data_dir / "nb101" / "nb101_converted.npz"
    table.write_bytes(table.read_bytes() + b"\0")
    assert verify_manifest(data_dir) == [("nb101/nb101_converted.npz", "checksum mismatch")]
    table.unlink()
    assert verify_manifest(data_dir) == [("nb101/nb101_converted.npz", "missing")]


def test_nb101_records_built_from_real_cells_keep_their_official_hash(tmp_path, data_root):
    """Real NB101 cells (graphs + values from the 1k file) packed into the official record layout:
    after conversion every loaded cell reproduces its official module hash and parameter count."""
    from gnnnas.data.formats.protobuf import encode_model_metrics
    from gnnnas.data.formats.tfrecord import write_records

    root = data_root("nb101/nb101_1k_valid_acc_with_graphs.json")
    cells = json.loads((root / "nb101/nb101_1k_valid_acc_with_graphs.json").read_text())
    names = {-1: "input", -2: "output", 0: "conv3x3-bn-relu", 1: "conv1x1-bn-relu", 2: "maxpool3x3"}
    records, n = [], 150
    for i in range(n):
        keep = [v for v, op in enumerate(cells["operations"][i]) if op != -3]
        matrix = np.asarray(cells["adjacency"][i], dtype=int)[np.ix_(keep, keep)]
        ops = [names[cells["operations"][i][v]] for v in keep]
        for budget in (4, 12, 36, 108):
            final = {"current_epoch": budget, "training_time": cells["final_training_time"][i],
                     "validation_accuracy": cells[f"{budget}_final_validation_accuracy"][i]}
            metrics = encode_model_metrics([{}, {}, final], cells["trainable_parameters"][i], 1.0)
            records.append(json.dumps([cells["key"][i], budget, "".join(map(str, matrix.reshape(-1))), ",".join(ops),
                                       base64.b64encode(metrics).decode()]).encode())
    write_records(tmp_path / "nasbench_full.tfrecord", records)
    convert(tmp_path / "nasbench_full.tfrecord", "nb101", data_dir=tmp_path / "data")
    bench = gnnnas.load_benchmark("nb101", data_dir=tmp_path / "data")
    assert list(bench.extra["key"]) == cells["key"][:n]
    assert [bench.space.hash(a) for a in bench.archs] == cells["key"][:n]
    np.testing.assert_array_equal(bench.y, cells["108_final_validation_accuracy"][:n])
    np.testing.assert_array_equal(bench.extra["params"], cells["trainable_parameters"][:n])
    assert [a.macro["params"] for a in bench.archs] == cells["trainable_parameters"][:n]


def test_nats_directory_costs_come_from_a_correct_record(tmp_path):
    """Issue 12, case 5 (D-X-Y/NATS-Bench#36): a cell whose hp=12 params are 0.802426 M on every
    seed and hp=200 0.802426 / 0.559386 / 0.559386 used to be converted as 0.640399 M."""
    from gnnnas.data.formats.nb201 import CostWarning

    issue = "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    data = S.nb201_benchmark_dict(4, seed=5, hp_keys=("12", "200"), seeds=(777, 888, 999))
    data["meta_archs"][2] = issue
    costs = S.nb201_costs(issue, np.random.default_rng(1))
    for state in data["arch2infos"][2].values():
        state["arch_str"] = issue
        for (dataset, seed), run in state["all_results"].items():
            run["params"], run["flop"] = costs[dataset]
    for seed in (888, 999):
        data["arch2infos"][2]["200"]["all_results"][("cifar10", seed)]["params"] = 0.559386
    S.write_nats_dir(tmp_path / "NATS-tss-v1_0-3ffb9-simple", data)
    with pytest.warns(CostWarning, match=r"architecture 2 .*0\.640399 M .*vs exact 0\.802426 M"):
        result = convert(tmp_path / "NATS-tss-v1_0-3ffb9-simple", "nb201", data_dir=tmp_path / "data")
    params = read_table(result.path)["cifar10_params"]
    assert params[2] == 0.802426 == gnnnas.get_space("nb201").parse(issue).macro["params"] / 1e6


def _nb101_with_cycle(tmp_path):
    from gnnnas.data.formats.tfrecord import iter_records, write_records

    S.write_nb101_tfrecord(tmp_path / "x.tfrecord", 3, keep=False)
    records = [json.loads(r) for r in iter_records(tmp_path / "x.tfrecord")]
    n = int(len(records[3][2]) ** 0.5)
    records[3][2] = records[3][2][:n] + "1" + records[3][2][n + 1:]  # edge 1 -> 0 closes the cycle 0 -> 1 -> 0
    write_records(tmp_path / "x.tfrecord", [json.dumps(r).encode() for r in records])
    return [tmp_path / "x.tfrecord"], "nb101", r"record 3: not a valid NB101 cell .*upper-triangular"


def _nb201_listed_three_times(tmp_path):
    data = S.nb201_benchmark_dict(5)
    data["meta_archs"][2] = data["meta_archs"][4] = data["meta_archs"][1]
    S.write_nb201_pth(tmp_path / "x.pth", data, "pickle")
    return [tmp_path / "x.pth"], "nb201", r"meta_archs\[2\] repeats the architecture of meta_archs\[1\]"


def _nbg_float_keys(tmp_path):
    import pickle

    records = S.write_nbg_light(tmp_path / "cora.bench", [3, 17, 24])
    (tmp_path / "cora.bench").write_bytes(pickle.dumps({3: records[3], 1.2: records[17], 1.7: records[24]}))
    return [tmp_path / "cora.bench"], "nasbench_graph", r"key 1\.2 is not a NAS-Bench-Graph architecture key"


@pytest.mark.parametrize("make", [_nb101_with_cycle, _nb201_listed_three_times, _nbg_float_keys])
def test_records_invalid_in_their_space_write_nothing(tmp_path, make):
    sources, space, message = make(tmp_path)
    with pytest.raises(FormatError, match=message):
        convert(sources, space, data_dir=tmp_path / "data")
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*"))
