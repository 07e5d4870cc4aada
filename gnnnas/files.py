"""Writing files so that a reader never sees half of one: atomic replacement, usual permissions.

Converted tables, the data manifest, checkpoints, benchmark results and caches are written
through :func:`atomic_write` (the CLI's CSV outputs use a plain ``open``):

- the bytes go to a temporary file ``.<name>.tmp-<pid>-<random>`` beside the target, created
  with ``O_EXCL`` and mode ``0o666`` reduced by the umask (as ``open()`` does; ``tempfile``
  would give ``0o600``, which hides a shared data directory's tables from its other users);
- the file is flushed and fsynced, then renamed over the target (``os.replace``, atomic on
  POSIX and Windows), and the directory entry is fsynced where the platform allows it;
- on any error the temporary file is removed and the target is untouched.

Temporary files that a killed writer left behind (its process no longer exists) are removed by
the next write of the same target. The lock files that serialise writers between processes
(the data manifest, downloads, the probe cache) come from :func:`file_lock`, which gives them the
same permissions and refuses a lock path found planted (a symbolic link, a directory). This module
knows paths and bytes only.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from filelock import FileLock

__all__ = ["UnsafeLockPathError", "atomic_write", "current_umask", "file_lock", "fsync_directory", "is_inside",
           "remove_stale_temporaries", "temporary_path"]


def temporary_path(path: str | os.PathLike, kind: str = "tmp") -> Path:
    """A fresh name ``.<name>.<kind>-<pid>-<random>`` beside ``path`` (not created)."""
    path = Path(path)
    return path.parent / f".{path.name}.{kind}-{os.getpid()}-{secrets.token_hex(8)}"


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` may still be writing its temporary file."""
    if pid == os.getpid():
        return True  # another thread of this process may be writing
    if os.name != "posix":
        return False  # no cheap check; Windows refuses to delete a file that is still open
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, but belongs to another user
    return True


def remove_stale_temporaries(path: str | os.PathLike, kinds: tuple[str, ...] = ("tmp",)) -> list[Path]:
    """Remove ``.<name>.<kind>-<pid>-<random>`` files (or folders) of ``path`` whose writer no
    longer runs."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    # also ``..<name>.new-<pid>-<r>.tmp-<pid>-<r>``: the temporary file of a temporary file
    pattern = re.compile(r"\.?" + re.escape(f".{path.name}.") + f"(?:{'|'.join(map(re.escape, kinds))})"
                         + r"-(\d+)-[0-9a-f]{16}(?:\.tmp-\d+-[0-9a-f]{16})?")
    removed = []
    for other in path.parent.iterdir():
        match = pattern.fullmatch(other.name)
        if match and not _process_alive(int(match[1])):
            with contextlib.suppress(OSError):
                if other.is_dir() and not other.is_symlink():
                    shutil.rmtree(other)
                else:
                    other.unlink()
                removed.append(other)
    return removed


def fsync_directory(directory: str | os.PathLike) -> None:
    """Make a rename inside ``directory`` durable (a no-op where directories cannot be opened)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def unwritable_reason(path: str | os.PathLike) -> str | None:
    """Why :func:`atomic_write` could not put a file at ``path`` (checked without writing or
    creating anything), or None. Catches: a directory (also ``x/`` or ``x/..``), an existing
    target that is not a regular file (a device, a FIFO: replacing it would swap it for a
    file), a path through a file, a folder this process may not write in, and a file of
    another user in a sticky folder (``/tmp``). Folders still missing are fine: the write
    creates them."""
    text = os.fspath(path)
    if not text:
        return "the path is empty"
    target = Path(os.path.abspath(text))  # resolves "x/.." as the write's rename would
    if text.endswith(("/", os.sep)):
        return f"{text} ends with {text[-1]!r}, so it names a folder; name the file to write"
    if target.is_dir():
        return f"{text} is a directory; name the file to write"
    if target.exists() and not target.is_file():
        return f"{text} exists and is not a regular file (a device, FIFO or socket); name a file"
    folder = target.parent
    while not folder.exists() and folder != folder.parent:  # the nearest folder that exists
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write in {folder} (permission denied or read-only)"
    if folder == target.parent and target.exists() and hasattr(os, "geteuid") and os.geteuid() != 0:
        mode, user = folder.stat(), os.geteuid()
        if mode.st_mode & stat.S_ISVTX and user not in (mode.st_uid, target.stat().st_uid):
            return f"cannot replace {text}: another user's file in a sticky folder ({folder})"
    return None


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", newline: str | None = None) -> Iterator:
    """Yield a handle on a temporary file beside ``path``; on success it becomes ``path``.

    ``mode``: ``"wb"`` or ``"w"`` (UTF-8 text; ``newline`` as in :func:`open`, ``""`` for the
    csv module). Raises ``IsADirectoryError`` / ``OSError`` before writing if ``path`` is a
    directory or an existing non-regular file (a device, a FIFO), and what the file system raises
    (``OSError``: disk full, permission denied, ...), always after removing the temporary file.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    if path.is_dir():  # os.replace would fail only after the whole file was written
        raise IsADirectoryError(f"{path} is a directory; name a file to write")
    if path.exists() and not path.is_file():  # os.replace would swap a device or FIFO for a file
        raise OSError(f"{path} exists and is not a regular file (a device, FIFO or socket); name a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = temporary_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8", "newline": newline} if mode == "w" else {})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_directory(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def is_inside(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """Whether ``path`` resolves (symlinks followed) to ``root`` or somewhere below it."""
    try:
        resolved, base = Path(path).resolve(), Path(root).resolve()
    except (OSError, RuntimeError):  # a symbolic-link loop: not a place to write
        return False
    return resolved == base or base in resolved.parents


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``).

    Elsewhere it is set and restored at once, which another thread could observe for that instant.
    """
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    current = os.umask(0o022)
    os.umask(current)
    return current


class UnsafeLockPathError(OSError):
    """A lock path is a symbolic link or not a regular file; nothing was locked or changed."""


def file_lock(lock_path: str | os.PathLike, timeout: float) -> FileLock:
    """A ``filelock.FileLock`` on ``lock_path`` (not yet acquired), waiting up to ``timeout`` seconds.

    The lock file is created with mode ``0o666`` less the umask, like every file gnnnas writes, so
    that a folder shared by a group stays lockable for all of it (filelock's default is ``0o644``).
    Raises :class:`UnsafeLockPathError` when the path is a symbolic link or exists and is not a
    regular file: filelock opens, truncates and chmods whatever the path points to. Other
    ``OSError`` (a parent folder that cannot be searched) as the file system raises it.

    The check runs once, here. A link swapped in while ``acquire`` waits is refused by filelock
    itself from 3.20.1 on (``O_NOFOLLOW``, CVE-2025-68146) and a file renamed or hard-linked there
    from 4.2.1 on (CVE-2026-112909); gnnnas accepts filelock 3.10 and newer because NNI 3.0 (the
    ``adapters`` extra) pins ``filelock<3.12``, so in a folder that others can write to, use a
    newer filelock where NNI is not installed.
    """
    from filelock import FileLock

    lock_path = Path(lock_path)
    if lock_path.is_symlink() or (lock_path.exists() and not lock_path.is_file()):
        raise UnsafeLockPathError(f"{lock_path}: the lock file is a symbolic link or not a regular file; "
                                  "remove it (nothing was changed)")
    return FileLock(str(lock_path), timeout=timeout, mode=0o666 & ~current_umask())
