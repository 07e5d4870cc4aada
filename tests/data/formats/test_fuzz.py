"""Fuzzing the readers: random bytes and damaged valid files give a result or a FormatError.

Any other exception fails the test; a crash or a hang would stop it. Examples are bounded and
derandomized (the same ones every run, no example database written).
"""

import bz2
import io
import pickle
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gnnnas.data.formats import FormatError
from gnnnas.data.formats import synthetic as S
from gnnnas.data.formats.nasbench_graph import read_nasbench_graph
from gnnnas.data.formats.nb101 import read_nb101
from gnnnas.data.formats.nb201 import read_nb201
from gnnnas.data.formats.safe_pickle import load_pickle

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _outcome(read, path):
    try:
        read(path)
    except FormatError:
        pass


def _rezip(archive: bytes, pkl: bytes) -> bytes:
    """A torch zip archive with its data.pkl replaced (stored, as torch writes it)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            dst.writestr(info, pkl if info.filename.endswith("data.pkl") else src.read(info))
    return out.getvalue()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def samples(work):
    """name -> (file bytes, inner pickle, wrap(inner) -> file bytes, reader)."""
    small = S.nb201_benchmark_dict(2, seed=1, hp_keys=("12", "200"), stored_epochs=2)
    arrays = {"a": np.arange(6.0).reshape(2, 3), "s": np.float32(2), "u": np.array(["ab"]), "t": (1, [2, {3}])}
    out = {}
    for protocol in (2, 4, 5):
        raw = pickle.dumps({**small, **arrays}, protocol)
        out[f"pickle{protocol}"] = (raw, raw, lambda b: b, load_pickle)
    raw = pickle.dumps(small["arch2infos"][0], 4)
    out["bz2"] = (bz2.compress(raw), raw, bz2.compress, load_pickle)
    torch = pytest.importorskip("torch")
    obj = {"t": torch.arange(6.0).reshape(2, 3).t(), "i": torch.tensor([1, 2]), "meta": ["x"], "n": 1.5}
    for fmt in ("zip", "legacy"):
        torch.save(obj, work / "t.pth", _use_new_zipfile_serialization=fmt == "zip")
        raw = (work / "t.pth").read_bytes()
        if fmt == "zip":
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                inner = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
            out["torch-zip"] = (raw, inner, lambda b, raw=raw: _rezip(raw, b), load_pickle)
        else:
            out["torch-legacy"] = (raw, raw, lambda b: b, load_pickle)
    return out


@pytest.fixture(scope="module")
def benchmark_files(work):
    """name -> (file bytes, reader of a file at a path) for each benchmark reader."""
    out = {}
    S.write_nb201_pth(work / "nb201.pth", S.nb201_benchmark_dict(2, seed=2, stored_epochs=2), "pickle")
    out["nb201-pth"] = (work / "nb201.pth").read_bytes(), read_nb201
    S.write_nats_dir(work / "nats", S.nb201_benchmark_dict(2, seed=3, hp_keys=("12", "200"), stored_epochs=2))

    def read_nats(path):  # the damaged file replaces architecture 1 of a NATS directory
        (work / "nats" / "000001.pickle.pbz2").write_bytes(bz2.compress(path.read_bytes()))
        read_nb201(work / "nats")

    with bz2.open(work / "nats" / "000001.pickle.pbz2") as handle:
        out["nats-arch"] = handle.read(), read_nats
    S.write_naslib_nb201(work / "naslib.pickle", 2, epochs=3)
    out["naslib"] = (work / "naslib.pickle").read_bytes(), read_nb201
    S.write_nb101_tfrecord(work / "nb101.tfrecord", 2, repeats=1, keep=False)
    out["nb101-tfrecord"] = (work / "nb101.tfrecord").read_bytes(), lambda p: read_nb101(p, check_crc=False)
    S.write_nb101_pickle(work / "nb101.pickle", 2, repeats=1)
    out["nb101-pickle"] = (work / "nb101.pickle").read_bytes(), read_nb101
    S.write_nbg_light(work / "cora.bench", [3, 17, 24])
    out["nbg-light"] = (work / "cora.bench").read_bytes(), read_nasbench_graph
    S.write_nbg_full(work / "cora0.bench", [3, 17], epochs=2)
    out["nbg-full"] = (work / "cora0.bench").read_bytes(), read_nasbench_graph
    return out


def _damage(data: st.DataObject, raw: bytes) -> bytes:
    """Truncate, or flip a few bits / overwrite a few bytes, of ``raw``."""
    if data.draw(st.booleans()):
        return raw[: data.draw(st.integers(0, max(len(raw) - 1, 0)))]
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(out) - 1))
        if data.draw(st.booleans()):
            out[at] = data.draw(st.integers(0, 255))
        else:
            out[at] ^= 1 << data.draw(st.integers(0, 7))
    return bytes(out)


@FUZZ
@given(prefix=st.sampled_from([b"", b"\x80\x02", b"\x80\x04\x95", b"BZh9", b"PK\x03\x04"]),
       body=st.binary(max_size=300))
def test_random_bytes(work, prefix, body):
    path = work / "random.bin"
    path.write_bytes(prefix + body)
    _outcome(load_pickle, path)


@FUZZ
@given(data=st.data())
def test_damaged_pickles_and_torch_files(work, samples, data):
    name = data.draw(st.sampled_from(sorted(samples)))
    raw, inner, wrap, read = samples[name]
    damaged = _damage(data, raw) if data.draw(st.booleans()) else wrap(_damage(data, inner))
    path = work / f"damaged-{name}"
    path.write_bytes(damaged)
    _outcome(read, path)


@FUZZ
@given(data=st.data())
def test_damaged_benchmark_files(work, benchmark_files, data):
    name = data.draw(st.sampled_from(sorted(benchmark_files)))
    raw, read = benchmark_files[name]
    path = work / ("cora.bench" if name.startswith("nbg") else f"damaged-{name}")
    path.write_bytes(_damage(data, raw))
    _outcome(read, path)
