"""Check the built distributions before a release: what the wheel and the sdist must (not) hold.

    python -m build --sdist --wheel --outdir dist . && twine check dist/*
    python tools/check_dist.py dist/

``twine check`` validates the metadata and that the README renders on PyPI; this script checks
the contents, which twine does not look at:

- the wheel's ``gnnnas/`` holds exactly the files git tracks there (the code, the embedded
  benchmark tables and their NOTICE, the shipped pre-trained encoders: nothing missing, no stale
  build output or scratch file), the license files in ``.dist-info/licenses/`` (``LICENSE``,
  ``NOTICE``, the tables' NOTICE), and no tests, caches, byte code or CI files;
- its core requirements name none of the heavy optional packages (they are extras);
- the sdist holds the same ``gnnnas/`` files (pip builds the wheel from it), the license files,
  ``pyproject.toml``, the changelog and the whole test suite, and no virtual environments,
  caches or build outputs.

Exit status 0 when every rule holds, else 1 with one line per broken rule.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

LICENSES = ("LICENSE", "NOTICE", "gnnnas/data/embedded/NOTICE")
HEAVY = {"nni", "archai", "ray", "onnxruntime", "tensorboard", "matplotlib", "pytest", "hypothesis"}
#: path parts no distribution may contain
JUNK = re.compile(r"(^|/)(__pycache__|\.pytest_cache|\.hypothesis|\.ci|\.venv|venv|\.git|probes)(/|$)|\.py[co]$")
MIN_TABLES = 6
REPO = Path(__file__).resolve().parents[1]


def package_files(repo: Path = REPO) -> set[str] | None:
    """The files of ``gnnnas/`` that git tracks (what a distribution must hold of the package,
    nothing more), or None outside a git checkout."""
    try:
        out = subprocess.run(["git", "-C", str(repo), "ls-files", "gnnnas"], capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {n for n in out.splitlines() if not n.endswith(".gitignore")}


def _compare(where: str, held: set[str], expected: set[str] | None) -> list[str]:
    if expected is None:
        return []
    problems = [f"{where}: missing {n}" for n in sorted(expected - held)]
    return problems + [f"{where}: holds {n}, which git does not track (stale build or scratch file)"
                       for n in sorted(held - expected)]


def wheel_problems(path: Path, expected: set[str] | None = None) -> list[str]:
    """Broken rules of the wheel at ``path`` (empty: fine). ``expected``: the package's files
    (:func:`package_files`); without it only the rules that need no checkout are checked."""
    names = zipfile.ZipFile(path).namelist()
    problems = _compare(path.name, {n for n in names if n.startswith("gnnnas/")}, expected)
    tables = [n for n in names if n.startswith("gnnnas/data/embedded/") and n.endswith(".npz")]
    if len(tables) < MIN_TABLES:
        problems.append(f"{path.name}: {len(tables)} embedded tables (gnnnas/data/embedded/*.npz), expected >= {MIN_TABLES}")
    if "gnnnas/data/embedded/NOTICE" not in names:
        problems.append(f"{path.name}: missing gnnnas/data/embedded/NOTICE")
    if not any(n.startswith("gnnnas/pretrained/") and n.endswith(".safetensors") for n in names):
        problems.append(f"{path.name}: no shipped pre-trained encoder (gnnnas/pretrained/*.safetensors)")
    info = next((n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA")), None)
    if info is None:
        return [*problems, f"{path.name}: no .dist-info/METADATA"]
    for license_file in LICENSES:
        if f"{info}/licenses/{license_file}" not in names:
            problems.append(f"{path.name}: missing {info}/licenses/{license_file}")
    for name in names:
        if name.startswith(("tests/", "benchmarks/", "docs/", "examples/")) or JUNK.search(name):
            problems.append(f"{path.name}: must not hold {name}")
    metadata = zipfile.ZipFile(path).read(f"{info}/METADATA").decode()
    core = [line.split(":", 1)[1].strip() for line in metadata.splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line]
    heavy = [r for r in core if re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() in HEAVY]
    if heavy:
        problems.append(f"{path.name}: core requirements include optional packages {heavy}")
    if not re.search(r"^License-Expression: Apache-2\.0$", metadata, re.MULTILINE):
        problems.append(f"{path.name}: METADATA has no 'License-Expression: Apache-2.0'")
    return problems


def sdist_problems(path: Path, expected: set[str] | None = None) -> list[str]:
    """Broken rules of the sdist at ``path`` (empty: fine); ``expected`` as for :func:`wheel_problems`."""
    with tarfile.open(path) as tar:
        names = [m.name for m in tar.getmembers() if m.isfile()]
    root = names[0].split("/")[0] if names else ""
    inside = {n[len(root) + 1:] for n in names if n.startswith(root + "/")}
    problems = _compare(path.name, {n for n in inside if n.startswith("gnnnas/")}, expected)
    problems += [f"{path.name}: missing {f}" for f in (*LICENSES, "pyproject.toml", "README.md", "CHANGELOG.md",
                                                       "tests/conftest.py", "tools/check_dist.py") if f not in inside]
    problems += [f"{path.name}: must not hold {n}" for n in sorted(inside)
                 if JUNK.search(n) or n.startswith(("build/", "dist/", "docs/_build/"))]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", type=Path, help="folder with the built .whl and .tar.gz")
    args = parser.parse_args(argv)
    wheels = sorted(args.dist.glob("gnnnas-*.whl"))
    sdists = sorted(args.dist.glob("gnnnas-*.tar.gz"))
    problems = [] if wheels else [f"{args.dist}: no gnnnas wheel"]
    problems += [] if sdists else [f"{args.dist}: no gnnnas sdist"]
    expected = package_files()
    for wheel in wheels:
        problems += wheel_problems(wheel, expected)
    for sdist in sdists:
        problems += sdist_problems(sdist, expected)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{', '.join(p.name for p in wheels + sdists)}: contents as a release needs them")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
