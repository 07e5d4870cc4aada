"""A new user's first hour: the README's main job, its library example and ``gnnnas --help``,
timed alone and with competing CPU-bound processes (issue 15).

    python benchmarks/first_hour.py --label after [--code PATH] [--jobs main,library,help]
                                    [--load 0,4] [--cap 900]

Each job runs as a new user would run it: a fresh temporary directory as the working directory
and ``HOME``, ``GNNNAS_DATA`` / ``GNNNAS_CACHE`` / ``OMP_NUM_THREADS`` unset, so every table comes
from the copy that ships with the package. ``--code`` puts another checkout first on
``PYTHONPATH`` (``before``: a ``git worktree`` of the commit before the issue's changes); the
library example is always the README's of *this* checkout, so both labels run the same script.

Competing load: ``--load N`` starts N ``python -c "while True: pass"`` processes first, each in
its own session (the job too), and stops them after the job. Linux's autogroup scheduler shares
the CPUs fairly between sessions, so with N competitors a job gets at most 2 / (N + 1) of a
2-core machine: a single-threaded job, quiet on one core, needs at least (N + 1) / 2 times
its quiet time (2.5x with N = 4) however many threads it uses. Wall time, the job's own CPU time (``os.wait4``), its peak RSS and the load
average are recorded. A job still running after ``--cap`` seconds is killed and recorded as
``> cap`` (a lower bound). ``--help`` is run 5 times; the median is kept.

Results (merged over runs, keyed by label / job / load): benchmarks/results/first_hour.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MAIN_JOB = re.compile(r"^gnnnas bench [^\n]*--plot[^\n]*$", re.MULTILINE)


def readme_main_job() -> list[str]:
    """The README's main-job command line, run as ``python -m gnnnas ...``."""
    line = MAIN_JOB.search((ROOT / "README.md").read_text()).group(0)
    return [sys.executable, "-m", "gnnnas", *line.split()[1:]]


def readme_library_example() -> str:
    """The README's first ``python`` code block (the library example)."""
    text = (ROOT / "README.md").read_text()
    return text.split("## Library example", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


def run_once(command: list[str], env: dict, cwd: str, cap: float) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    output = []
    os.set_blocking(proc.stdout.fileno(), False)
    killed = False
    while True:
        chunk = proc.stdout.read()
        if chunk:
            output.append(chunk)
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - start > cap:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
        time.sleep(0.05)
    wall = time.perf_counter() - start
    rest = proc.stdout.read()
    if rest:
        output.append(rest)
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = b"".join(output).decode(errors="replace")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
            "returncode": proc.returncode, "killed_at_cap": killed, "output_tail": text[-1500:]}


