"""``gnnnas data convert`` / ``list`` / ``verify`` under faults: nothing lost, nothing written
outside the data directory, every failure one clear line (issue 13)."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gnnnas import cli
from gnnnas.data import manifest as M
from gnnnas.data.convert import convert, converted_path
from gnnnas.data.formats import synthetic as S
from gnnnas.data.manifest import LOCK_NAME, MANIFEST_NAME, DataDirectoryError, read_manifest, verify_manifest
from gnnnas.files import atomic_write

NB201 = "nb201/nb201_converted.npz"


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (lock file excluded: it is empty and kept on purpose)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != LOCK_NAME}


@pytest.fixture
def sources(tmp_path):
    """Two different NB201 sources (old and new) and a data directory holding the old table."""
    old, new = tmp_path / "old.pth", tmp_path / "new.pth"
    S.write_nb201_pth(old, S.nb201_benchmark_dict(4, seed=1), "pickle")
    S.write_nb201_pth(new, S.nb201_benchmark_dict(6, seed=2), "pickle")
    root = tmp_path / "data"
    convert(old, "nb201", data_dir=root)
    return old, new, root


def _without_progress(err: str) -> str:
    """stderr less the progress lines of `gnnnas data convert` (one per step: stderr is no terminal here)."""
    return "\n".join(line for line in err.strip().splitlines() if not line.startswith("convert nb201  "))


def _nbg_keys(n: int) -> list[int]:
    from gnnnas.spaces.nasbench_graph import NASBenchGraphSpace

    space = NASBenchGraphSpace()
    return sorted({space.key(space.sample(seed)) for seed in range(n)})


# ------------------------------------------------------------- case 1: no data loss on failure
class _Fault(Exception):
    pass


def _inject(monkeypatch, fail_at: int, error: OSError) -> list[str]:
    """Make the ``fail_at``-th file-system step (create, link, rename, fsync, write) raise ``error``."""
    calls: list[str] = []
    real = {name: getattr(os, name) for name in ("open", "link", "replace", "fsync", "unlink")}

    def wrap(name):
        def step(*args, **kwargs):
            if name == "open" and not (args[1] if len(args) > 1 else kwargs.get("flags", 0)) & os.O_CREAT:
                return real[name](*args, **kwargs)
            if name == "unlink":  # rolling back must stay possible
                return real[name](*args, **kwargs)
            calls.append(f"{name} {args[0]}")
            if len(calls) == fail_at:
                raise error
            return real[name](*args, **kwargs)
        return step

    for name in real:
        monkeypatch.setattr(os, name, wrap(name))
    return calls


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"),
                                   PermissionError(errno.EACCES, "Permission denied"),
                                   OSError(errno.EROFS, "Read-only file system")],
                         ids=["disk-full", "permission", "read-only"])
def test_a_fault_at_any_step_keeps_the_old_table_and_manifest(sources, monkeypatch, error):
    """Whole kind: fail each file-system step of a re-conversion in turn; every time the error
    is a DataDirectoryError naming a path and the cause, and the directory is byte for byte
    what it was."""
    old, new, root = sources
    before = _snapshot(root)
    step, failed = 1, 0
    while True:
        with monkeypatch.context() as patch:
            calls = _inject(patch, step, error)
            try:
                convert(new, "nb201", data_dir=root)
            except DataDirectoryError as err:
                assert error.strerror in str(err) and str(root) in str(err) and "unchanged" in str(err)
                assert _snapshot(root) == before, f"step {step} ({calls[-1]}) changed the data directory"
                assert verify_manifest(root) == [(NB201, "ok")]
                failed += 1
                step += 1
                continue
        assert verify_manifest(root) == [(NB201, "ok")] and _snapshot(root) != before
        assert not [p for p in root.rglob(".*") if p.name != LOCK_NAME]  # no temporary, new or backup files
        if len(calls) < step:  # the fault was never reached: every step has been tried
            break
        # a fault that may be ignored (fsync of a directory): the conversion completed; start again
        assert calls[step - 1].startswith("fsync"), calls[step - 1]
        convert(old, "nb201", data_dir=root)
        before = _snapshot(root)
        step += 1
    assert failed >= 8, calls  # table write, journal, link, rename and the final manifest all failed once


def test_manifest_that_is_a_directory_keeps_the_old_table(sources, capsys):
    _, new, root = sources
    table = (root / NB201).read_bytes()
    (root / MANIFEST_NAME).unlink()
    (root / MANIFEST_NAME).mkdir()
    assert cli.main(["data", "convert", str(new), "--space", "nb201", "--data-dir", str(root)]) == 2
    err = _without_progress(capsys.readouterr().err)
    assert len(err.splitlines()) == 1 and MANIFEST_NAME in err and "Traceback" not in err
    assert (root / NB201).read_bytes() == table
    assert not [p for p in (root / "nb201").iterdir() if p.name.startswith(".")]


def test_root_not_writable_while_the_table_directory_is(sources, monkeypatch, capsys):
    """No file can be created in the data directory's root (only in ``nb201/``): the conversion
    fails with one line, the old table and manifest stay."""
    _, new, root = sources
    before = _snapshot(root)
    real_open = os.open

    def guarded(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and Path(path).parent == root and Path(path).name != LOCK_NAME:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded)
    assert cli.main(["data", "convert", str(new), "--space", "nb201", "--data-dir", str(root)]) == 2
    err = _without_progress(capsys.readouterr().err)
    assert len(err.splitlines()) == 1 and "Permission denied" in err and str(root) in err
    assert _snapshot(root) == before


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_data_directory_for_real(sources, capsys):
    _, new, root = sources
    before = _snapshot(root)
    for d in (root, root / "nb201"):
        d.chmod(0o555)
    try:
        assert cli.main(["data", "convert", str(new), "--space", "nb201", "--data-dir", str(root)]) == 2
        assert "Permission denied" in capsys.readouterr().err
        assert _snapshot(root) == before
    finally:
        for d in (root, root / "nb201"):
            d.chmod(0o755)


# ------------------------------------------------- case 2: a killed conversion is recoverable
def _convert_and_kill_at(source: str, root: str, kill_at: int) -> None:
    """In a forked child: convert, sending SIGKILL to itself after the ``kill_at``-th durable step."""
    import signal

    calls = []
    for name in ("link", "replace", "fsync"):
        real = getattr(os, name)

        def step(*args, _real=real, **kwargs):
            out = _real(*args, **kwargs)
            calls.append(1)
            if len(calls) == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return out

        setattr(os, name, step)
    convert(source, "nb201", data_dir=root)


def test_kill_9_at_every_step_leaves_old_or_new_and_never_looks_tampered(sources, tmp_path):
    """SIGKILL after each durable step of a re-conversion (in a child process): the table is the
    old or the new one, `verify` reports ok or interrupted (never a checksum mismatch) and the
    next conversion records the state and removes what the killed one left."""
    old, new, root = sources
    ctx = multiprocessing.get_context("fork")
    old_table = (root / NB201).read_bytes()
    seen = set()
    step = 1
    while True:
        work = tmp_path / f"kill{step}"
        convert(old, "nb201", data_dir=work)
        child = ctx.Process(target=_convert_and_kill_at, args=(str(new), str(work), step))
        child.start()
        child.join(300)
        if child.exitcode == 0:
            assert verify_manifest(work) == [(NB201, "ok")]
            break
        assert child.exitcode == -9, child.exitcode
        statuses = dict(verify_manifest(work))
        assert statuses[NB201] in ("ok", "interrupted"), (step, statuses)
        seen.add(statuses[NB201])
        table = (work / NB201).read_bytes()
        if statuses[NB201] == "ok":
            assert table == old_table or json.loads((work / MANIFEST_NAME).read_text())["files"][NB201].get("pending") is None
        assert cli.main(["data", "verify", "--data-dir", str(work)]) == 0
        convert(new, "nb201", data_dir=work)  # recovers, then converts again
        assert verify_manifest(work) == [(NB201, "ok")]
        assert "pending" not in read_manifest(work)["files"][NB201]
        assert not [p for p in work.rglob(".*") if p.name != LOCK_NAME]
        step += 1
    assert seen == {"ok", "interrupted"} and step > 3


def test_interrupted_state_is_told_apart_from_tampering(sources, capsys):
    """A table with the checksum the journal recorded as pending is `interrupted` (exit 0); any
    other content is `checksum mismatch` (exit 1)."""
    _, new, root = sources
    manifest = json.loads((root / MANIFEST_NAME).read_text())
    convert(new, "nb201", data_dir=root)
    new_entry = read_manifest(root)["files"][NB201]
    manifest["files"][NB201]["pending"] = new_entry  # as left by a kill between rename and record
    (root / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert verify_manifest(root) == [(NB201, "interrupted")]
    assert cli.main(["data", "verify", "--data-dir", str(root)]) == 0
    assert "not tampering" in capsys.readouterr().out
    (root / NB201).write_bytes((root / NB201).read_bytes()[:-1] + b"!")
    assert verify_manifest(root) == [(NB201, "checksum mismatch")]
    assert cli.main(["data", "verify", "--data-dir", str(root)]) == 1


# --------------------------------------------------------------------- case 3: path escape
@pytest.mark.parametrize("name", ["/../../ESCAPED", "../ESCAPED", "cora/../../x", "..", "", "Cora", "cora\0"])
def test_dataset_names_cannot_leave_the_data_directory(tmp_path, name, capsys):
    light = tmp_path / "src" / "cora.bench"
    light.parent.mkdir()
    S.write_nbg_light(light, _nbg_keys(5))
    root = tmp_path / "a" / "b" / "data"
    code = cli.main(["data", "convert", str(light), "--space", "nasbench_graph", "--dataset", name,
                     "--data-dir", str(root)])
    assert code == 2 and "data set" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["cora.bench"]


def test_a_symbolic_link_out_of_the_data_directory_is_refused(tmp_path):
    light = tmp_path / "cora.bench"
    S.write_nbg_light(light, _nbg_keys(5))
    root, outside = tmp_path / "data", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "nasbench_graph").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="outside the data directory"):
        convert(light, "nasbench_graph", data_dir=root)
    assert not any(outside.iterdir()) and not (root / MANIFEST_NAME).exists()
    (root / "nasbench_graph").unlink()
    result = convert(light, "nasbench_graph", data_dir=root)
    assert result.path == root / "nasbench_graph" / "nbg_cora.npz" and verify_manifest(root)[0][1] == "ok"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
       | st.sampled_from(["cora", "proteins", "../cora", "cora/", "./cora", "~", "%2e%2e"]))
def test_property_any_dataset_name_writes_inside_or_nothing(name):
    keys = _nbg_keys(3)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        light = tmp / "cora.bench"
        S.write_nbg_light(light, keys)
        root = tmp / "d" / "data"
        try:
            result = convert(light, "nasbench_graph", data_dir=root, dataset=name)
        except ValueError:
            assert sorted(p.name for p in tmp.rglob("*") if p.is_file()) == ["cora.bench"]
        else:
            assert result.path.resolve().parent == (root / "nasbench_graph").resolve()
            written = {p for p in tmp.rglob("*") if p.is_file()} - {light}
            assert all(root.resolve() in p.resolve().parents for p in written)


# --------------------------------------------------------- case 4: two conversions at once
def _slow_write_convert(source: str, root: str, delay: float, started) -> None:
    from gnnnas.data import convert as C

    real = C.write_table

    def slow(path, table):
        started.set()
        time.sleep(delay)  # the other conversion tries to record itself meanwhile
        return real(path, table)

    C.write_table = slow
    C.convert(source, "nb201" if source.endswith(".pth") else "nb101", data_dir=root)


@pytest.mark.parametrize("how", ["threads", "processes"])
def test_concurrent_conversions_both_land_in_the_manifest(tmp_path, how):
    pth, tfrecord = tmp_path / "a.pth", tmp_path / "b.tfrecord"
    S.write_nb201_pth(pth, S.nb201_benchmark_dict(4, seed=1), "pickle")
    S.write_nb101_tfrecord(tfrecord, 4, keep=False)
    root = tmp_path / "data"
    if how == "threads":
        started = threading.Event()
        first = threading.Thread(target=_slow_write_convert, args=(str(pth), str(root), 1.0, started))
        first.start()
        assert started.wait(60)
        convert(tfrecord, "nb101", data_dir=root)
        first.join()
    else:
        ctx = multiprocessing.get_context("fork")
        started = ctx.Event()
        first = ctx.Process(target=_slow_write_convert, args=(str(pth), str(root), 1.0, started))
        first.start()
        assert started.wait(60)
        convert(tfrecord, "nb101", data_dir=root)
        first.join(120)
        assert first.exitcode == 0
    assert verify_manifest(root) == [("nb101/nb101_converted.npz", "ok"), (NB201, "ok")]


def test_the_lock_serialises_manifest_updates(tmp_path):
    """While one process holds the lock, another conversion waits (and then re-reads the manifest)."""
    root = tmp_path / "data"
    pth = tmp_path / "a.pth"
    S.write_nb201_pth(pth, S.nb201_benchmark_dict(3), "pickle")
    with M.manifest_lock(root):
        worker = threading.Thread(target=convert, args=(pth, "nb201"), kwargs={"data_dir": root})
        worker.start()
        worker.join(1.5)
        assert worker.is_alive() and not (root / NB201).exists()
    worker.join(60)
    assert verify_manifest(root) == [(NB201, "ok")]


def test_lock_timeout_is_a_clear_error(tmp_path, monkeypatch):
    root = tmp_path / "data"
    pth = tmp_path / "a.pth"
    S.write_nb201_pth(pth, S.nb201_benchmark_dict(3), "pickle")
    monkeypatch.setattr(M, "LOCK_TIMEOUT", 0.2)
    errors = []
    with M.manifest_lock(root):
        worker = threading.Thread(target=lambda: errors.append(pytest.raises(DataDirectoryError, convert, pth,
                                                                             "nb201", data_dir=root)))
        worker.start()
        worker.join(60)
    assert "another conversion held the lock" in str(errors[0].value)


# --------------------------------------------- case 5: one clear line, exit 2, old state kept
def test_disk_full_while_writing_the_table_is_one_line(sources, monkeypatch, capsys):
    _, new, root = sources
    before = _snapshot(root)
    import numpy as np

    def full(file, **arrays):
        file.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    assert cli.main(["data", "convert", str(new), "--space", "nb201", "--data-dir", str(root)]) == 2
    err = _without_progress(capsys.readouterr().err)
    assert len(err.splitlines()) == 1 and "No space left on device" in err and str(root / "nb201") in err
    assert _snapshot(root) == before


@pytest.mark.parametrize("entry", [[1, 2], "x", 3, None])
@pytest.mark.parametrize("command", ["list", "verify"])
def test_a_manifest_entry_that_is_not_an_object_is_one_line(tmp_path, capsys, entry, command):
    root = tmp_path / "data"
    root.mkdir()
    (root / MANIFEST_NAME).write_text(json.dumps({"version": 1, "files": {NB201: entry}}))
    assert cli.main(["data", command, "--data-dir", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and MANIFEST_NAME in err and NB201 in err


def test_a_manifest_path_leaving_the_directory_is_refused(tmp_path, capsys):
    root = tmp_path / "data"
    root.mkdir()
    (tmp_path / "secret").write_text("x")
    (root / MANIFEST_NAME).write_text(json.dumps({"version": 1, "files": {"../secret": {"sha256": "0"}}}))
    assert cli.main(["data", "verify", "--data-dir", str(root)]) == 2
    assert "not a relative path inside the data directory" in capsys.readouterr().err


# ------------------------------------------------------------- case 6: the usual permissions
@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_files_get_the_umask_permissions(tmp_path, umask):
    pth = tmp_path / "a.pth"
    S.write_nb201_pth(pth, S.nb201_benchmark_dict(3), "pickle")
    previous = os.umask(umask)
    try:
        root = tmp_path / "data"
        convert(pth, "nb201", data_dir=root)
        with atomic_write(tmp_path / "results.json", "w") as handle:  # benchmark results, checkpoints, caches
            handle.write("{}")
    finally:
        os.umask(previous)
    expected = 0o666 & ~umask
    for path in (root / NB201, root / MANIFEST_NAME, root / LOCK_NAME, tmp_path / "results.json"):
        assert path.stat().st_mode & 0o777 == expected, path


def test_converted_path_refuses_names_that_are_not_plain():
    with pytest.raises(ValueError, match="not a plain name"):
        converted_path("nasbench_graph", "/tmp/x", dataset="../x")
    with pytest.raises(ValueError, match="NAS-Bench-Graph tables only"):
        converted_path("nb201", "/tmp/x", dataset="cora")


# ------------------------------------------------------------- review findings (whole kinds)
def test_a_planted_lock_symlink_is_refused_and_its_target_untouched(sources, capsys):
    _, new, root = sources
    victim = root.parent / "victim.txt"
    victim.write_text("precious")
    victim.chmod(0o600)
    (root / LOCK_NAME).unlink()
    (root / LOCK_NAME).symlink_to(victim)
    before = _snapshot(root)
    assert cli.main(["data", "convert", str(new), "--space", "nb201", "--data-dir", str(root)]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert victim.read_text() == "precious" and victim.stat().st_mode & 0o777 == 0o600
    assert _snapshot(root) == before


def test_verify_waits_for_a_running_conversion(sources):
    """verify takes the lock: it never sees a table between its rename and its record."""
    _, _, root = sources
    results = []
    with M.manifest_lock(root):
        worker = threading.Thread(target=lambda: results.append(verify_manifest(root)))
        worker.start()
        worker.join(1.0)
        assert worker.is_alive() and not results
    worker.join(60)
    assert results == [[(NB201, "ok")]]


@pytest.mark.parametrize("content", ["[" * 100_000 + "]" * 100_000, '{"version": 1, "files": {}, "x": 1' + "0" * 5000 + "}",
                                     json.dumps({"version": 1, "files": {NB201: {"sha256": {}}}}),
                                     json.dumps({"version": 1, "files": {NB201: {"sha256": "0" * 64, "pending": "zz"}}})],
                         ids=["deep", "huge-int", "sha-dict", "pending-str"])
@pytest.mark.parametrize("command", ["list", "verify"])
def test_damaged_manifest_kinds_are_one_line(tmp_path, capsys, content, command):
    root = tmp_path / "data"
    root.mkdir()
    (root / MANIFEST_NAME).write_text(content)
    assert cli.main(["data", command, "--data-dir", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and MANIFEST_NAME in err


@pytest.mark.skipif(os.name != "posix", reason="FIFOs and symbolic links")
def test_manifest_that_is_a_fifo_or_a_link_loop_is_one_line(tmp_path, capsys):
    root = tmp_path / "data"
    root.mkdir()
    os.mkfifo(root / MANIFEST_NAME)
    assert cli.main(["data", "list", "--data-dir", str(root)]) == 2  # and does not hang
    assert "not a regular file" in capsys.readouterr().err
    (root / MANIFEST_NAME).unlink()
    (root / "loop").symlink_to(root / "loop")
    (root / MANIFEST_NAME).write_text(json.dumps({"version": 1, "files": {"loop": {"sha256": "0" * 64}}}))
    assert cli.main(["data", "verify", "--data-dir", str(root)]) == 1
    assert "outside the data directory" in capsys.readouterr().out


def test_atomic_write_onto_a_directory_names_the_target(tmp_path):
    """Refused before writing (os.replace would fail only after the whole file), naming the
    target, not the temporary file; nothing is left beside it."""
    (tmp_path / "out").mkdir()
    with pytest.raises(IsADirectoryError, match=r"out is a directory; name a file to write"):
        with atomic_write(tmp_path / "out", "w") as handle:
            handle.write("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
