"""Progress of long jobs (gnnnas.progress): line mode in logs, a bar on a terminal, quiet by default
in the library; wired into bench, search, convert, the evaluator and Predictor(verbose=True)."""

import io
import os
import re

import numpy as np
import pytest
from conftest import toy_bench

import gnnnas
from gnnnas import baselines, harness, progress
from gnnnas.cli import main
from gnnnas.progress import Progress, format_duration, resolve_mode
from gnnnas.protocols import Protocol

LINE = re.compile(r"^(?P<desc>.+?)  (?P<done>\d+)/(?P<total>\d+) \((?P<pct>\d+)%\)  (?:(?P<status>.+?)  )?"
                  r"elapsed (?P<elapsed>\S+)(?:  remaining ~(?P<remaining>\S+))?$")


class FakeTty(io.StringIO):
    def isatty(self):
        return True


def lines_of(text, desc):
    return [line for line in text.splitlines() if line.startswith(desc + "  ")]


@pytest.fixture
def clock(monkeypatch):
    """progress.time.perf_counter under test control: ``clock.now`` seconds."""

    class Clock:
        now = 0.0

    monkeypatch.setattr(progress.time, "perf_counter", lambda: Clock.now)
    return Clock


# ----------------------------------------------------------------------------- the reporter
def test_lines_one_per_step_with_elapsed_and_remaining(clock):
    stream = io.StringIO()
    with Progress(4, "bench", mode="lines", stream=stream, unit="task") as report:
        assert stream.getvalue() == ""  # nothing before the first step ends
        for i in range(4):
            clock.now += 30.0  # each task takes 30 s
            report.advance(status=f"gnnnas N={i} seed 0")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4 == report.lines
    first = LINE.match(lines[0])
    assert first["desc"] == "bench" and first["done"] == "1" and first["total"] == "4" and first["pct"] == "25"
    assert first["status"] == "gnnnas N=0 seed 0"
    assert (first["elapsed"], first["remaining"]) == ("30s", "1m30s")  # 30 s / 1 done * 3 left
    third = LINE.match(lines[2])
    assert (third["elapsed"], third["remaining"]) == ("1m30s", "30s")
    assert lines[3] == "bench  4/4 (100%)  gnnnas N=3 seed 0  elapsed 2m00s"  # done: no "remaining ~0s"


def test_no_remaining_time_without_a_total(clock):
    stream = io.StringIO()
    report = Progress(None, "convert", mode="lines", stream=stream)
    clock.now = 5.0
    report.advance(3)
    assert stream.getvalue() == "convert  3  elapsed 5.0s\n"


def test_line_every_prints_per_fraction_and_always_the_last_step():
    stream = io.StringIO()
    with Progress(95, "fit", mode="lines", stream=stream, line_every=0.1) as report:
        for _ in range(95):
            report.advance()
    lines = stream.getvalue().splitlines()
    assert [int(LINE.match(line)["done"]) for line in lines] == [10, 19, 29, 38, 48, 57, 67, 76, 86, 95]
    # fewer steps than lines asked for: one line per step, never throttled into silence
    stream = io.StringIO()
    with Progress(3, "fit", mode="lines", stream=stream, line_every=0.1) as report:
        for _ in range(3):
            report.advance()
    assert len(stream.getvalue().splitlines()) == 3


def test_bytes_are_shown_in_megabytes():
    stream = io.StringIO()
    Progress(5_000_000, "download", mode="lines", stream=stream, unit="B").advance(2_500_000)
    assert stream.getvalue().startswith("download  2.5/5.0 MB (50%)  elapsed")


@pytest.mark.parametrize("mode", [False, None, "quiet"])
def test_quiet_prints_nothing(mode):
    stream = FakeTty()  # even on a terminal
    with Progress(10, "bench", mode=mode, stream=stream) as report:
        for _ in range(10):
            report.advance(status="x")
    assert report.quiet and stream.getvalue() == "" and report.lines == 0


def test_auto_is_lines_off_a_terminal_and_a_bar_on_one():
    assert resolve_mode("auto", io.StringIO()) == "lines"
    assert resolve_mode(True, io.StringIO()) == "lines"
    assert resolve_mode("auto", FakeTty()) == "bar"
    assert resolve_mode("lines", FakeTty()) == "lines"
    assert resolve_mode("auto", object()) == "lines"  # no isatty at all
    tty = FakeTty()
    with Progress(3, "bench", mode="auto", stream=tty) as report:
        report.advance(status="tau=0.5")
    assert report.mode == "bar" and report.lines == 0
    assert "bench" in tty.getvalue() and "\r" in tty.getvalue()  # tqdm's redrawn line, not a log line
    with pytest.raises(ValueError, match="progress must be one of"):
        resolve_mode("loud")


