"""The bring-your-own-space example runs end to end and its predictor really ranks (in process, with
options; every example also runs exactly as documented in tests/test_documented_examples.py)."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import gnnnas

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "byo_space.py"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def byo():
    return _load("byo_space_example")


def test_import_twice_keeps_space_registered(byo):
    again = _load("byo_space_example_again")  # re-registers "tinycell" without raising
    assert "tinycell" in gnnnas.list_spaces()
    assert isinstance(gnnnas.get_space("tinycell"), again.TinyCell)


def test_space_contract(byo):
    space = gnnnas.get_space("tinycell")
    archs = list(space.enumerate())
    assert len(archs) == space.size == 125
    assert len({space.format(a) for a in archs}) == 125
    for arch in archs[::7]:
        assert space.format(space.parse(space.format(arch))) == space.format(arch)
    rng = np.random.default_rng(0)
    for _ in range(20):
        arch = space.sample(rng)
        child = space.mutate(arch, rng)
        assert child.space == "tinycell"
        diff = [a != b for a, b in zip(space.format(arch).split("-"), space.format(child).split("-"))]
        assert sum(diff) == 1
    with pytest.raises(ValueError, match="unknown tinycell op"):
        space.parse("conv3-conv7-skip")
    with pytest.raises(ValueError, match="needs 3 ops"):
        space.parse("conv3-skip")


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("seed", [0, 3])
def test_main_end_to_end(byo, tmp_path, seed, capsys):
    out = tmp_path / "synth"
    argv = ["--out-dir", str(out), "--seed", str(seed), "--epochs", "25", "--n-train", "30"]
    assert byo.main(argv) == 0
    printed = capsys.readouterr().out
    assert "Kendall tau on held-out pairs" in printed

    # The CSV round-trips: every cell of the space once, labels as written by the synthesiser.
    space = gnnnas.get_space("tinycell")
    labels = byo.read_csv(out / "tinycell_labels.csv")
    assert sorted(a for a, _ in labels) == sorted(space.format(a) for a in space.enumerate())
    rng = np.random.default_rng(seed)
    expected = [byo.synthetic_accuracy(a, rng) for a in space.enumerate()]
    np.testing.assert_allclose([y for _, y in labels], expected, atol=1e-4)

    # A prediction for every held-out candidate, ranked by score.
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_train"] == 30 and summary["n_held_out"] == 95
    preds = _read(out / "predictions.csv")
    assert len(preds) == 95
    assert len({p["arch"] for p in preds}) == 95 and {p["arch"] for p in preds} <= {a for a, _ in labels}
    scores = np.array([float(p["score"]) for p in preds])
    assert np.all(np.isfinite(scores)) and np.all(np.diff(scores) <= 0)

    # The fitted predictor ranks held-out cells well above chance.
    tau = gnnnas.metrics.kendall_tau([float(p["accuracy"]) for p in preds], scores)
    assert tau == pytest.approx(summary["kendall_tau"])
    assert tau > 0.3

    # Reading the CSV back (--csv) reproduces the same split and the same ranking.
    out2 = tmp_path / "from_csv"
    argv2 = ["--csv", str(out / "tinycell_labels.csv"), "--out-dir", str(out2), "--seed", str(seed),
             "--epochs", "25", "--n-train", "30"]
    assert byo.main(argv2) == 0
    assert not (out2 / "tinycell_labels.csv").exists()
    assert [p["arch"] for p in _read(out2 / "predictions.csv")] == [p["arch"] for p in preds]


def test_main_rejects_too_small_csv(byo, tmp_path):
    small = tmp_path / "small.csv"
    byo.write_csv(small, [("conv3-conv3-conv3", 80.0), ("zero-zero-zero", 10.0)])
    assert byo.main(["--csv", str(small), "--out-dir", str(tmp_path / "o"), "--n-train", "30"]) == 2


# The adapter examples (and this one, as documented) run as written in examples/README.md, in a
# fresh directory with no data directory: tests/test_documented_examples.py.


def test_main_pretrains_on_every_cell_of_the_user_space(byo, tmp_path, capsys):
    """--pretrain: the encoder learns on all 125 unlabelled tinycells, and its file starts a new predictor."""
    out = tmp_path / "pre"
    argv = ["--out-dir", str(out), "--epochs", "10", "--n-train", "30", "--pretrain", "costs+masked",
            "--pretrain-epochs", "2"]
    assert byo.main(argv) == 0
    assert "pre-trained the encoder on 125 cells" in capsys.readouterr().out
    encoder = out / "encoder.safetensors"
    labels = byo.read_csv(out / "tinycell_labels.csv")
    archs, y = [a for a, _ in labels[:30]], [v for _, v in labels[:30]]
    again = gnnnas.Predictor(space="tinycell", hidden_dim=32, num_layers=2, epochs=2, batch_size=16,
                             pretrained=encoder, seed=0).fit(archs, y)
    assert again.pretrained_encoder_.pretrain["archs"] == 125
    assert np.isfinite(again.predict(archs)).all()
    wrong_shape = gnnnas.Predictor(space="tinycell", hidden_dim=16, num_layers=2, epochs=2, pretrained=encoder)
    with pytest.raises(ValueError, match="hidden_dim"):
        wrong_shape.fit(archs, y)


@pytest.mark.parametrize("pretext", ["zero_cost", "flow", "hypernetwork"])
def test_pretexts_that_run_networks_are_refused_on_the_user_space(byo, tmp_path, pretext):
    """tinycell registers no executor (its docstring says so): the pretexts that run each cell's
    network are refused by name, and nothing is written."""
    out = tmp_path / "pre"
    with pytest.raises(ValueError, match=f"'{pretext}' runs each architecture's network, and space 'tinycell' has no"):
        byo.main(["--out-dir", str(out), "--epochs", "2", "--pretrain", pretext, "--pretrain-epochs", "1"])
    assert not (out / "encoder.safetensors").exists()