def measure(job: str, load: int, code: Path, cap: float) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in {"GNNNAS_DATA", "GNNNAS_CACHE", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONPATH"}}
    if code != ROOT:
        env["PYTHONPATH"] = str(code)
    # each competitor in its own session, like jobs started from other terminals: with Linux's
    # autogroup scheduling, sessions (not threads) share the CPUs fairly
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True) for _ in range(load)]
    try:
        time.sleep(1.0 if load else 0.0)
        load_before = os.getloadavg()
        with tempfile.TemporaryDirectory(prefix=f"first-hour-{job}-") as home:
            env["HOME"] = home
            if job == "main":
                record = run_once(readme_main_job(), env, home, cap)
                record["command"] = " ".join(["gnnnas", *readme_main_job()[3:]])
            elif job == "library":
                script = Path(home) / "library_example.py"
                script.write_text(readme_library_example())
                record = run_once([sys.executable, str(script)], env, home, cap)
                record["command"] = "python library_example.py (the README's library example)"
            elif job == "help":
                runs = [run_once([sys.executable, "-m", "gnnnas", "--help"], env, home, cap) for _ in range(5)]
                record = dict(runs[len(runs) // 2])
                record["wall_s"] = statistics.median(r["wall_s"] for r in runs)
                record["cpu_s"] = statistics.median(r["cpu_s"] for r in runs)
                record["all_wall_s"] = [r["wall_s"] for r in runs]
                record["command"] = "gnnnas --help (median of 5)"
            else:
                raise SystemExit(f"unknown job {job!r}: use main, library or help")
        record["load_average_before"] = load_before
        record["load_average_after"] = os.getloadavg()
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    return record


def write_report(payload: dict, out: Path) -> None:
    rows = payload["runs"]
    out.with_suffix(".json").write_text(json.dumps(payload, indent=1) + "\n")
    lines = ["# A new user's first hour: main job, library example, `gnnnas --help`", "",
             __doc__.split("\n\n", 2)[2].split("Results")[0].strip(), "",
             "| label | code | job | competing processes | wall s | job CPU s | wall / alone | peak RSS MB | "
             "exit | load avg before |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key in sorted(rows):
        r = rows[key]
        alone = rows.get(f"{r['label']}/{r['job']}/0")
        ratio = f"{r['wall_s'] / alone['wall_s']:.2f}" if alone and alone["wall_s"] else "-"
        ratio = f"> {ratio}" if r["killed_at_cap"] and ratio != "-" else ratio
        wall = f"> {r['wall_s']:.0f} (killed)" if r["killed_at_cap"] else f"{r['wall_s']:.2f}"
        lines.append(f"| {r['label']} | {r['commit'][:7]} | {r['job']} | {r['load']} | {wall} | {r['cpu_s']:.2f} | "
                     f"{ratio} | {r['peak_rss_mb']:.0f} | {r['returncode']} | {r['load_average_before'][0]:.1f} |")
    lines += ["", "Commands:", ""]
    lines += sorted({f"- {r['job']}: `{r['command']}`" for r in rows.values()})
    lines += ["", f"Machine: {payload['machine']}, {payload['cpus']} CPUs, Python {payload['python']}."]
    if payload.get("notes"):
        lines += ["", "Notes:", "", *[f"- {note}" for note in payload["notes"]]]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    jobs = sorted({r["job"] for r in rows.values()})
    fig, axes = plt.subplots(1, len(jobs), figsize=(4.5 * len(jobs), 3.8))
    for ax, job in zip(axes if len(jobs) > 1 else [axes], jobs):
        bars = sorted((k, r) for k, r in rows.items() if r["job"] == job)
        drawn = ax.bar([f"{r['label']}\n+{r['load']}" for _, r in bars], [r["wall_s"] for _, r in bars],
                       color=["#c44" if r["killed_at_cap"] else "#48c" for _, r in bars])
        for bar, (_, r) in zip(drawn, bars):
            text = f"> {r['wall_s']:.0f}\nkilled" if r["killed_at_cap"] else f"{r['wall_s']:.3g}"
            ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                        fontsize=8)
        ax.set_yscale("log")
        ax.margins(y=0.25)
        ax.set_title(f"{job} (+N: N competing processes)")
        ax.set_ylabel("wall time, s (log; red: killed, a lower bound)")
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="before or after")
    parser.add_argument("--code", default=str(ROOT), help="checkout to import gnnnas from")
    parser.add_argument("--jobs", default="help,main,library")
    parser.add_argument("--load", default="0,4", help="numbers of competing CPU-bound processes")
    parser.add_argument("--cap", type=float, default=900.0, help="kill a job after this many seconds")
    parser.add_argument("--out", default=str(RESULTS / "first_hour"))
    parser.add_argument("--note", action="append", default=[], help="a note to keep with the results (repeatable)")
    parser.add_argument("--report-only", action="store_true", help="rewrite the .md (and notes) from the .json")
    args = parser.parse_args(argv)
    if args.report_only:
        out = Path(args.out)
        payload = json.loads(out.with_suffix(".json").read_text())
        payload["notes"] = payload.get("notes", []) + args.note
        write_report(payload, out)
        return 0
    code = Path(args.code).resolve()
    commit = subprocess.run(["git", "-C", str(code), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    out = Path(args.out)
    payload = (json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").exists()
               else {"description": __doc__, "runs": {}})
    payload.update(machine=platform.platform(), cpus=os.cpu_count(), python=platform.python_version())
    for load in [int(n) for n in args.load.split(",")]:
        for job in args.jobs.split(","):
            record = measure(job, load, code, args.cap)
            record.update(label=args.label, job=job, load=load, commit=commit,
                          measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            payload["runs"][f"{args.label}/{job}/{load}"] = record
            print(json.dumps({k: v for k, v in record.items() if k != "output_tail"}), flush=True)
            write_report(payload, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
