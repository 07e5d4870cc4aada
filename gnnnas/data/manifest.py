"""``gnnnas-manifest.json``: what ``gnnnas data convert`` wrote, with SHA-256 checksums.

One manifest per data directory: ``{"version": 1, "files": {relative path: {"sha256",
"bytes", "space", "source", "source_sha256", "rows", "created"}}}``. ``verify`` recomputes the
checksums, so a table edited, truncated or swapped after conversion is caught before it
silently changes a benchmark's labels.

Replacing a table is a small transaction (:func:`replace_table`), serialised between processes
by a lock file (``.gnnnas-manifest.lock``, via the ``filelock`` package) under which the
manifest is re-read, so two conversions into one directory both end up in it:

1. the new table is written completely to ``.<name>.new-<pid>-<random>`` beside the old one;
2. the manifest is rewritten with the new checksum as the entry's ``pending`` value (the
   manifest is the journal: the old checksum stays the entry's ``sha256``);
3. the old table is kept as a hard link ``.<name>.bak-...``, the new one renamed into place;
4. the manifest is rewritten with the new entry and no ``pending``; the backup is removed.

A failure at any step restores the old table and manifest. A process killed between steps 3
and 4 leaves a table whose checksum is the recorded ``pending`` one: ``verify`` reports it as
``interrupted`` (a complete table from a conversion that did not finish recording itself), not
as tampering, and the next ``convert`` records it. Temporary, new and backup files of dead
processes are removed by the next conversion of the same table.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from gnnnas.files import (
    UnsafeLockPathError,
    atomic_write,
    file_lock,
    fsync_directory,
    is_inside,
    remove_stale_temporaries,
    temporary_path,
)

__all__ = [
    "LOCK_NAME",
    "MANIFEST_NAME",
    "DataDirectoryError",
    "describe_os_error",
    "file_sha256",
    "manifest_lock",
    "read_manifest",
    "replace_table",
    "verify_manifest",
]

MANIFEST_NAME = "gnnnas-manifest.json"
LOCK_NAME = ".gnnnas-manifest.lock"
#: Seconds a conversion waits for another one to release the data directory's lock.
LOCK_TIMEOUT = 600.0
_RELATIVE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*")


class DataDirectoryError(OSError):
    """The data directory cannot be read or written; the message names the path and the cause.

    Raised after every change of the failed operation has been undone.
    """


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file (or of every file of a directory, in sorted relative-path order)."""
    digest = hashlib.sha256()
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as handle:
            while block := handle.read(chunk):
                digest.update(block)
    return digest.hexdigest()


def describe_os_error(error: OSError, path: str | os.PathLike | None = None) -> str:
    """``'<path>: <cause>'`` for an ``OSError`` (e.g. ``'/d/x.npz: No space left on device'``)."""
    where = error.filename if error.filename is not None else path
    cause = error.strerror or errno.errorcode.get(error.errno or 0) or str(error)
    return f"{where}: {cause}" if where is not None else cause


def read_manifest(data_dir: str | os.PathLike) -> dict[str, Any]:
    """The manifest of ``data_dir`` (an empty one when none exists).

    Raises ``ValueError`` naming the file for a manifest that is not one (bad JSON, an entry
    that is not an object, a path that is absolute or leaves the directory) and
    :class:`DataDirectoryError` when it cannot be read (e.g. it is a directory).
    """
    path = Path(data_dir) / MANIFEST_NAME
    if not os.path.lexists(path):
        return {"version": 1, "files": {}}
    if not path.is_file():  # a directory, FIFO, device or dangling link: never opened
        raise DataDirectoryError(f"{path}: the manifest is not a regular file; move it away")
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (ValueError, RecursionError) as err:  # bad JSON or UTF-8, nesting too deep, huge integers
        raise ValueError(f"{path}: not a gnnnas manifest ({type(err).__name__}: {str(err)[:200]}); "
                         "fix or delete it") from None
    except OSError as err:
        raise DataDirectoryError(f"cannot read the manifest {describe_os_error(err, path)}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ValueError(f"{path}: not a gnnnas manifest (no 'files' object); fix or delete it")  # noqa: TRY004
    for relative, entry in manifest["files"].items():
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: entry {relative!r} is a {type(entry).__name__}, not an object; "  # noqa: TRY004
                             "fix or delete the manifest")
        if not _RELATIVE.fullmatch(relative) or ".." in PurePosixPath(relative).parts:
            raise ValueError(f"{path}: entry {relative!r} is not a relative path inside the data directory")
        pending = entry.get("pending")
        if ("sha256" in entry and not _is_sha256(entry["sha256"])) or (
                "pending" in entry and not (isinstance(pending, dict) and _is_sha256(pending.get("sha256")))):
            raise ValueError(f"{path}: entry {relative!r} has a malformed 'sha256' or 'pending'; "
                             "fix or delete the manifest")
    return manifest


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None


