import csv
import json
import os

import numpy as np
import pytest
from conftest import need_module

import gnnnas
from gnnnas.cli import _check_out_file, main


def write_csv(path, space, n=40, seed=0):
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n)]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch", "accuracy"])
        for a in archs:
            writer.writerow([space.format(a), a.prune().num_parametric_ops + rng.normal(0, 0.1)])
    return archs


def test_info_and_spaces(capsys):
    assert main(["info", "--space", "nb201", "--data-dir", "/nonexistent"]) == 0
    out = capsys.readouterr().out
    # no table in that directory: the one shipped with gnnnas is read
    assert "15625 archs, 5260 distinct networks" in out and "benchmark      nb201, metric cifar10, 15625 archs" in out
    assert main(["spaces"]) == 0
    assert "nb101" in capsys.readouterr().out


def test_train_predict_roundtrip_on_csv(tmp_path, capsys):
    space = gnnnas.get_space("nb201")
    write_csv(tmp_path / "train.csv", space)
    ckpt = tmp_path / "model.gnnnas"
    assert main(["train", "--space", "nb201", "--csv", str(tmp_path / "train.csv"), "--out", str(ckpt),
                 "--epochs", "2", "--hidden-dim", "16"]) == 0
    assert ckpt.is_file()
    write_csv(tmp_path / "new.csv", space, n=10, seed=1)
    out_json = tmp_path / "scores.json"
    assert main(["predict", str(ckpt), "--csv", str(tmp_path / "new.csv"), "--out", str(out_json)]) == 0
    rows = json.loads(out_json.read_text())
    assert len(rows) == 10 and all(np.isfinite(r["score"]) for r in rows)
    expected = gnnnas.Predictor.load(ckpt).predict([r["arch"] for r in rows])
    np.testing.assert_allclose([r["score"] for r in rows], expected)
    out_csv = tmp_path / "scores.csv"
    assert main(["predict", str(ckpt), "--csv", str(tmp_path / "new.csv"), "--out", str(out_csv)]) == 0
    assert len(list(csv.DictReader(open(out_csv)))) == 10


def test_pretrain_then_train_from_it(tmp_path, capsys):
    space = gnnnas.get_space("nb201")
    write_csv(tmp_path / "pool.csv", space, n=30, seed=3)
    encoder = tmp_path / "nb201.safetensors"
    assert main(["pretrain", "--space", "nb201", "--csv", str(tmp_path / "pool.csv"), "--pretext", "costs+masked",
                 "--epochs", "2", "--hidden-dim", "16", "--num-layers", "2", "--out", str(encoder), "-q"]) == 0
    out = capsys.readouterr().out
    assert "pre-trained an encoder of nb201 on 30 archs (costs+masked, 2 epochs" in out and "costs " in out
    write_csv(tmp_path / "train.csv", space, n=20)
    ckpt = tmp_path / "model.gnnnas"
    assert main(["train", "--csv", str(tmp_path / "train.csv"), "--out", str(ckpt), "--epochs", "1",
                 "--hidden-dim", "16", "--num-layers", "2", "--pretrained", str(encoder), "-q"]) == 0
    assert gnnnas.Predictor.load(ckpt).pretrained == str(encoder)
    assert main(["train", "--csv", str(tmp_path / "train.csv"), "--out", str(ckpt), "--epochs", "1",
                 "--hidden-dim", "16", "--pretrain", "costs", "--pretrain-archs", "20", "--pretrain-epochs", "1",
                 "-q"]) == 0
    loaded = gnnnas.Predictor.load(ckpt)
    assert (loaded.pretrain, loaded.pretrain_archs, loaded.pretrain_epochs) == ("costs", 20, 1)
    assert main(["train", "--csv", str(tmp_path / "train.csv"), "--out", str(ckpt), "--epochs", "1",
                 "--hidden-dim", "32", "--pretrained", str(encoder), "-q"]) == 2
    assert "hidden_dim=16 in the file, 32 here" in capsys.readouterr().err


def test_train_starts_from_the_shipped_encoder_unless_told_none(tmp_path):
    """`gnnnas train` keeps Predictor's default pretrained="auto"; `--pretrained none` is a random start."""
    space = gnnnas.get_space("nb201")
    write_csv(tmp_path / "train.csv", space, n=20)
    auto, scratch = tmp_path / "auto.gnnnas", tmp_path / "scratch.gnnnas"
    common = ["train", "--csv", str(tmp_path / "train.csv"), "--epochs", "1", "-q", "--out"]
    assert main([*common, str(auto)]) == 0
    assert main([*common, str(scratch), "--pretrained", "None"]) == 0  # any case
    assert gnnnas.Predictor.load(auto).pretrained == "auto"
    assert gnnnas.Predictor.load(scratch).pretrained is None
    with open(tmp_path / "train.csv") as f:
        archs = [row["arch"] for row in csv.DictReader(f)]
    assert not np.allclose(gnnnas.Predictor.load(auto).predict(archs), gnnnas.Predictor.load(scratch).predict(archs))


