"""Shared fixtures: where the benchmark data lives, and how its absence is handled.

Data comes from ``$GNNNAS_DATA``, else ``../shared/data`` beside the repository. A test that
needs a missing file is skipped with the reason, except under ``CI=true``, where missing data
is a failure (CI must run every test).
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


def need_data(*relative: str) -> Path:
    """The data root if all ``relative`` files exist; otherwise skip (or fail under CI)."""
    root = _data_root()
    missing = [r for r in relative if not (root / r).is_file()]
    if missing:
        message = f"benchmark data missing in {root}: {missing} (set GNNNAS_DATA)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root


def need_module(name: str, install: str):
    """Import an optional package, or skip (fail under ``CI=true``, where every test must run)."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as err:
        message = f"{name} is not installed ({err}); {install}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def data_root():
    """Factory fixture: ``data_root('nb201/x.csv', ...)`` returns the data directory."""
    return need_data


@pytest.fixture(scope="session")
def nb101_cache(tmp_path_factory):
    """Session cache directory for the enumeration (shared by the NB101 test files, so
    the space is enumerated at most once per test session)."""
    cache = tmp_path_factory.getbasetemp() / "nb101_cache"
    old = os.environ.get("GNNNAS_CACHE")
    os.environ["GNNNAS_CACHE"] = str(cache)
    try:
        yield cache
    finally:
        if old is None:
            os.environ.pop("GNNNAS_CACHE", None)
        else:
            os.environ["GNNNAS_CACHE"] = old
