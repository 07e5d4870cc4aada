"""gnnnas.files: the umask reader and the lock files every writer of gnnnas shares."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from gnnnas.files import UnsafeLockPathError, current_umask, file_lock

posix_only = pytest.mark.skipif(os.name != "posix" or sys.platform == "win32", reason="POSIX permissions")


@posix_only
@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077, 0o027])
def test_current_umask_reads_the_mask_and_leaves_it(mask):
    previous = os.umask(mask)
    try:
        assert current_umask() == mask
        assert current_umask() == mask  # unchanged by the first read
    finally:
        os.umask(previous)


@posix_only
@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_a_new_lock_file_gets_0666_less_the_umask(tmp_path, mask):
    previous = os.umask(mask)
    try:
        with file_lock(tmp_path / "x.lock", timeout=1):
            pass
    finally:
        os.umask(previous)
    assert (tmp_path / "x.lock").stat().st_mode & 0o777 == 0o666 & ~mask


def test_the_lock_is_not_taken_until_acquired_and_then_excludes_another(tmp_path):
    from filelock import Timeout

    first = file_lock(tmp_path / "x.lock", timeout=0)
    assert not first.is_locked
    with first:
        # another thread's lock on the same path waits (filelock's locks are re-entrant per object)
        outcome = []

        def other():
            try:
                file_lock(tmp_path / "x.lock", timeout=0.05).acquire()
                outcome.append("acquired")
            except Timeout:
                outcome.append("timeout")

        worker = threading.Thread(target=other)
        worker.start()
        worker.join(10)
    assert outcome == ["timeout"]


@posix_only
@pytest.mark.parametrize("kind", ["symlink", "dangling-symlink", "directory", "fifo"])
def test_a_planted_lock_path_is_refused_and_left_untouched(tmp_path, kind):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    victim.chmod(0o600)
    lock_path = tmp_path / "x.lock"
    if kind == "symlink":
        lock_path.symlink_to(victim)
    elif kind == "dangling-symlink":
        lock_path.symlink_to(tmp_path / "nowhere")
    elif kind == "directory":
        lock_path.mkdir()
    else:
        os.mkfifo(lock_path)
    with pytest.raises(UnsafeLockPathError, match="symbolic link or not a regular file"):
        file_lock(lock_path, timeout=0)
    assert isinstance(UnsafeLockPathError("x"), OSError)  # callers that warn on OSError keep working
    assert victim.read_text() == "precious" and victim.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "nowhere").exists()


# ---------------------------------------------------------------------- unwritable_reason
def _shapes(tmp_path):
    """Paths of every shape the rule knows, as (path, the reason's fragment or None)."""
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    (tmp_path / "old.st").write_text("x")
    shapes = [
        (tmp_path / "dir", "is a directory"),
        (tmp_path / "missing" / "..", "is a directory"),  # the rename would target tmp_path itself
        (tmp_path / "file" / "x.st", "is a file, not a folder"),
        (tmp_path / "file" / "a" / "b" / "x.st", "is a file, not a folder"),
        (tmp_path / "new.st", None),
        (tmp_path / "old.st", None),  # replaced atomically
        (tmp_path / "new" / "sub" / "x.st", None),  # the write creates the folders
    ]
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo")
        shapes.append((tmp_path / "fifo", "not a regular file"))
    if os.name == "posix" and os.geteuid() != 0:  # root writes anywhere
        (tmp_path / "ro").mkdir(mode=0o555)
        shapes.append((tmp_path / "ro" / "x.st", "cannot write in"))
    return shapes


def test_unwritable_reason_agrees_with_what_atomic_write_does(tmp_path):
    """The rule behind every early --out check: a path gets a reason exactly when atomic_write
    would fail on it, and asking writes or creates nothing."""
    from gnnnas.files import atomic_write, unwritable_reason

    shapes = _shapes(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    reasons = {path: unwritable_reason(path) for path, _ in shapes}
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    for path, fragment in shapes:
        reason = reasons[path]
        assert reason is None if fragment is None else (reason is not None and fragment in reason), (path, reason)
        try:
            with atomic_write(path) as handle:
                handle.write(b"new")
            wrote = True
        except OSError:
            wrote = False
        assert wrote == (fragment is None), path
        if wrote:
            assert path.read_bytes() == b"new"
    if hasattr(os, "mkfifo"):
        assert (tmp_path / "fifo").is_fifo()  # refused, not swapped for a regular file


def test_unwritable_reason_for_names_atomic_write_would_misread(tmp_path):
    from gnnnas.files import unwritable_reason

    assert "ends with '/', so it names a folder" in unwritable_reason(f"{tmp_path}/new/")
    assert unwritable_reason("") == "the path is empty"


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX owners")
def test_another_users_file_in_a_sticky_folder_cannot_be_replaced(tmp_path, monkeypatch):
    from gnnnas.files import unwritable_reason

    folder = tmp_path / "sticky"
    folder.mkdir()
    folder.chmod(0o1777)
    (folder / "theirs.st").write_text("x")
    assert unwritable_reason(folder / "theirs.st") is None  # its owner (and root) may replace it
    owner = (folder / "theirs.st").stat().st_uid
    monkeypatch.setattr(os, "geteuid", lambda: owner + 4242)  # another user, not root
    monkeypatch.setattr(os, "access", lambda *a, **k: True)  # the folder is writable to all
    assert "another user's file in a sticky folder" in unwritable_reason(folder / "theirs.st")
    assert unwritable_reason(folder / "new.st") is None
    folder.chmod(0o777)
    assert unwritable_reason(folder / "theirs.st") is None
