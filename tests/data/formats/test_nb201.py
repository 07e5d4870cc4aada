import bz2
import math
import pickle

import numpy as np
import pytest

from gnnnas.data.formats import FormatError
from gnnnas.data.formats import synthetic as S
from gnnnas.data.formats.nb201 import NB201_COLUMNS, read_nb201


def _seed_mean(arch_results, dataset, setname):
    values = []
    for seed in arch_results["dataset_seed"].get(dataset, []):
        run = arch_results["all_results"][(dataset, seed)]
        last = run["epochs"] - 1
        values.append(run["train_acc1es"][last] if setname == "train" else run["eval_acc1es"][f"{setname}@{last}"])
    return np.mean(values) if values else math.nan


def _check_rows(table, data, hp_of):
    assert list(table["arch"]) == [data["meta_archs"][i] for i in sorted(data["arch2infos"])]
    for row, idx in enumerate(sorted(data["arch2infos"])):
        infos = data["arch2infos"][idx]
        for epochs, hp in hp_of.items():
            res = infos[hp]
            expected = {
                f"cifar10_valid_{epochs}ep": _seed_mean(res, "cifar10-valid", "x-valid"),
                f"cifar10_test_{epochs}ep": _seed_mean(res, "cifar10", "ori-test"),
                f"cifar10_train_{epochs}ep": _seed_mean(res, "cifar10-valid", "train"),
                f"cifar100_test_{epochs}ep": _seed_mean(res, "cifar100", "x-test"),
                f"imagenet16_valid_{epochs}ep": _seed_mean(res, "ImageNet16-120", "x-valid"),
                f"imagenet16_train_{epochs}ep": _seed_mean(res, "ImageNet16-120", "train"),
            }
            for column, value in expected.items():
                np.testing.assert_allclose(table[column][row], value, equal_nan=True, err_msg=column)
        runs = [infos[hp_of[200]]["all_results"][("cifar100", s)] for s in infos[hp_of[200]]["dataset_seed"]["cifar100"]]
        assert table["cifar100_params"][row] == pytest.approx(np.mean([r["params"] for r in runs]))
        assert table["cifar100_latency"][row] == pytest.approx(np.mean([r["latency"][0] for r in runs]))


@pytest.mark.parametrize("how", ["zip", "legacy", "pickle"])
def test_nb201_pth(tmp_path, how):
    if how != "pickle":
        pytest.importorskip("torch")
    data = S.nb201_benchmark_dict(5, seed=1)
    S.write_nb201_pth(tmp_path / "NAS-Bench-201-v1_1-096897.pth", data, how)
    table = read_nb201(tmp_path / "NAS-Bench-201-v1_1-096897.pth")
    assert len(table) == 5 and set(NB201_COLUMNS) <= set(table.columns)
    assert list(table["index"]) == list(range(5))
    _check_rows(table, data, {12: "less", 200: "full"})


def test_v1_0_less_covers_cifar10_valid_only(tmp_path):
    data = S.nb201_benchmark_dict(3, seed=2, seeds=(777, 888, 999))
    for infos in data["arch2infos"].values():
        less = infos["less"]
        less["dataset_seed"] = {"cifar10-valid": less["dataset_seed"]["cifar10-valid"][:2]}
        less["all_results"] = {k: v for k, v in less["all_results"].items() if k[0] == "cifar10-valid"}
    S.write_nb201_pth(tmp_path / "v1_0.pth", data, "pickle")
    table = read_nb201(tmp_path / "v1_0.pth")
    assert np.isnan(table["cifar100_valid_12ep"]).all() and np.isnan(table["cifar10_test_12ep"]).all()
    assert not np.isnan(table["cifar10_valid_12ep"]).any()
    _check_rows(table, data, {12: "less", 200: "full"})


def test_nats_simple_directory(tmp_path):
    data = S.nb201_benchmark_dict(4, seed=3, hp_keys=("12", "200"))
    S.write_nats_dir(tmp_path / "NATS-tss-v1_0-3ffb9-simple", data)
    table = read_nb201(tmp_path / "NATS-tss-v1_0-3ffb9-simple")
    assert table.meta["source_format"] == "nats-simple-dir"
    _check_rows(table, data, {12: "12", 200: "200"})


def test_nats_single_file(tmp_path):
    data = S.nb201_benchmark_dict(3, seed=6, hp_keys=("12", "200"))
    with bz2.BZ2File(tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2", "wb") as handle:
        pickle.dump(data, handle, protocol=4)
    _check_rows(read_nb201(tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"), data, {12: "12", 200: "200"})


def test_nats_directory_missing_arch_and_corrupted_file(tmp_path):
    directory = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    S.write_nats_dir(directory, S.nb201_benchmark_dict(4, hp_keys=("12", "200")))
    (directory / "000002.pickle.pbz2").unlink()
    with pytest.raises(FormatError, match="1 of 4 architecture files are missing.*000002"):
        read_nb201(directory)
    S.write_nats_dir(directory, S.nb201_benchmark_dict(4, hp_keys=("12", "200")))
    raw = (directory / "000001.pickle.pbz2").read_bytes()
    (directory / "000001.pickle.pbz2").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(FormatError, match="000001.pickle.pbz2"):
        read_nb201(directory)


def test_naslib_pickle(tmp_path):
    data = S.write_naslib_nb201(tmp_path / "nb201_cifar10_full_training.pickle", 6, seed=4)
    table = read_nb201(tmp_path / "nb201_cifar10_full_training.pickle")
    assert list(table["arch"]) == list(data)
    for row, arch in enumerate(data):
        assert table["cifar10_valid_200ep"][row] == data[arch]["cifar10-valid"]["eval_acc1es"][-1]
        assert table["imagenet16_train_200ep"][row] == data[arch]["ImageNet16-120"]["train_acc1es"][-1]
        assert table["cifar100_flops"][row] == data[arch]["cifar100"]["flop"]
    assert np.isnan(table["cifar10_test_200ep"]).all() and np.isnan(table["cifar10_valid_12ep"]).all()


def test_wrong_layouts(tmp_path):
    path = tmp_path / "x.pth"
    path.write_bytes(pickle.dumps({"something": 1}))
    with pytest.raises(FormatError, match="needs meta_archs and arch2infos"):
        read_nb201(path)
    data = S.nb201_benchmark_dict(2)
    del data["arch2infos"][1]["full"]["all_results"][("cifar100", 777)]
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(FormatError, match=r"architecture 1.*cifar100"):
        read_nb201(path)
    with bz2.BZ2File(tmp_path / "y.pth", "wb") as handle:
        handle.write(pickle.dumps(S.nb201_benchmark_dict(2))[:-40])
    with pytest.raises(FormatError, match="y.pth"):
        read_nb201(tmp_path / "y.pth")