def test_cli_errors(tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("model,acc\nx,1\n")
    assert main(["train", "--csv", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "m")]) == 2
    assert "no column 'arch'" in capsys.readouterr().err
    assert main(["info", "--space", "nope"]) == 2
    assert main(["bench", "--protocol", "P999"]) == 2
    assert "unknown protocol" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--help"])


def test_bench_on_nasbench_graph(tmp_path, capsys):
    need_module("nas_bench_graph", "pip install nas-bench-graph")
    out = tmp_path / "pgraph.json"
    assert main(["bench", "--protocol", "PGRAPH-cora", "--train-size", "60", "--seeds", "1",
                 "--models", "random-forest", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert payload["summary"][0]["test_size"] == 26_206 - 60
    assert payload["summary"][0]["kendall_tau_mean"] > 0.2
    assert (tmp_path / "pgraph.md").is_file()
    assert "PGRAPH-cora" in capsys.readouterr().out


def test_main_job_runs_on_the_shipped_table_without_a_data_directory(tmp_path, monkeypatch, capsys):
    """The README's main job: P201 (the default of `bench`) from the embedded NB201 table, with
    no data directory, a results table and a plot (tiny setting)."""
    pytest.importorskip("matplotlib", reason="the plot needs matplotlib (gnnnas[plots])")
    monkeypatch.delenv("GNNNAS_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    plot = tmp_path / "p201.png"
    assert main(["bench", "--train-size", "20", "--seeds", "1", "--models", "gnnnas,random-forest",
                 "--epochs", "2", "--plot", str(plot), "--json", str(tmp_path / "p201.json")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("P201:") and "| random-forest |" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    payload = json.loads((tmp_path / "p201.json").read_text())
    assert {r["model"] for r in payload["summary"]} == {"gnnnas", "random-forest"}
    assert all(r["test_size"] == 15_625 for r in payload["summary"])  # P201 scores every cell


def test_score_with_fresh_hypernetwork_and_with_checkpoint(tmp_path, capsys):
    out = tmp_path / "z.csv"
    assert main(["score", "--space", "nb201", "--random", "5", "--steps", "3", "--out", str(out), "--device", "cpu"]) == 0
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 5 and all(0.0 <= float(r["score"]) <= 1.0 for r in rows)
    assert "no finetuning" in capsys.readouterr().out

    space = gnnnas.get_space("nb201")
    write_csv(tmp_path / "train.csv", space, n=12)
    ckpt = tmp_path / "h.gnnnas"
    assert main(["train", "--space", "nb201", "--csv", str(tmp_path / "train.csv"), "--out", str(ckpt),
                 "--epochs", "1", "--hidden-dim", "16", "--hypernetwork"]) == 0
    assert main(["score", "--checkpoint", str(ckpt), "--csv", str(tmp_path / "train.csv"), "--out", str(out)]) == 0
    scores = [float(r["score"]) for r in csv.DictReader(open(out))]
    expected = gnnnas.Predictor.load(ckpt).proxy_scores([space.format(a) for a in [space.parse(r) for r in
                                                          [row["arch"] for row in csv.DictReader(open(tmp_path / "train.csv"))]]])
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    # a checkpoint without the hypernetwork is refused with a clear message
    plain = tmp_path / "p.gnnnas"
    assert main(["train", "--space", "nb201", "--csv", str(tmp_path / "train.csv"), "--out", str(plain),
                 "--epochs", "1", "--hidden-dim", "16"]) == 0
    capsys.readouterr()
    assert main(["score", "--checkpoint", str(plain), "--random", "2", "--out", str(out)]) == 2
    assert "without the hypernetwork" in capsys.readouterr().err


def test_data_convert_list_verify(tmp_path, capsys):
    from gnnnas.data.formats import synthetic

    synthetic.write_nb101_tfrecord(tmp_path / "nasbench_only108.tfrecord", 6, keep=False)
    data_dir = tmp_path / "data"
    assert main(["data", "list", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "MISSING  nb101/nb101_converted.npz" in out and "storage.googleapis.com/nasbench" in out
    assert main(["data", "convert", str(tmp_path / "nasbench_only108.tfrecord"), "--space", "nb101",
                 "--data-dir", str(data_dir)]) == 0
    assert "(6 rows" in capsys.readouterr().out
    assert main(["data", "list", "--data-dir", str(data_dir)]) == 0
    assert "present  nb101/nb101_converted.npz" in capsys.readouterr().out
    assert main(["data", "verify", "--data-dir", str(data_dir)]) == 0
    assert "1 of 1 files match" in capsys.readouterr().out
    table = data_dir / "nb101" / "nb101_converted.npz"
    table.write_bytes(table.read_bytes()[:-1])
    assert main(["data", "verify", "--data-dir", str(data_dir)]) == 1
    assert "checksum mismatch" in capsys.readouterr().out


def test_data_convert_corrupted_source(tmp_path, capsys):
    from gnnnas.data.formats import synthetic

    path = tmp_path / "NAS-Bench-201-v1_0-e61699.pth"
    synthetic.write_nb201_pth(path, synthetic.nb201_benchmark_dict(2), "pickle")
    path.write_bytes(path.read_bytes()[:-64])
    assert main(["data", "convert", str(path), "--space", "nb201", "--data-dir", str(tmp_path / "d")]) == 2
    assert "gnnnas: error:" in capsys.readouterr().err and not (tmp_path / "d").exists()
    assert main(["data", "verify", "--data-dir", str(tmp_path / "d")]) == 0
    assert "nothing converted yet" in capsys.readouterr().out


#: Options that count something: each must be a positive integer (0 used to mean "the whole benchmark").
COUNT_OPTIONS = [
    (["score", "--out", "x.csv"], "--random"), (["score", "--out", "x.csv"], "--sample"),
    (["score", "--out", "x.csv"], "--steps"), (["score", "--out", "x.csv"], "--width"),
    (["bench"], "--seeds"), (["bench"], "--epochs"),
    (["search"], "--budget"), (["search"], "--initial"), (["search"], "--per-round"), (["search"], "--pool"),
    (["search"], "--population"), (["search"], "--sample-size"),
    (["train", "--out", "m"], "--epochs"), (["train", "--out", "m"], "--hidden-dim"),
    (["train", "--out", "m"], "--num-layers"), (["train", "--out", "m"], "--n-members"),
]


@pytest.mark.parametrize("command, option", COUNT_OPTIONS)
@pytest.mark.parametrize("value", ["0", "-5", "1.5", "x", ""])
def test_count_options_must_be_positive_integers(capsys, command, option, value):
    assert main([*command, f"{option}={value}"]) == 2
    assert f"argument {option}: must be a positive integer, got {value!r}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--out", "m", "--seed", "-1"], "argument --seed: must be an integer in [0, 4294967295]"),
        (["score", "--out", "x", "--seed", "1.5"], "argument --seed: must be an integer"),
        (["search", "--seed", "4294967296"], "argument --seed: must be an integer"),
        (["search", "--lr", "-1"], "argument --lr: must be a finite number > 0"),
        (["train", "--out", "m", "--lr", "nan"], "argument --lr: must be a finite number > 0"),
        (["search", "--kappa", "-0.5"], "argument --kappa: must be a finite number >= 0"),
        (["search", "--local", "1.5"], "argument --local: must be a number in [0, 1]"),
        (["train", "--out", "m", "--train-size", "1"], "argument --train-size: must be an integer >= 2"),
        (["bench", "--train-size", "50,x"], "argument --train-size: must be comma-separated values"),
        (["bench", "--train-size", "50,1"], "argument --train-size: must be comma-separated values"),
    ],
)
def test_numeric_options_are_checked_by_name(capsys, args, message):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_score_random_zero_exits_at_once(capsys):
    """Used to fall through to scoring the whole benchmark (never returning); -5 scored 0 archs, exit 0."""
    for value in ("0", "-5"):
        assert main(["score", "--random", value, "--out", "x.csv"]) == 2
        assert "argument --random: must be a positive integer" in capsys.readouterr().err


@pytest.mark.parametrize("header", ["arch,accuracy", "\ufeffarch,accuracy", " arch , accuracy ", "\ufeff arch ,accuracy"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_csv_header_with_bom_or_spaces(tmp_path, header, newline):
    from gnnnas.cli import _read_archs_csv

    space = gnnnas.get_space("nb201")
    archs = write_csv(tmp_path / "plain.csv", space, n=5)
    rows = (tmp_path / "plain.csv").read_text().splitlines()[1:]
    (tmp_path / "odd.csv").write_text(newline.join([header, *rows]) + newline, encoding="utf-8")
    parsed, labels = _read_archs_csv(str(tmp_path / "odd.csv"), "arch", "accuracy", space)
    assert parsed == archs and len(labels) == 5


def test_train_on_csv_with_bom(tmp_path, capsys):
    space = gnnnas.get_space("nb201")
    write_csv(tmp_path / "train.csv", space, n=12)
    text = (tmp_path / "train.csv").read_text()
    (tmp_path / "train.csv").write_text("\ufeff" + text.replace("arch,accuracy", "arch , accuracy", 1))
    assert main(["train", "--csv", str(tmp_path / "train.csv"), "--out", str(tmp_path / "m.gnnnas"),
                 "--epochs", "1", "--hidden-dim", "8"]) == 0
    assert "trained on 12 nb201 archs" in capsys.readouterr().out


def test_version(capsys):
    """``gnnnas --version`` prints the package version (the one the wheel's metadata carries)."""
    from importlib.metadata import version

    from gnnnas.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"gnnnas {gnnnas.__version__}" == f"gnnnas {version('gnnnas')}"


def test_train_and_pretrain_refuse_a_directory_as_out_before_training(tmp_path, capsys):
    """--out naming a directory: a clear error at once, not after the fit or the pre-training."""
    for argv in (["train", "--train-size", "40", "--epochs", "1", "--out", str(tmp_path)],
                 ["pretrain", "--archs", "60", "--epochs", "1", "--out", str(tmp_path)]):
        assert main(argv) == 2
        assert f"--out {tmp_path} is a directory; name the file to write" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["train", "pretrain"])
def test_an_out_that_cannot_be_written_is_refused_before_any_work(tmp_path, capsys, monkeypatch, command):
    """Every --out that the final write would fail on is refused up front: a path through a file
    (at any depth) or a folder without write permission; nothing is trained, nothing written."""
    monkeypatch.setattr(gnnnas.Predictor, "fit", lambda *a, **k: pytest.fail("trained first"))
    monkeypatch.setattr(gnnnas.Predictor, "pretrain_only", lambda *a, **k: pytest.fail("pre-trained first"))
    (tmp_path / "f").write_text("x")
    bad = {str(tmp_path / "f" / "x.st"): "is a file, not a folder", str(tmp_path / "f" / "a" / "b" / "x.st"): "is a file"}
    if os.name == "posix" and os.geteuid() != 0:  # root writes anywhere
        (tmp_path / "ro").mkdir(mode=0o555)
        bad[str(tmp_path / "ro" / "x.st")] = "cannot write in"
    for out, message in bad.items():
        assert main([command, "--epochs", "1", "--out", out]) == 2
        assert message in capsys.readouterr().err
    assert {p.name for p in tmp_path.iterdir()} <= {"f", "ro"} and (tmp_path / "f").read_text() == "x"
    # folders still missing are fine (the write creates them), and the check creates none
    _check_out_file(str(tmp_path / "new" / "sub" / "x.st"))
    assert not (tmp_path / "new").exists()


def test_pretrain_csv_pool_and_archs_are_exclusive(tmp_path, capsys):
    space = gnnnas.get_space("nb201")
    write_csv(tmp_path / "pool.csv", space, n=10, seed=3)
    assert main(["pretrain", "--csv", str(tmp_path / "pool.csv"), "--archs", "5000", "--epochs", "1",
                 "--out", str(tmp_path / "e.st")]) == 2
    assert "--archs sizes a pool drawn from the space; with --csv the pool is the file's archs" in capsys.readouterr().err
    assert not (tmp_path / "e.st").exists()


def test_pretrain_messages_name_the_options(tmp_path, capsys):
    """Library messages about pretrain= and lr= read as the command's options."""
    out = str(tmp_path / "e.st")
    assert main(["pretrain", "--space", "nasbench_graph", "--pretext", "costs+flow", "--out", out]) == 2
    assert capsys.readouterr().err.startswith("gnnnas: error: --pretext 'costs+flow': 'flow' runs each architecture's")
    assert main(["pretrain", "--pretext", "costs+", "--out", out]) == 2
    assert "gnnnas: error: --pretext: empty term in 'costs+'" in capsys.readouterr().err
    assert main(["pretrain", "--archs", "16", "--epochs", "2", "--batch-size", "8", "--hidden-dim", "8", "--lr", "1e8",
                 "--out", out, "-q"]) == 2
    assert "pre-training diverged" in (err := capsys.readouterr().err) and "Lower --lr (now 1e+08)" in err
    assert not (tmp_path / "e.st").exists()


def test_ctrl_c_exits_130_without_a_traceback(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gnnnas.Predictor, "pretrain_only", interrupted)
    assert main(["pretrain", "--epochs", "1", "--out", str(tmp_path / "e.st")]) == 130
    err = capsys.readouterr().err
    assert "gnnnas: interrupted" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
