"""Shared fixtures: where the benchmark data lives, and how its absence is handled.

Data comes from ``$GNNNAS_DATA``, else ``../shared/data`` beside the repository. A test that
needs a missing file, or an optional package that is not installed, is skipped with the reason
(where the file was looked for; the command that installs the package), except under
``CI=true``, where either is a failure (CI must run every test).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


#: Read once at start-up: tests that unset $GNNNAS_DATA (to reach the shipped tables) still
#: compare against the data directory the run was given.
_DATA_ENV = os.environ.get("GNNNAS_DATA")


def _data_root() -> Path:
    return Path(_DATA_ENV) if _DATA_ENV else REPO.parent / "shared" / "data"


def _under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing_data_message(root: Path, missing: list[str], env: str | None) -> str:
    """Why a test cannot run: the files missing, and where they were looked for.

    ``env`` is ``$GNNNAS_DATA`` as given (``None`` when unset): when it is set, the message says
    the files are missing *in* that directory (setting the variable again would not help);
    only when it is unset does it say to set it.
    """
    if env:
        where = f"not found in GNNNAS_DATA={env}"
        fix = "put them there (docs/data.md: gnnnas data download / convert) or point GNNNAS_DATA elsewhere"
    else:
        where = f"not found in {root} (the default beside the repository; GNNNAS_DATA is not set)"
        fix = "set GNNNAS_DATA to the directory that holds them (docs/data.md)"
    return f"benchmark data missing: {', '.join(missing)} {where}; {fix}"


def need_data(*relative: str) -> Path:
    """The data root if all ``relative`` files exist; otherwise skip (or fail under CI)."""
    root = _data_root()
    missing = [r for r in relative if not (root / r).is_file()]
    if missing:
        message = missing_data_message(root, missing, _DATA_ENV)
        if _under_ci():
            pytest.fail(message)
        pytest.skip(message)
    return root


#: The install command for each optional package the tests import (module -> command).
INSTALL = {
    "nni": 'pip install "gnnnas[nni]"',
    "archai": 'pip install "gnnnas[archai]"',
    "nas_bench_graph": 'pip install "gnnnas[graph]" (also in gnnnas[test])',
    "PIL": 'pip install pillow (in gnnnas[test])',
    "matplotlib": 'pip install "gnnnas[plots]"',
}


def need_module(name: str, install: str | None = None):
    """Import an optional package, or skip with the command that installs it (fail under
    ``CI=true``, where every test must run). ``install`` defaults to :data:`INSTALL`'s entry."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as err:
        if install is None:
            install = INSTALL.get(name.split(".")[0], f"pip install {name.split('.')[0]}")
        message = f"{name} is not installed ({err}); {install}"
        if _under_ci():
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def data_root():
    """Factory fixture: ``data_root('nb201/x.csv', ...)`` returns the data directory."""
    return need_data


@pytest.fixture(scope="session")
def nb101_cache(tmp_path_factory):
    """Session cache directory for the enumeration (shared by the NB101 test files, so
    the space is enumerated at most once per test process; pytest-xdist workers share one
    directory, whose writes are atomic)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest-xdist: one directory for all workers
        root = root.parent
    cache = root / "nb101_cache"
    old = os.environ.get("GNNNAS_CACHE")
    os.environ["GNNNAS_CACHE"] = str(cache)
    try:
        yield cache
    finally:
        if old is None:
            os.environ.pop("GNNNAS_CACHE", None)
        else:
            os.environ["GNNNAS_CACHE"] = old


def toy_bench(n: int = 120):
    """A benchmark of ``n`` sampled NB201 cells labelled by their live parametric ops plus noise."""
    import numpy as np

    import gnnnas
    from gnnnas.data.benchmark import Benchmark

    space = gnnnas.get_space("nb201")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(n)]
    y = np.array([a.prune().num_parametric_ops for a in archs], dtype=float) + rng.normal(0, 0.1, n)
    return Benchmark("toy", space, "y", archs, y, [space.format(a) for a in archs])


def pytest_collection_modifyitems(items):
    """Under pytest-xdist (``--dist loadgroup``) the tests that need the NB101 enumeration run on
    one worker, so that the space is enumerated once (minutes) and the others read the cache."""
    for item in items:
        if "nb101_cache" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("nb101_enumeration"))
