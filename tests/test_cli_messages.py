"""What the command line says: CSV columns in --help, what scores mean, CLI option names in
errors, one-line errors instead of tracebacks, and --threads."""

import csv
import re

import numpy as np
import pytest

import gnnnas
from gnnnas.cli import _as_cli_message, build_parser, main
from gnnnas.data.paths import MissingDataError, locate


def _help(capsys, *command):
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize("command", ["train", "predict", "score", "search"])
def test_help_documents_the_input_csv(capsys, command):
    text = _help(capsys, command)
    assert "input CSV (--csv)" in text and "--arch-column" in text
    for space in gnnnas.list_spaces():
        if space in ("nb201", "macro", "nb101", "darts", "nasbench_graph", "vit"):
            assert f"  {space} " in text
    assert ("--label-column" in text) == (command in ("train", "search"))


@pytest.mark.parametrize("command", ["predict", "score"])
def test_help_says_what_a_score_is(capsys, command):
    text = " ".join(_help(capsys, command).split())  # argparse wraps the description
    assert "columns arch,score" in text and re.search(r"Higher( score)? = predicted better", text)
    if command == "predict":
        assert "rank scores" in text and "not calibrated accuracies" in text


def test_predict_says_scores_are_rank_scores(tmp_path, capsys):
    space = gnnnas.get_space("nb201")
    rng = np.random.default_rng(0)
    with open(tmp_path / "t.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["arch", "accuracy"])
        for _ in range(12):
            arch = space.sample(rng)
            writer.writerow([space.format(arch), rng.normal()])
    ckpt = tmp_path / "m.gnnnas"
    assert main(["train", "--csv", str(tmp_path / "t.csv"), "--out", str(ckpt), "--epochs", "1",
                 "--hidden-dim", "8", "--threads", "2", "--quiet"]) == 0
    assert gnnnas.Predictor.load(ckpt).num_threads == 2
    capsys.readouterr()
    assert main(["predict", str(ckpt), "--csv", str(tmp_path / "t.csv"), "--out", str(tmp_path / "s.csv"),
                 "--threads", "all"]) == 0
    assert "rank scores" in capsys.readouterr().out
    assert len(list(csv.DictReader(open(tmp_path / "s.csv", newline="")))) == 12


@pytest.mark.parametrize("text, expected", [("all", -1), ("ALL", -1), ("3", 3)])
def test_threads_option(text, expected):
    args = build_parser().parse_args(["train", "--out", "x", "--threads", text])
    assert args.num_threads == expected


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5"])
def test_bad_threads_option_names_the_option(capsys, text):
    assert main(["train", "--out", "x", "--threads", text]) == 2
    assert "argument --threads: must be a positive integer" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["predict", "no-such-checkpoint.gnnnas", "--out", "s.csv"],
    ["train", "--csv", "no-such-file.csv", "--out", "m.gnnnas"],
    ["search", "--csv", "no-such-file.csv", "--budget", "3"],
])
def test_missing_input_file_is_one_line(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("gnnnas: error: ") and "no-such" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_library_argument_names_become_options():
    parser = build_parser()
    with pytest.raises(MissingDataError) as missing:
        locate("nb201/no_such_table.npz", "/nonexistent", False, "convert it")
    library = str(missing.value)
    assert "data_dir=" in library  # the library's own message names its argument...
    bench = _as_cli_message(library, parser, parser.parse_args(["bench"]))
    assert "data_dir" not in bench and "pass --data-dir or set $GNNNAS_DATA" in bench  # ...the CLI its option
    spaces = _as_cli_message(library, parser, parser.parse_args(["spaces"]))
    assert "data_dir" not in spaces and "--data-dir" not in spaces and "set $GNNNAS_DATA" in spaces
    train = parser.parse_args(["train", "--out", "x"])
    assert _as_cli_message("num_threads must be a positive integer", parser, train) == "--threads must be a positive integer"
    assert _as_cli_message("hidden_dim must be >= 1", parser, train) == "--hidden-dim must be >= 1"
    assert _as_cli_message("hidden_dim=8 is small", parser, train) == "hidden_dim=8 is small"  # a value: left as is
    convert = parser.parse_args(["data", "convert", "x", "--space", "nb201"])
    assert _as_cli_message("pass data_dir= here", parser, convert) == "pass --data-dir here"


NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.mark.parametrize(("content", "expected"), [
    ("accuracy,arch\n0.5\n", "csv, line 2: no value in column 'arch'"),  # a short row: was an AttributeError
    (f"arch,accuracy\n{NB201_ARCH},1\n|bad~0|+|x~0|y~1|+|a~0|b~1|c~2|,2\n", "csv, line 3, column 'arch': unknown NB201 op"),
    (f"arch,accuracy\n{NB201_ARCH},high\n", "csv, line 2, column 'accuracy': could not convert"),
    (f"arch,accuracy\n{NB201_ARCH}\n", "csv, line 2, column 'accuracy'"),
    ('arch,accuracy\n"' + "[" * 200_000 + '",1\n', "csv: not a readable UTF-8 CSV file"),  # over csv's field limit
    ("arch,accuracy\n\xe9\xff,1\n", "csv: not a readable UTF-8 CSV file"),
])
def test_bad_csv_rows_are_one_line_naming_file_and_line(tmp_path, monkeypatch, capsys, content, expected):
    monkeypatch.chdir(tmp_path)
    raw = content.encode("latin-1") if "\xe9" in content else content.encode()
    (tmp_path / "in.csv").write_bytes(raw)
    assert main(["train", "--csv", "in.csv", "--out", "m.gnnnas", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gnnnas: error: in.csv") and expected in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("space", ["nb201", "macro", "nb101", "darts", "nasbench_graph", "vit"])
def test_info_example_goes_into_a_csv_as_printed(tmp_path, capsys, space):
    """--help says to write the encoding as `gnnnas info` prints it under "example"."""
    from gnnnas.cli import _read_archs_csv

    assert main(["info", "--space", space, "--no-enumerate"]) == 0
    example = re.search(r"^example +(.*)$", capsys.readouterr().out, re.MULTILINE).group(1)
    with open(tmp_path / "in.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([["arch"], [example]])
    archs, _ = _read_archs_csv(str(tmp_path / "in.csv"), "arch", None, gnnnas.get_space(space))
    assert len(archs) == 1


def test_main_help_is_the_summary_only(capsys):
    text = _help(capsys)
    assert "predict how good a neural architecture is" in text and "PEP 562" not in text


def test_score_checkpoint_without_hypernetwork_names_the_train_option(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    space = gnnnas.get_space("nb201")
    archs = [space.sample(i) for i in range(6)]
    gnnnas.Predictor(space="nb201", epochs=1, hidden_dim=8, num_layers=1).fit(archs, np.arange(6.0)).save("m.gnnnas")
    assert main(["score", "--checkpoint", "m.gnnnas", "--random", "2", "--out", "z.csv"]) == 2
    err = capsys.readouterr().err
    assert "gnnnas train --hypernetwork" in err and "hypernetwork=True" not in err


def _commands(parser, prefix=()):
    """(argv prefix, subparser) of every command, nested ones (`data convert`) included."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from _commands(sub, (*prefix, name))


def test_every_option_of_every_command_replaces_its_python_name():
    parser = build_parser()
    checked = 0
    for names, sub in _commands(parser):
        args = argparse_namespace(names)
        for action in sub._actions:
            if not action.option_strings or action.dest in ("help", "version") or action.dest == action.option_strings[-1]:
                continue
            option = action.option_strings[-1]
            assert _as_cli_message(f"{action.dest} must be positive", parser, args) == f"{option} must be positive"
            assert _as_cli_message(f"pass {action.dest}= here", parser, args) == f"pass {option} here"
            checked += 1
    assert checked > 50  # every command's options, not a sample


def argparse_namespace(names):
    import argparse

    return argparse.Namespace(command=names[0], data_command=names[1] if len(names) > 1 else None)
