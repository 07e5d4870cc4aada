"""Where benchmark files live, and the error raised when one is missing.

Data directory: the ``data_dir`` argument, else ``$GNNNAS_DATA``, else ``~/.cache/gnnnas``.
The benchmark loaders search all three in that order for their file (:func:`locate`) and, when
none holds it, read the table shipped inside the package (:mod:`gnnnas.data.embedded`).
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
    "data_dirs",
    "find_file",
    "locate",
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


def data_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Directories searched for benchmark files, in order: ``data_dir``, ``$GNNNAS_DATA``, ``~/.cache/gnnnas``."""
    candidates = [Path(data_dir).expanduser()] if data_dir is not None else []
    env = os.environ.get("GNNNAS_DATA")
    if env:
        candidates.append(Path(env).expanduser())
    candidates.append(DEFAULT_DIR.expanduser())
    return list(dict.fromkeys(candidates))


def find_file(relative: str, root: Path) -> Path | None:
    """``root / relative`` when that file exists."""
    path = root / relative
    return path if path.is_file() else None


def locate(relative: str, data_dir: str | os.PathLike | None, embedded: bool | None, how_to_get: str) -> Path | str:
    """Where a loader reads its file ``relative`` from: a data directory, or ``"embedded"``.

    ``embedded=None`` (loaders' default): the first of :func:`data_dirs` that holds the file,
    else the table shipped in the package; ``False``: a data directory or
    :class:`MissingDataError`; ``True``: the shipped table, whatever the directories hold.
    A loader reads its other files (e.g. NB201's 12-epoch CSV) from the same place, so one
    benchmark never mixes sources.
    """
    from gnnnas.data.embedded import EMBEDDED, embedded_path

    if embedded is not None and not isinstance(embedded, bool):
        raise ValueError(f"embedded must be None, True or False, got {embedded!r}")
    shipped = embedded_path(relative) is not None
    if embedded is True:
        if not shipped:
            raise MissingDataError(f"benchmark file {relative!r} has no table embedded in gnnnas")
        return EMBEDDED
    searched = data_dirs(data_dir)
    for root in searched:
        if (root / relative).is_file():
            return root
    if embedded is None and shipped:
        return EMBEDDED
    reason = " (embedded=False)" if shipped else ""
    raise MissingDataError(
        f"benchmark file {relative!r} not found in the data directories {[str(r) for r in searched]} "
        f"(set data_dir= or $GNNNAS_DATA) nor embedded{reason}. To obtain it: {how_to_get}"
    )


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
                    dataset: str | None = None, embedded: bool | None = None) -> Path | None:
    """Which converted table a loader reads: ``None`` when it should read the published files.

    ``converted=None`` (loaders' default): the table when present; ``True``: the table, or
    :class:`MissingDataError`; ``False``: never (protocols pin the published files, so a
    converted table cannot change their numbers). ``embedded=True`` (read the tables shipped
    with gnnnas) means no converted table; with ``converted=True`` it is a ``ValueError``.
    """
    if converted is not None and not isinstance(converted, bool):
        raise ValueError(f"converted must be None, True or False, got {converted!r}")
    if embedded is True:
        if converted:
            raise ValueError("converted=True and embedded=True exclude each other")
        return None
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