def test_auto_is_lines_on_a_terminal_of_no_width(monkeypatch):
    """A pty nobody sized (`script`, some containers): tqdm would draw nothing there."""

    class SizedTty(FakeTty):
        def fileno(self):
            return 2

    size = {"columns": 0}
    monkeypatch.setattr(progress.os, "get_terminal_size", lambda fd: os.terminal_size((size["columns"], 24)))
    assert resolve_mode("auto", SizedTty()) == "lines"
    size["columns"] = 80
    assert resolve_mode("auto", SizedTty()) == "bar"


def test_format_duration():
    assert [format_duration(s) for s in (0.04, 9.9, 42, 72, 3599, 7500)] == ["0.0s", "9.9s", "42s", "1m12s",
                                                                           "59m59s", "2h05m"]


def test_write_goes_to_the_given_file():
    out = io.StringIO()
    progress.write("result line", file=out)
    assert out.getvalue() == "result line\n"


# ----------------------------------------------------------------------------- the bench
TOY = Protocol("PTOY", "toy", None, (20, 40), test_on="rest", description="toy")


def test_run_protocol_reports_each_task_with_its_tau(capsys):
    models = [harness.ModelSpec("rf", baselines.random_forest, "random forest")]
    records = harness.run_protocol(TOY, models, seeds=range(2), bench=toy_bench(80), progress="lines")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == len(records) == 4
    for i, (line, record) in enumerate(zip(lines, records)):
        match = LINE.match(line)
        assert match["desc"] == "bench" and (match["remaining"] is not None) == (i < len(records) - 1)
        assert match["status"] == f"rf N={record.train_size} seed {record.seed} tau={record.kendall_tau:.3f}"
    harness.run_protocol(TOY, models, seeds=range(1), bench=toy_bench(80),
                         skip=lambda m, n, s: n == 20)  # default: quiet
    assert capsys.readouterr().err == ""


@pytest.fixture
def toy_protocol(monkeypatch):
    """`gnnnas bench --protocol PTOY` runs on the toy table."""
    import gnnnas.protocols

    monkeypatch.setattr(gnnnas.protocols, "get_protocol", lambda name: TOY)
    monkeypatch.setattr(Protocol, "load", lambda self, data_dir=None: toy_bench(80))


