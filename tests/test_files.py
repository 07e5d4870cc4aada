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
