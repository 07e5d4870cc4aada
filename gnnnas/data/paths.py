"""Where benchmark files live, and the error raised when one is missing.

Data directory: the ``data_dir`` argument, else ``$GNNNAS_DATA``, else ``~/.cache/gnnnas``.
Derived files (e.g. the NB101 enumeration) go to a writable cache: ``$GNNNAS_CACHE``, else the
data directory if writable, else ``~/.cache/gnnnas``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from gnnnas.files import atomic_write

__all__ = [
    "MissingDataError",
    "atomic_write",
    "require_file",
    "resolve_cache_dir",
    "resolve_data_dir",
]

DEFAULT_DIR = Path("~/.cache/gnnnas")


class MissingDataError(FileNotFoundError):
    """A benchmark file is not in the data directory; the message says how to obtain it."""


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory to read from (argument > ``$GNNNAS_DATA`` > ``~/.cache/gnnnas``)."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("GNNNAS_DATA")
    if env:
        return Path(env).expanduser()
    return DEFAULT_DIR.expanduser()


def require_file(relative: str, data_dir: str | os.PathLike | None, how_to_get: str) -> Path:
    """Path of ``relative`` inside the data directory, or :class:`MissingDataError`."""
    root = resolve_data_dir(data_dir)
    path = root / relative
    if not path.is_file():
        raise MissingDataError(
            f"benchmark file {relative!r} not found in data directory {str(root)!r} "
            f"(set data_dir= or $GNNNAS_DATA). To obtain it: {how_to_get}"
        )
    return path


_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")

#: Where ``gnnnas data convert`` writes each space's table, relative to the data directory.
CONVERTED = {
    "nb201": "nb201/nb201_converted.npz",
    "nb101": "nb101/nb101_converted.npz",
    "nasbench_graph": "nasbench_graph/nbg_{dataset}.npz",
}


def converted_relative(space: str, dataset: str | None = None) -> str:
    """Path of ``space``'s converted table inside the data directory (NAS-Bench-Graph: per ``dataset``)."""
    if space not in CONVERTED:
        raise ValueError(f"unknown space {space!r} for conversion; choose from {list(CONVERTED)}")
    relative = CONVERTED[space]
    if "{dataset}" in relative:
        if not dataset:
            raise ValueError("NAS-Bench-Graph tables are per data set: pass dataset=")
        if not isinstance(dataset, str) or not _NAME.fullmatch(dataset):
            raise ValueError(f"data set name {dataset!r} is not a plain name (letters, digits, '_'); "
                             "it becomes part of a file name")
        relative = relative.format(dataset=dataset)
    elif dataset is not None:
        raise ValueError(f"dataset= applies to NAS-Bench-Graph tables only, not to {space}")
    return relative


def converted_table(space: str, data_dir: str | os.PathLike | None, converted: bool | None,
                    dataset: str | None = None) -> Path | None:
    """Which converted table a loader reads: ``None`` when it should read the published files.

    ``converted=None`` (loaders' default): the table when present; ``True``: the table, or
    :class:`MissingDataError`; ``False``: never (protocols pin the published files, so a
    converted table cannot change their numbers).
    """
    if converted is not None and not isinstance(converted, bool):
        raise ValueError(f"converted must be None, True or False, got {converted!r}")
    if converted is False:
        return None
    relative = converted_relative(space, dataset)
    if converted is None:
        path = resolve_data_dir(data_dir) / relative
        return path if path.is_file() else None
    return require_file(relative, data_dir, f"convert the official file with `gnnnas data convert SOURCE --space {space}`")


def resolve_cache_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """A writable directory for derived files (``$GNNNAS_CACHE`` > data dir > ``~/.cache/gnnnas``)."""
    env = os.environ.get("GNNNAS_CACHE")
    candidates = [Path(env).expanduser()] if env else []
    candidates += [resolve_data_dir(data_dir), DEFAULT_DIR.expanduser()]
    for candidate in candidates:
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return candidate
    raise OSError(f"no writable cache directory among {[str(c) for c in candidates]}; set $GNNNAS_CACHE")