def test_cli_bench_progress_on_stderr_results_on_stdout(toy_protocol, capsys):
    args = ["bench", "--protocol", "PTOY", "--train-size", "20,40", "--seeds", "2", "--models", "random-forest"]
    assert main(args) == 0
    captured = capsys.readouterr()
    results = [line for line in captured.out.splitlines() if line.startswith("  random-forest")]
    steps = lines_of(captured.err, "bench")
    assert len(results) == len(steps) == 4
    assert [LINE.match(s)["done"] for s in steps] == ["1", "2", "3", "4"]
    assert all("elapsed" in s and "remaining ~" in s for s in steps[:-1]) and "remaining" not in steps[-1]
    assert "elapsed" not in captured.out  # progress never mixes with the results
    assert main([*args, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and len([ln for ln in captured.out.splitlines() if ln.startswith("  random-")]) == 4


# ----------------------------------------------------------------------------- search
def test_search_reports_per_round(capsys):
    from gnnnas.search import BenchmarkOracle, predictor_search, random_search

    bench = toy_bench(80)
    oracle = BenchmarkOracle(bench)
    predictor_search("nb201", oracle, 12, rng=0, initial=4, per_round=4, pool=20, candidates=oracle.archs,
                     predictor_factory=baselines.random_forest, progress="lines")
    lines = capsys.readouterr().err.splitlines()
    assert [LINE.match(line)["done"] for line in lines] == ["4", "8", "12"]  # the first batch, then each round
    assert all(LINE.match(line)["status"].startswith("best ") for line in lines)
    random_search("nb201", oracle, 40, rng=0, candidates=oracle.archs, progress="lines")
    assert len(capsys.readouterr().err.splitlines()) == 10  # single-query rounds: one line per tenth
    random_search("nb201", oracle, 40, rng=0, candidates=oracle.archs)
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------------------- convert
def test_convert_reports_each_architecture_file(tmp_path, capsys):
    from gnnnas.data.convert import convert
    from gnnnas.data.formats import synthetic

    synthetic.write_nats_dir(tmp_path / "nats", synthetic.nb201_benchmark_dict(5))
    convert(tmp_path / "nats", "nb201", data_dir=tmp_path / "data", progress="lines")
    lines = lines_of(capsys.readouterr().err, "convert nb201")
    assert [LINE.match(line)["done"] for line in lines] == ["1", "2", "3", "4", "5"]
    convert(tmp_path / "nats", "nb201", data_dir=tmp_path / "data")
    assert capsys.readouterr().err == ""


def test_convert_tfrecord_reports_bytes(tmp_path, monkeypatch, capsys):
    from gnnnas.data.convert import convert
    from gnnnas.data.formats import nb101, synthetic

    monkeypatch.setattr(nb101, "_PROGRESS_EVERY", 1)  # a real file reports every 4096 records
    path = tmp_path / "nasbench_only108.tfrecord"
    synthetic.write_nb101_tfrecord(path, 10, keep=False)
    convert(path, "nb101", data_dir=tmp_path / "data", progress="lines")
    lines = capsys.readouterr().err.splitlines()
    size = f"{path.stat().st_size / 1e3:.1f} kB"
    assert len(lines) == 10 and all(line.startswith("convert nb101  ") for line in lines)
    assert lines[-1].startswith(f"convert nb101  {size[:-3]}/{size} (100%)  10 cells  elapsed")


def test_cli_data_convert_quiet(tmp_path, capsys):
    from gnnnas.data.formats import synthetic

    synthetic.write_nats_dir(tmp_path / "nats", synthetic.nb201_benchmark_dict(3))
    assert main(["data", "convert", str(tmp_path / "nats"), "--space", "nb201", "--data-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert len(lines_of(captured.err, "convert nb201")) == 3 and "(3 rows" in captured.out
    assert main(["data", "convert", str(tmp_path / "nats"), "--space", "nb201", "--data-dir", str(tmp_path),
                 "--quiet"]) == 0
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------------------- training
def test_evaluator_reports_pretraining_steps_and_scoring(capsys):
    from gnnnas.evaluator import ZeroFinetuneEvaluator

    space = gnnnas.get_space("nb201")
    archs = [space.sample(i) for i in range(6)]
    ev = ZeroFinetuneEvaluator(space="nb201", width=4, hidden_dim=16, num_layers=1, steps=5, archs_per_step=2,
                               images_per_step=8, seed=0, device="cpu")
    ev.fit(archs, progress="lines")
    lines = capsys.readouterr().err.splitlines()
    assert [LINE.match(line)["done"] for line in lines] == ["1", "2", "3", "4", "5"]
    assert all(line.startswith("pre-train hypernetwork  ") for line in lines)
    assert LINE.match(lines[-1])["status"] == f"loss {ev.loss_curve_[-1]:.4f}"
    ev.score_archs(archs, progress="lines")
    assert capsys.readouterr().err.startswith("score  6/6 (100%)  elapsed")
    ev.fit(archs)
    ev.score_archs(archs)
    assert capsys.readouterr().err == ""


def test_predictor_verbose_gives_lines_off_a_terminal(capsys):
    space = gnnnas.get_space("nb201")
    archs = [space.sample(i) for i in range(12)]
    y = np.arange(12.0)
    gnnnas.Predictor(space="nb201", epochs=20, hidden_dim=8, num_layers=1, verbose=True).fit(archs, y)
    lines = capsys.readouterr().err.splitlines()
    assert [LINE.match(line)["done"] for line in lines] == [str(n) for n in range(2, 21, 2)]  # a tenth each
    assert all(line.startswith("fit  ") and "loss " in line for line in lines)
    gnnnas.Predictor(space="nb201", epochs=20, hidden_dim=8, num_layers=1).fit(archs, y)
    assert capsys.readouterr().err == ""


def test_predictor_proxy_scores_report_every_member(capsys):
    space = gnnnas.get_space("nb201")
    archs = [space.sample(i) for i in range(6)]
    model = gnnnas.Predictor(space="nb201", epochs=1, hidden_dim=8, num_layers=1, n_members=2, hypernetwork=True,
                             hyper_width=4, unlabelled_archs=0, hyper_archs=2, hyper_images=8, seed=0,
                             device="cpu").fit(archs, np.arange(6.0))
    capsys.readouterr()
    quiet = model.proxy_scores(archs)
    assert capsys.readouterr().err == ""
    loud = model.proxy_scores(archs, progress="lines")
    lines = capsys.readouterr().err.splitlines()
    assert lines and LINE.match(lines[-1])["done"] == "12" and lines[-1].startswith("score  12/12 (100%)")
    np.testing.assert_array_equal(quiet, loud)
