import json
import pickle
from collections import defaultdict

import numpy as np
import pytest

from gnnnas.data.formats import FormatError
from gnnnas.data.formats import synthetic as S
from gnnnas.data.formats.nb101 import NB101_OP_CODES, read_nb101
from gnnnas.data.formats.tfrecord import iter_records, write_records


def _expected(infos):
    by_hash = defaultdict(lambda: defaultdict(list))
    for info in infos:
        by_hash[info["hash"]][info["budget"]].append(info["final"])
    return by_hash


@pytest.mark.parametrize("budgets", [(108,), (4, 12, 36, 108)])
def test_tfrecord_rows(tmp_path, budgets):
    path = tmp_path / "nasbench_full.tfrecord"
    infos = S.write_nb101_tfrecord(path, 7, budgets=budgets, repeats=3, seed=5)
    table = read_nb101(path)
    expected = _expected(infos)
    assert list(table["hash"]) == list(dict.fromkeys(i["hash"] for i in infos))  # file order
    first = {i["hash"]: i for i in reversed(infos)}
    for row, module_hash in enumerate(table["hash"]):
        info = first[module_hash]
        n = len(info["ops"])
        assert table["num_vertices"][row] == n
        np.testing.assert_array_equal(table["adjacency"][row].reshape(7, 7)[:n, :n], info["matrix"])
        assert [NB101_OP_CODES[c] for c in table["ops"][row][:n]] == info["ops"]
        assert (table["ops"][row][n:] == -1).all()
        assert table["params"][row] == info["params"]
        for budget in (4, 12, 36, 108):
            runs = expected[module_hash].get(budget, [])
            assert table[f"repeats_{budget}"][row] == len(runs)
            for column, field in (("val_acc", "validation_accuracy"), ("test_acc", "test_accuracy"),
                                  ("train_acc", "train_accuracy"), ("training_time", "training_time")):
                want = np.mean([r[field] for r in runs]) if runs else np.nan
                np.testing.assert_allclose(table[f"{column}_{budget}"][row], want, equal_nan=True)


def test_get_metrics_from_hash_pickle(tmp_path):
    data = S.write_nb101_pickle(tmp_path / "nb101_dict.pickle", 5, budgets=(4, 108), repeats=2)
    table = read_nb101(tmp_path / "nb101_dict.pickle")
    assert list(table["hash"]) == list(data)
    for row, (fixed, computed) in enumerate(data.values()):
        assert table["val_acc_4"][row] == pytest.approx(np.mean([r["final_validation_accuracy"] for r in computed[4]]))
        assert table["test_acc_108"][row] == pytest.approx(np.mean([r["final_test_accuracy"] for r in computed[108]]))
        assert table["params"][row] == fixed["trainable_parameters"]
    assert np.isnan(table["val_acc_12"]).all()


def test_truncated_and_corrupted_tfrecord(tmp_path):
    path = tmp_path / "nasbench_only108.tfrecord"
    S.write_nb101_tfrecord(path, 4, keep=False)
    raw = path.read_bytes()
    path.write_bytes(raw[:-7])
    with pytest.raises(FormatError, match=r"record 11, byte offset .*truncated"):
        read_nb101(path)
    broken = bytearray(raw)
    broken[len(raw) // 2] ^= 0x10
    path.write_bytes(bytes(broken))
    with pytest.raises(FormatError, match="CRC mismatch"):
        read_nb101(path)


def _rewrite(path, change):
    records = [json.loads(r) for r in iter_records(path)]
    change(records)
    write_records(path, [json.dumps(r).encode() for r in records])


def test_bad_record_contents(tmp_path):
    path = tmp_path / "x.tfrecord"
    S.write_nb101_tfrecord(path, 2, keep=False)
    write_records(path, [b"not json"])
    with pytest.raises(FormatError, match="record 0: not the NAS-Bench-101 JSON record"):
        read_nb101(path)
    S.write_nb101_tfrecord(path, 2, keep=False)
    _rewrite(path, lambda r: r[4].__setitem__(4, "!!notbase64!!"))
    with pytest.raises(FormatError, match="record 4: bad record field"):
        read_nb101(path)
    S.write_nb101_tfrecord(path, 2, keep=False)
    _rewrite(path, lambda r: r[1].__setitem__(3, r[1][3].replace("output", "conv5x5")))
    with pytest.raises(FormatError, match="record 1: unknown operation 'conv5x5'"):
        read_nb101(path)
    S.write_nb101_tfrecord(path, 2, keep=False)
    _rewrite(path, lambda r: r[4].__setitem__(0, r[0][0]))  # a second cell under the first cell's hash
    with pytest.raises(FormatError, match="record 4: hash .* different graph"):
        read_nb101(path)


def _set_edge(record, i, j, value="1"):
    n = int(len(record[2]) ** 0.5)
    record[2] = record[2][: i * n + j] + value + record[2][i * n + j + 1:]


@pytest.mark.parametrize("change, message", [
    (lambda r: _set_edge(r, 2, 2), r"entry \[2\]\[2\] is set"),  # self-loop
    (lambda r: _set_edge(r, 2, 1), r"upper-triangular .*acyclic"),  # 1 -> 2 -> 1
    (lambda r: r.__setitem__(3, r[3].replace("input", "conv3x3-bn-relu", 1)), "the first NB101 op must be 'input'"),
    (lambda r: r.__setitem__(2, "0" * len(r[2])), "input is not connected to the output"),
])
def test_cells_invalid_in_the_space_are_refused(tmp_path, change, message):
    path = tmp_path / "x.tfrecord"
    S.write_nb101_tfrecord(path, 3, keep=False)
    _rewrite(path, lambda records: change(records[6]))  # the first record of the third cell
    with pytest.raises(FormatError, match=rf"record 6: not a valid NB101 cell .*{message}") as err:
        read_nb101(path)
    assert err.value.path == str(path)


def test_pickled_cell_with_a_cycle_is_refused(tmp_path):
    data = S.write_nb101_pickle(tmp_path / "x.pickle", 3)
    module_hash = list(data)[1]
    data[module_hash][0]["module_adjacency"][1, 0] = 1
    (tmp_path / "x.pickle").write_bytes(pickle.dumps(data))
    with pytest.raises(FormatError, match=rf"entry 1 \({module_hash}\): not a valid NB101 cell .*upper-triangular"):
        read_nb101(tmp_path / "x.pickle")
