import bz2
import json
import os
import pickle
import pickletools
import re
import struct
import subprocess
import sys
from collections import OrderedDict, defaultdict

import numpy as np
import pytest

from gnnnas.data.formats import FormatError
from gnnnas.data.formats.safe_pickle import MAX_DEPTH, load_pickle, loads


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo owned",))


# ---------------------------------------------------------------- crafting pickles opcode by opcode
def _g(module: str, name: str) -> bytes:
    """GLOBAL module.name"""
    return b"c" + f"{module}\n{name}\n".encode()


def _v(obj) -> bytes:
    """``obj`` as protocol-2 opcodes, without PROTO / STOP."""
    return pickletools.optimize(pickle.dumps(obj, 2))[2:-1]


def _pickle(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


def _dtype(spec: str, state: bytes) -> bytes:
    """numpy.dtype(spec, False, True) with BUILD state ``state``: a tuple (version, byte order,
    sub-array, names, fields, itemsize, alignment, flags)."""
    return _g("numpy", "dtype") + _v(spec) + b"\x89\x88\x87R" + state + b"b"


def _state(order=b"N", sub=b"N", names=b"N", fields=b"N", itemsize=-1, flags=0) -> bytes:
    return b"(" + _v(3) + _v("|") + sub + names + fields + _v(itemsize) + _v(1) + _v(flags) + b"t"


_OBJECT = _dtype("O8", _state(flags=63))


def _array(dtype: bytes, raw: bytes, shape=(1,)) -> bytes:
    """numpy.core.multiarray._reconstruct(ndarray, (0,), b'b') + BUILD (1, shape, dtype, False, raw):
    only allowed globals (raw bytes via _codecs.encode)."""
    return (_g("numpy.core.multiarray", "_reconstruct") + _g("numpy", "ndarray") + _v((0,)) + _v(b"b") + b"\x87R"
            + b"(" + _v(1) + _v(shape) + dtype + b"\x89" + _v(raw) + b"tb")


CRAFTED_DTYPES = {
    "object": _array(_OBJECT, b"A" * 8),
    # a structured dtype whose only field is an object, with the flags claiming plain data: numpy
    # copies the bytes into the object slot, and touching the element dereferences 0x4141414141414141
    "struct-object": _array(_dtype("V8", _state(names=_v(("a",)), fields=b"}" + _v("a") + b"(" + _OBJECT
                                                + _v(0) + b"ts", itemsize=8)), b"A" * 8),
    "subarray-object": _array(_dtype("V8", _state(sub=b"(" + _OBJECT + _v((1,)) + b"t", itemsize=8)), b"A" * 8),
    "ndarray-call": _g("numpy", "ndarray") + _v((1,)) + _v("O") + _v(b"A" * 8) + b"\x87R",
}


def _legacy(main: bytes, storages=()) -> bytes:
    """A torch < 1.6 file: magic, protocol, sys info, ``main`` pickle, storage keys, storages."""
    head = b"".join(pickle.dumps(x, 2) for x in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}))
    tail = b"".join(struct.pack("<q", numel) + raw for _, numel, raw in storages)
    return head + _pickle(main) + pickle.dumps([key for key, _, _ in storages], 2) + tail


def _tensor(offset, size, stride, numel=10, view=None) -> bytes:
    """torch._utils._rebuild_tensor_v2 over FloatStorage '0' (``view`` = (key, offset, size))."""
    pid = b"(" + _v("storage") + _g("torch", "FloatStorage") + _v("0") + _v("cpu") + _v(numel) + _v(view) + b"tQ"
    return (_g("torch._utils", "_rebuild_tensor_v2") + b"(" + pid + _v(offset) + _v(tuple(size)) + _v(tuple(stride))
            + b"\x89" + _g("collections", "OrderedDict") + b")Rt" + b"R")


_TEN_FLOATS = [("0", 10, np.arange(10, dtype=np.float32).tobytes())]
CRAFTED_VIEWS = {  # name -> (legacy file, expected message)
    "negative stride": (_legacy(_tensor(9, (10,), (-1,)), _TEN_FLOATS), "negative offset, stride or size"),
    "negative offset": (_legacy(_tensor(-1, (2,), (1,)), _TEN_FLOATS), "negative offset, stride or size"),
    "1e8 elements backwards": (_legacy(_tensor(9, (10**8,), (-1,)), _TEN_FLOATS), "negative offset, stride or size"),
    "past the end": (_legacy(_tensor(5, (10,), (1,)), _TEN_FLOATS), "reaches element 14, outside its storage of 10"),
    "zero strides": (_legacy(_tensor(0, (10**6, 10**6), (0, 0)), _TEN_FLOATS), "arrays built from tensor views exceed"),
    "view outside": (_legacy(_tensor(0, (2,), (1,), view=("v", 8, 5)), _TEN_FLOATS),
                     r"storage view \[8, 13\) lies outside its storage of 10"),
    "size vs stride": (_legacy(_tensor(0, (2, 2), (1,)), _TEN_FLOATS), "size and stride differ in length"),
    "numel mismatch": (_legacy(_tensor(0, (2,), (1,), numel=9), _TEN_FLOATS), "holds 10 elements, the pickle says 9"),
}