def _write_manifest(data_dir: Path, manifest: dict[str, Any]) -> None:
    with atomic_write(data_dir / MANIFEST_NAME, "w") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)


class _LockUnavailable(DataDirectoryError):
    """The lock file cannot be created or opened (e.g. a read-only data directory)."""


@contextlib.contextmanager
def manifest_lock(data_dir: str | os.PathLike, timeout: float | None = None) -> Iterator[None]:
    """Hold the data directory's lock (between processes and threads) for the block.

    Waits up to ``timeout`` seconds (default :data:`LOCK_TIMEOUT`), then raises
    :class:`DataDirectoryError`.
    """
    from filelock import Timeout

    timeout = LOCK_TIMEOUT if timeout is None else timeout
    data_dir = Path(data_dir)
    lock_path = data_dir / LOCK_NAME
    try:
        lock = file_lock(lock_path, timeout)  # before mkdir: a refused lock path changes nothing
        data_dir.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except UnsafeLockPathError as err:
        raise DataDirectoryError(str(err)) from None
    except Timeout:
        raise DataDirectoryError(f"{lock_path}: another conversion held the lock for {timeout:.0f} s") from None
    except OSError as err:
        raise _LockUnavailable(f"cannot lock the data directory: {describe_os_error(err, lock_path)}; "
                               "the data directory is unchanged") from None
    try:
        yield
    finally:
        lock.release()


def _settle(data_dir: Path, manifest: dict[str, Any]) -> bool:
    """Finish what a killed conversion left in ``manifest`` (under the lock); True if it changed.

    A ``pending`` entry whose table has the pending checksum is recorded (the new table was
    renamed into place); otherwise the pending value is dropped (the old table is in place).
    """
    changed = False
    for relative, entry in list(manifest["files"].items()):
        pending = entry.get("pending")
        if pending is None:
            continue
        file = data_dir / relative
        if file.is_file() and isinstance(pending, dict) and file_sha256(file) == pending.get("sha256"):
            manifest["files"][relative] = dict(pending)
        elif "sha256" in entry:
            del entry["pending"]
        else:  # a first conversion of this table that never reached its rename
            del manifest["files"][relative]
        changed = True
    return changed


def replace_table(data_dir: str | os.PathLike, relative: str, write: Callable[[Path], Any],
                  info: dict[str, Any]) -> Path:
    """Write a table with ``write(path)`` and record it as ``relative`` in the manifest, atomically.

    ``info`` (space, source, rows, ...) is stored with ``sha256``, ``bytes`` and ``created``.
    Either the new table and its entry are both in place, or (on any error) the old table and
    manifest are unchanged; see the module docstring for the steps and what a crash leaves.
    Raises :class:`DataDirectoryError` naming the path and the cause for file-system errors,
    ``ValueError`` for a manifest that is not one or a path outside ``data_dir``. Returns the
    manifest's path.
    """
    data_dir = Path(data_dir)
    target = data_dir / relative
    if not is_inside(target, data_dir):
        raise ValueError(f"{target}: outside the data directory {data_dir}; refusing to write it")
    with manifest_lock(data_dir):
        manifest = read_manifest(data_dir)  # re-read under the lock: another conversion may have run
        if _settle(data_dir, manifest):
            _write_manifest_or_raise(data_dir, manifest)
        committed = json.loads(json.dumps(manifest))
        new = temporary_path(target, "new")
        backup: Path | None = None
        renamed = False
        try:
            remove_stale_temporaries(target, ("tmp", "new", "bak"))
            write(new)  # 1
            entry = {
                **info,
                "sha256": file_sha256(new),
                "bytes": new.stat().st_size,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            }
            manifest["files"][relative] = {**manifest["files"].get(relative, {}), "pending": entry}
            _write_manifest(data_dir, manifest)  # 2: the journal
            if target.is_file():
                backup = temporary_path(target, "bak")
                _keep_copy(target, backup)  # 3: the old table survives until step 4 is done
            os.replace(new, target)
            renamed = True
            fsync_directory(target.parent)
            manifest["files"][relative] = entry
            _write_manifest(data_dir, manifest)  # 4
        except BaseException as error:
            _roll_back(data_dir, target, new, backup, renamed, committed)
            if isinstance(error, OSError) and not isinstance(error, DataDirectoryError):
                raise DataDirectoryError(f"cannot write {describe_os_error(error, target)}; "
                                         "the data directory is unchanged") from None
            raise
        if backup is not None:
            with contextlib.suppress(OSError):
                backup.unlink()
    return data_dir / MANIFEST_NAME


