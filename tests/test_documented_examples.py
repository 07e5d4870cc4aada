"""Every documented example runs as written, as a new user would run it.

* Each ```python block of README.md and docs/ runs as one script in a subprocess, in an empty
  temporary working directory that is also $HOME, with every ``GNNNAS_*`` variable unset: the
  examples must work from the tables shipped with gnnnas, without a data directory.
* Each command of examples/README.md runs the same way, exactly as written there (the path
  ``examples/...`` is taken from the repository; the commands of one example share a directory,
  in order, as a user would type them).

A block that cannot run here is listed in ``NOT_RUN`` with the reason (it is then skipped,
with that reason, rather than left out silently); blocks that are not meant to run at all use
another fence language (```text, ```bash).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import need_data, need_module

import gnnnas

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted(p for p in (REPO / "docs").rglob("*.md") if "_build" not in p.parts)]
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)

#: A substring of a block that cannot run in the tests -> why.
NOT_RUN = {
    "download_and_convert(": "downloads the official files from the network (tests never reach it)",
}
#: An example script -> the optional module it needs (its test skips, naming the extra, without it).
NEEDS = {"adapter_nni.py": "nni"}
#: An example script -> (what its output says, the least each number may be): it ranks well above
#: chance, on every target, and NNI's evolution finds a cell better than most of NB201.
EXPECT = {
    "byo_space.py": (r"Kendall tau on held-out pairs: (\S+)", (0.3,)),
    "adapter_naslib.py": (r"Kendall tau (\S+)\n", (0.3,)),
    "adapter_archai.py": (r"Kendall tau accuracy (\S+), params (\S+);", (0.3, 0.3)),
    "adapter_nni.py": (r"better than (\S+)% of NB201\); Kendall tau over 500 random NNI samples (\S+)", (50, 0.3)),
}
#: Wall-clock limit of one documented run: the slowest measured ~80 s CPU; the machine is shared.
TIMEOUT = 900


def _blocks() -> list:
    """One test per distinct block; a block copied word for word onto several pages runs once,
    its id naming every place (README.md:70=docs/getting-started.md:40)."""
    places: dict[str, list[str]] = {}
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            places.setdefault(match.group(1), []).append(f"{page.relative_to(REPO)}:{line}")
    params = []
    for code, where in places.items():
        marks = [pytest.mark.slow] if ".fit(" in code else []
        params.append(pytest.param("=".join(where), code, id="=".join(where), marks=marks))
    return params


def _fresh_env(home: Path) -> dict[str, str]:
    """The environment of a new user: no GNNNAS_* variables, HOME in the empty directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GNNNAS_") and k != "XDG_CACHE_HOME"}
    env.update(HOME=str(home), OMP_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    return env


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    out = subprocess.run(argv, cwd=cwd, env=_fresh_env(cwd), capture_output=True, text=True, timeout=TIMEOUT,
                         check=False)
    tail = f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    assert out.returncode == 0, f"{shlex.join(argv)} exited {out.returncode}:\n{tail}"
    return out


def test_blocks_are_found():
    found = {place.split(":")[0] for where, *_ in (p.values for p in _blocks()) for place in where.split("=")}
    assert {"README.md", "docs/getting-started.md", "docs/adapters.md"} <= found


@pytest.mark.parametrize(("where", "code"), _blocks())
def test_markdown_python_block_runs(where, code, tmp_path):
    for needle, reason in NOT_RUN.items():
        if needle in code:
            pytest.skip(f"{where}: {reason}")
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    out = _run([sys.executable, str(script)], tmp_path)
    if "print(gnnnas.metrics.kendall_tau(" in code:  # the library example: "about .85"
        assert float(out.stdout.split()[-1]) > 0.75, out.stdout


# ---------------------------------------------------------------- examples/README.md, as written
def _example_commands() -> dict[str, list[list[str]]]:
    """``{script: [argv, ...]}`` of every ``python examples/...`` line in examples/README.md."""
    text = (REPO / "examples" / "README.md").read_text(encoding="utf-8")
    commands: dict[str, list[list[str]]] = {}
    for block in re.findall(r"^```bash[ \t]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        for line in block.splitlines():
            argv = shlex.split(line, comments=True)
            if argv[:1] == ["python"] and argv[1].startswith("examples/"):
                commands.setdefault(Path(argv[1]).name, []).append(argv[1:])
    return commands


def test_every_example_is_documented_and_says_what_it_needs():
    scripts = sorted(p.name for p in (REPO / "examples").glob("*.py"))
    assert sorted(_example_commands()) == scripts == sorted(EXPECT)
    table = (REPO / "examples" / "README.md").read_text(encoding="utf-8")
    for name in scripts:
        doc = (REPO / "examples" / name).read_text(encoding="utf-8").split('"""')[1]
        assert "Needs:" in doc, f"{name}: its docstring should say what it needs"
        assert f"| `{name}` |" in table, f"{name}: missing from the table of examples/README.md"


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(_example_commands()))
def test_example_runs_as_documented(script, tmp_path):
    if script in NEEDS:
        need_module(NEEDS[script])
    pattern, least = EXPECT[script]
    for argv in _example_commands()[script]:
        out = _run([sys.executable, str(REPO / argv[0]), *argv[1:]], tmp_path)
        match = re.search(pattern, out.stdout)
        assert match, f"{shlex.join(argv)} printed no {pattern!r}:\n{out.stdout}"
        values = [float(v) for v in match.groups()]
        assert all(v > low for v, low in zip(values, least)), f"{shlex.join(argv)}: {values}\n{out.stdout}"


# ---------------------------------------------------------------- optional columns cannot raise
@pytest.fixture(scope="module")
def shipped():
    return gnnnas.load_benchmark("nb201", metric="cifar10", embedded=True)


def test_column_present_absent_and_metric(shipped):
    assert shipped.column("params") is shipped.extra["params"]
    assert shipped.column("cifar10") is shipped.y
    absent = shipped.column("zc_not_a_proxy")
    assert absent.shape == (len(shipped),) and np.isnan(absent).all()
    assert "zc_not_a_proxy" not in shipped.extra  # nothing is added by asking
    assert (shipped.column("zc_not_a_proxy", default=0.0) == 0).all()
    small = shipped.subset(np.arange(5))
    assert small.column("zc_nwot").shape == (5,)


def test_zero_cost_column_without_its_file(tmp_path):
    """The case a user hit: $GNNNAS_DATA holds the NB201 CSV but not the optional zero-cost file;
    ``bench.extra["zc_nwot"]`` raised KeyError, ``bench.column("zc_nwot")`` is all NaN."""
    root = need_data("nb201/nb201_test_acc_200ep.csv")
    (tmp_path / "nb201").mkdir()
    (tmp_path / "nb201" / "nb201_test_acc_200ep.csv").symlink_to(root / "nb201" / "nb201_test_acc_200ep.csv")
    bench = gnnnas.load_benchmark("nb201", metric="cifar10", data_dir=tmp_path)
    assert bench.source != "embedded" and "zc_nwot" not in bench.extra
    nwot = bench.column("zc_nwot")
    assert nwot.shape == (len(bench),) and np.isnan(nwot).all()