def _load_in_subprocess(paths, use_torch: bool | tuple[bool, ...]) -> list[str]:
    """Load each file (with each ``use_torch``) in a fresh interpreter, so a crash cannot take
    pytest down; one line per load."""
    code = ("import json, sys\nfrom gnnnas.data.formats import FormatError\n"
            "from gnnnas.data.formats.safe_pickle import load_pickle\n"
            "for path, use_torch in json.loads(sys.argv[1]):\n"
            "    try:\n        load_pickle(path, use_torch=use_torch)\n        print('loaded', flush=True)\n"
            "    except FormatError as err:\n        print('FormatError:', err.problem, flush=True)\n")
    modes = use_torch if isinstance(use_torch, tuple) else (use_torch,)
    jobs = [[str(p), mode] for mode in modes for p in paths]
    done = subprocess.run([sys.executable, "-c", code, json.dumps(jobs)],
                          check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"the reader crashed (exit code {done.returncode}): {done.stderr[-2000:]}"
    return done.stdout.splitlines()


# ---------------------------------------------------------------- reading valid files
@pytest.mark.parametrize("zip_format", [True, False])
def test_torch_save_files_read_the_same_with_and_without_torch(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    obj = {
        "meta": ["a", "b"],
        "t": torch.arange(12, dtype=torch.float32).reshape(3, 4).t(),  # non-contiguous view
        "i": torch.tensor([5, -6], dtype=torch.int64),
        "b": torch.tensor([True, False]), "h": torch.ones(2, dtype=torch.float16), "s": torch.tensor(3.5),
        "e": torch.zeros(0, 3), "p": torch.nn.Parameter(torch.ones(2)), "step": torch.arange(10)[2:7:2],
        "size": torch.Size([2, 3]), "o": OrderedDict(x=(1, 2.5)), "shared": [torch.ones(3)] * 2,
    }
    path = tmp_path / "x.pth"
    torch.save(obj, path, _use_new_zipfile_serialization=zip_format)
    by_torch, ours = load_pickle(path), load_pickle(path, use_torch=False)
    for out in (by_torch, ours):
        for key, value in obj.items():
            if isinstance(value, torch.Tensor):
                assert type(out[key]) is np.ndarray and out[key].flags.c_contiguous
                assert out[key].dtype == value.detach().numpy().dtype
                np.testing.assert_array_equal(out[key], value.detach().numpy())
        assert out["meta"] == ["a", "b"] and out["o"] == OrderedDict(x=(1, 2.5)) and type(out["o"]) is OrderedDict
        assert out["size"] == (2, 3) and type(out["size"]) is tuple
        assert out["shared"][0] is out["shared"][1]


def test_numpy_arrays_in_a_torch_file_fall_back_to_our_reader(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "x.pth"
    torch.save({"n": np.arange(4, dtype=np.int16), "t": torch.ones(2)}, path)  # torch refuses numpy globals
    out = load_pickle(path)
    assert out["n"].dtype == np.int16 and out["n"].tolist() == [0, 1, 2, 3] and out["t"].tolist() == [1, 1]


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_and_bz2_pickles(tmp_path, protocol):
    obj = {1: {"valid_perf": 0.5, "para": np.float64(1.25)}, "arr": np.eye(2), "s": {1, 2},
           "f": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "u": np.array(["ab", "c"]),
           "be": np.arange(3, dtype=">i4"),
           "rec": np.zeros(2, dtype=[("a", "<f4"), ("b", "S2")]), "dd": defaultdict(list, a=[1])}
    path = tmp_path / "x.pickle"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    out = load_pickle(path)
    assert out[1] == obj[1] and out["s"] == {1, 2} and out["dd"] == obj["dd"] and out["dd"].default_factory is list
    for key in ("arr", "f", "u", "be", "rec"):
        assert out[key].dtype == obj[key].dtype and out[key].flags.f_contiguous == obj[key].flags.f_contiguous
        np.testing.assert_array_equal(out[key], obj[key])
    with bz2.BZ2File(tmp_path / "x.pickle.pbz2", "wb") as handle:
        pickle.dump(obj, handle, protocol=protocol)
    assert load_pickle(tmp_path / "x.pickle.pbz2")[1] == obj[1]


# ---------------------------------------------------------------- refusing crafted files
def test_code_execution_refused(tmp_path):
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps({"payload": _Exploit()}))
    with pytest.raises(FormatError, match=r"refusing to unpickle global (posix|nt|os)\.system"):
        load_pickle(path)


def test_object_dtypes_refused_without_crashing(tmp_path):
    """Object dtypes (plain, in a structured dtype, in a sub-array) and direct ndarray calls would
    give arrays of raw pointers taken from the file; the old reader died of SIGSEGV on the
    structured case. Run in a subprocess, so a regression fails the test instead of killing pytest."""
    paths = []
    for name, body in CRAFTED_DTYPES.items():
        paths.append(tmp_path / f"{name}.pickle")
        paths[-1].write_bytes(_pickle(body))
    lines = _load_in_subprocess(paths, use_torch=False)
    assert len(lines) == len(paths)
    for name, line in zip(CRAFTED_DTYPES, lines):
        expected = "calls numpy.ndarray directly" if name == "ndarray-call" else "holds Python objects"
        assert line.startswith("FormatError:") and expected in line, (name, line)


def test_tensor_views_are_checked_against_their_storage(tmp_path):
    paths = []
    for i, (data, _) in enumerate(CRAFTED_VIEWS.values()):
        paths.append(tmp_path / f"view{i}.pth")
        paths[-1].write_bytes(data)
    lines = _load_in_subprocess(paths, use_torch=(False, True))
    assert len(lines) == 2 * len(paths)
    for i, line in enumerate(lines):  # torch refuses these too (then our reader gives the error) ...
        name, (_, message) = list(CRAFTED_VIEWS.items())[i % len(paths)]
        if i >= len(paths) and name == "view outside":  # ... except this one: it clips the view to the storage
            continue
        assert line.startswith("FormatError:") and re.search(message, line), (name, line)
    good = tmp_path / "good.pth"
    good.write_bytes(_legacy(_tensor(1, (2, 3), (1, 3)), _TEN_FLOATS))
    np.testing.assert_array_equal(load_pickle(good, use_torch=False), [[1, 4, 7], [2, 5, 8]])


def test_shared_objects_are_built_once_and_depth_is_bounded(tmp_path):
    """A ~200-byte legacy torch file memoises t_k = (t_{k-1}, t_{k-1}) twenty levels deep: the old
    reader rebuilt it as a tree, 2^20 tuples; it loads in milliseconds and stays shared."""
    body = b")q\x00"  # t_0 = (), then t_k = (t_{k-1}, t_{k-1}) kept in memo slot k
    body += b"".join(b"h" + bytes([k - 1]) + b"h" + bytes([k - 1]) + b"\x86q" + bytes([k]) for k in range(1, 21))
    path = tmp_path / "doubling.pth"
    path.write_bytes(_legacy(body))
    assert path.stat().st_size < 250
    for use_torch in (True, False):
        out = load_pickle(path, use_torch=use_torch)
        for _ in range(20):  # shared all the way down: built once, not as a 2^20-tuple tree
            assert out[0] is out[1]
            out = out[0]
        assert out == ()
    deep = tmp_path / "deep.pickle"
    deep.write_bytes(_pickle(b"]" * (MAX_DEPTH + 1) + b"a" * MAX_DEPTH))
    with pytest.raises(FormatError, match=f"nested more than {MAX_DEPTH} levels deep"):
        load_pickle(deep)
    with pytest.raises(FormatError, match="contains itself"):
        loads(_pickle(b"]q\x00h\x00a"))


@pytest.mark.parametrize("body, message", [
    (_g("builtins", "bytes") + _v((10**12,)) + b"R", r"bytes\(\) called on \['int'\]"),
    (_g("builtins", "range") + _v((10**12,)) + b"R", "refusing to unpickle global builtins.range"),
    (_array(_g("numpy", "dtype") + _v("M8") + b"\x85R", b"\0" * 8), "dtype datetime64 is not supported"),
    (_array(_dtype("f8", _state()), b"\0" * 7), r"needs 8 bytes, the file holds 7"),
    (_dtype("f8", _state()) + _state() + b"b", "sets the state of a numpy dtype twice"),
    (_g("torch", "FloatStorage") + _state() + b"b", "sets the state of a storage type"),
])
def test_unbounded_or_malformed_values_refused(body, message):
    with pytest.raises(FormatError, match=message):
        loads(_pickle(body))


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
        for use_torch in (True, False):
            with pytest.raises(FormatError):
                load_pickle(path, use_torch=use_torch)