def _keep_copy(source: Path, backup: Path) -> None:
    """A hard link (no bytes copied); a copy where the file system has no hard links."""
    try:
        os.link(source, backup)
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.ENOSYS):
            raise
        shutil.copyfile(source, backup)


def _write_manifest_or_raise(data_dir: Path, manifest: dict[str, Any]) -> None:
    try:
        _write_manifest(data_dir, manifest)
    except OSError as error:
        raise DataDirectoryError(f"cannot write {describe_os_error(error, data_dir / MANIFEST_NAME)}; "
                                 "the data directory is unchanged") from None


def _roll_back(data_dir: Path, target: Path, new: Path, backup: Path | None, renamed: bool,
               committed: dict[str, Any]) -> None:
    """Undo a failed :func:`replace_table`: old table back in place, the manifest as it was."""
    with contextlib.suppress(OSError):
        new.unlink()
    if backup is not None:
        with contextlib.suppress(OSError):
            if renamed:
                os.replace(backup, target)
            else:
                backup.unlink()
    elif renamed:  # there was no table before this conversion
        with contextlib.suppress(OSError):
            target.unlink()
    with contextlib.suppress(OSError, ValueError):
        if read_manifest(data_dir) != committed:
            _write_manifest(data_dir, committed)


def verify_manifest(data_dir: str | os.PathLike) -> list[tuple[str, str]]:
    """``(relative path, status)`` per manifest entry. Changes no table or manifest; waits for a
    running conversion (it takes the data directory's lock, creating the lock file if missing,
    except where the directory is read-only and no conversion can run).

    Status: ``ok``; ``missing``; ``checksum mismatch`` (the table changed after it was
    recorded: edited, truncated, swapped); ``interrupted`` (a conversion was killed after the
    new, complete table was renamed into place and before the manifest recorded it: the table
    has the checksum recorded as ``pending``; the next ``convert`` records it).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        return []
    with _lock_if_possible(data_dir):
        return _verify(data_dir)


@contextlib.contextmanager
def _lock_if_possible(data_dir: Path) -> Iterator[None]:
    """The lock, so a running conversion finishes first; none where it cannot be created
    (a read-only data directory, where no conversion can run either)."""
    with contextlib.ExitStack() as stack:
        with contextlib.suppress(_LockUnavailable):
            stack.enter_context(manifest_lock(data_dir))
        yield


def _verify(data_dir: Path) -> list[tuple[str, str]]:
    results = []
    for relative, info in sorted(read_manifest(data_dir)["files"].items()):
        file = data_dir / relative
        pending = info.get("pending") if isinstance(info.get("pending"), dict) else {}
        if not is_inside(file, data_dir):
            results.append((relative, "outside the data directory"))
        elif not file.is_file():
            if "sha256" in info or not pending:  # else: a first conversion killed before its rename
                results.append((relative, "missing"))
        else:
            digest = file_sha256(file)
            if digest == info.get("sha256"):
                results.append((relative, "ok"))
            elif pending and digest == pending.get("sha256"):
                results.append((relative, "interrupted"))
            else:
                results.append((relative, "checksum mismatch"))
    return results
