import bz2
import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest

from gnnnas.data.formats import FormatError
from gnnnas.data.formats.safe_pickle import load_pickle


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo owned",))


@pytest.mark.parametrize("zip_format", [True, False])
def test_torch_save_files_without_torch_load(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    obj = {
        "meta": ["a", "b"],
        "t": torch.arange(12, dtype=torch.float32).reshape(3, 4).t(),  # non-contiguous view
        "i": torch.tensor([5, -6], dtype=torch.int64),
        "o": OrderedDict(x=(1, 2.5)),
        "n": np.arange(4, dtype=np.int16),
    }
    path = tmp_path / "x.pth"
    torch.save(obj, path, _use_new_zipfile_serialization=zip_format)
    out = load_pickle(path)
    np.testing.assert_array_equal(out["t"], obj["t"].numpy())
    np.testing.assert_array_equal(out["i"], [5, -6])
    assert out["o"] == OrderedDict(x=(1, 2.5)) and out["meta"] == ["a", "b"]
    np.testing.assert_array_equal(out["n"], np.arange(4))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_and_bz2_pickles(tmp_path, protocol):
    obj = {1: {"valid_perf": 0.5, "para": np.float64(1.25)}, "arr": np.eye(2), "s": {1, 2}}
    path = tmp_path / "x.pickle"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    out = load_pickle(path)
    assert out[1] == obj[1] and out["s"] == {1, 2}
    np.testing.assert_array_equal(out["arr"], np.eye(2))
    with bz2.BZ2File(tmp_path / "x.pickle.pbz2", "wb") as handle:
        pickle.dump(obj, handle, protocol=protocol)
    assert load_pickle(tmp_path / "x.pickle.pbz2")[1] == obj[1]


def test_code_execution_refused(tmp_path):
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps({"payload": _Exploit()}))
    with pytest.raises(FormatError, match=r"refusing to unpickle global (posix|nt|os)\.system"):
        load_pickle(path)


def test_truncated_and_garbage(tmp_path):
    path = tmp_path / "x.pickle"
    path.write_bytes(pickle.dumps({"a": list(range(1000))})[:100])
    with pytest.raises(FormatError, match="truncated, corrupted or not a pickle"):
        load_pickle(path)
    path.write_bytes(b"\x00garbage")
    with pytest.raises(FormatError):
        load_pickle(path)


def test_truncated_torch_file(tmp_path):
    torch = pytest.importorskip("torch")
    for zip_format in (True, False):
        path = tmp_path / f"x{zip_format}.pth"
        torch.save({"t": torch.ones(1000)}, path, _use_new_zipfile_serialization=zip_format)
        path.write_bytes(path.read_bytes()[:-500])
        with pytest.raises(FormatError):
            load_pickle(path)
