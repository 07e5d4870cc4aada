"""``gnnnas data download`` against a local HTTP server (127.0.0.1 only; nothing leaves the machine).

The server serves synthetic files in the official layouts and can be told, per path, to cut the
body midway, answer 404/500, ignore ``Range`` (send 200), send a wrong ``Content-Range`` or a
web page.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import re
import socket
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from gnnnas.cli import main
from gnnnas.data import download as D
from gnnnas.data.formats import synthetic as S
from gnnnas.data.manifest import verify_manifest
from gnnnas.data.table import read_table


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Any connection to a host other than 127.0.0.1 fails the test."""
    connect = socket.socket.connect

    def guarded(self, address):
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"test tried to reach the network: {address}")
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


class Server:
    """Files by path; ``mode[path]``: ok, cut:<bytes>, 404, 500, ignore_range, bad_range, html."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.mode: dict[str, str] = {}
        self.requests: list[dict[str, str | None]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                outer.requests.append({"path": path, "range": self.headers.get("Range"),
                                       "if_range": self.headers.get("If-Range")})
                mode = outer.mode.get(path, "ok")
                if path not in outer.files or mode in ("404", "500"):
                    self.send_error(500 if mode == "500" else 404)
                    return
                data = outer.files[path]
                if mode == "html":
                    body = b"<html>quota exceeded</html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if match and mode != "ignore_range":
                    start = int(match[1])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    first = start + 1 if mode == "bad_range" else start
                    self.send_header("Content-Range", f"bytes {first}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", '"v1"')
                self.end_headers()
                if mode.startswith("cut:"):
                    self.wfile.write(body[: int(mode[4:])])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.close()


def _serve(server: Server, monkeypatch, name: str, data: bytes, sha256: str | None = "auto") -> str:
    """Point ``REGISTRY[name]`` at the local server; ``sha256="auto"``: the data's true one."""
    path = f"/{name}/{D.REGISTRY[name].filename}"
    server.files[path] = data
    digest = hashlib.sha256(data).hexdigest() if sha256 == "auto" else sha256
    monkeypatch.setitem(D.REGISTRY, name, dataclasses.replace(D.REGISTRY[name], url=server.url(path), sha256=digest))
    return path


@pytest.fixture(scope="module")
def nb101_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("src") / "nasbench_only108.tfrecord"
    S.write_nb101_tfrecord(path, 5, keep=False)
    return path.read_bytes()


def _leftovers(data_dir: Path) -> list[str]:
    folder = data_dir / D.DOWNLOADS
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock")) if folder.is_dir() else []


# ------------------------------------------------------------------------------ the registry


def test_registry_entries_are_complete_and_https():
    assert set(D.REGISTRY) == {"nb101_only108", "nb101_full", "nb201", "nats_tss", "nasbench_graph"}
    for name, remote in D.REGISTRY.items():
        assert remote.name == name
        assert remote.url.startswith("https://"), remote.url
        assert remote.source.startswith("https://") and remote.filename and remote.size_text
        assert remote.space in ("nb101", "nb201", "nasbench_graph") and remote.kind in ("file", "tar", "zip")
        if remote.sha256 is not None:
            assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256) and remote.sha256_source
        if not remote.direct:
            assert remote.note, f"{name}: no stable direct URL, so the note must say what to do"
        with pytest.raises(dataclasses.FrozenInstanceError):
            remote.url = "x"  # type: ignore[misc]
    # the two NB101 files have SHA-256 published by google-research/nasbench
    assert D.REGISTRY["nb101_only108"].sha256.startswith("4c39c393")
    assert D.REGISTRY["nb101_full"].sha256.startswith("3d64db81")


# ------------------------------------------------------------------------------ happy paths, resume


def test_download_then_convert_nb101(server, monkeypatch, tmp_path, nb101_bytes, capsys):
    _serve(server, monkeypatch, "nb101_only108", nb101_bytes)
    assert main(["data", "download", "nb101_only108", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "downloaded nb101_only108" in out and "nb101_converted.npz" in out
    assert (tmp_path / "downloads" / "nasbench_only108.tfrecord").read_bytes() == nb101_bytes
    assert _leftovers(tmp_path) == ["nasbench_only108.tfrecord"]
    assert len(read_table(tmp_path / "nb101" / "nb101_converted.npz")) == 5
    assert verify_manifest(tmp_path) == [("nb101/nb101_converted.npz", "ok")]
    # a second run reuses the checked file without a request
    before = len(server.requests)
    assert main(["data", "download", "nb101_only108", "--data-dir", str(tmp_path), "--no-convert"]) == 0
    assert "already in place" in capsys.readouterr().out and len(server.requests) == before


def test_interrupted_download_resumes_with_range(server, monkeypatch, tmp_path, nb101_bytes, capsys):
    path = _serve(server, monkeypatch, "nb101_only108", nb101_bytes)
    cut = len(nb101_bytes) // 2
    server.mode[path] = f"cut:{cut}"
    assert main(["data", "download", "nb101_only108", "--data-dir", str(tmp_path)]) == 2
    *steps, err = capsys.readouterr().err.strip().splitlines()  # progress lines (not a terminal), then the error
    assert steps and all(line.startswith("nasbench_only108.tfrecord  ") for line in steps)
    assert err.startswith("gnnnas: error: ") and server.url(path) in err and "truncated" in err and "resume" in err
    part = tmp_path / "downloads" / "nasbench_only108.tfrecord.part"
    assert part.read_bytes() == nb101_bytes[:cut]
    assert not (tmp_path / "nb101").exists()  # nothing converted from half a file

    server.mode[path] = "ok"
    assert main(["data", "download", "nb101_only108", "--data-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "resumed at" in captured.out
    size = f"{len(nb101_bytes) / 1e3:.1f}"
    assert f"nasbench_only108.tfrecord  {size}/{size} kB (100%)" in captured.err  # counted from the resume point
    assert "convert nb101  " in captured.err
    assert server.requests[-1]["range"] == f"bytes={cut}-" and server.requests[-1]["if_range"] == '"v1"'
    assert (tmp_path / "downloads" / "nasbench_only108.tfrecord").read_bytes() == nb101_bytes
    assert _leftovers(tmp_path) == ["nasbench_only108.tfrecord"]
    assert len(read_table(tmp_path / "nb101" / "nb101_converted.npz")) == 5


@pytest.mark.parametrize("mode", ["ignore_range", "bad_range"])
def test_resume_refused_restarts_from_zero(server, monkeypatch, tmp_path, nb101_bytes, mode):
    """A 200 to a range request, or a Content-Range that does not start at the .part's end,
    restarts from zero instead of appending the wrong bytes."""
    path = _serve(server, monkeypatch, "nb101_only108", nb101_bytes)
    server.mode[path] = "cut:1000"
    with pytest.raises(D.DownloadError):
        D.download("nb101_only108", tmp_path)
    server.mode[path] = mode
    result = D.download("nb101_only108", tmp_path, progress=True)  # a tqdm bar on stderr
    assert result.path.read_bytes() == nb101_bytes and result.verified
    assert server.requests[1]["range"] == "bytes=1000-"
    if mode == "bad_range":  # refused, then fetched whole
        assert server.requests[-1]["range"] is None


# ------------------------------------------------------------------------------ checksums


def test_wrong_checksum_rejected_nothing_left(server, monkeypatch, tmp_path, nb101_bytes, capsys):
    _serve(server, monkeypatch, "nb101_only108", nb101_bytes, sha256="0" * 64)
    assert main(["data", "download", "nb101_only108", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "SHA-256 mismatch" in err and "0" * 64 in err and hashlib.sha256(nb101_bytes).hexdigest() in err
    assert _leftovers(tmp_path) == []
    assert not (tmp_path / "nb101").exists() and not (tmp_path / "gnnnas-manifest.json").exists()


def test_unknown_checksum_requires_opt_in(server, monkeypatch, tmp_path, nb101_bytes, capsys):
    """No published SHA-256: the file is fetched once, its SHA-256 printed, and only accepted
    with --sha256 (the value) or --no-verify; the second call fetches nothing."""
    _serve(server, monkeypatch, "nb101_only108", nb101_bytes, sha256=None)
    actual = hashlib.sha256(nb101_bytes).hexdigest()
    assert main(["data", "download", "nb101_only108", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"--sha256 {actual}" in err and "--no-verify" in err
    assert not (tmp_path / "downloads" / "nasbench_only108.tfrecord").exists()
    requests = len(server.requests)
    with pytest.raises(D.ChecksumError):
        D.download("nb101_only108", tmp_path, sha256="1" * 64)  # a wrong value is still rejected...
    assert _leftovers(tmp_path) == []  # ...and the download removed
    assert main(["data", "download", "nb101_only108", "--data-dir", str(tmp_path), "--sha256", actual]) == 0
    assert (tmp_path / "downloads" / "nasbench_only108.tfrecord").read_bytes() == nb101_bytes
    assert len(server.requests) == requests + 1  # refetched once after the wrong value removed it

    other = tmp_path / "other"
    assert main(["data", "download", "nb101_only108", "--data-dir", str(other), "--no-verify"]) == 0
    assert "NOT verified" in capsys.readouterr().out


# ------------------------------------------------------------------------------ server errors


@pytest.mark.parametrize("mode, cause", [("404", "HTTP 404"), ("500", "HTTP 500"), ("html", "web page")])
def test_server_errors_one_line_exit_2(server, monkeypatch, tmp_path, nb101_bytes, capsys, mode, cause):
    path = _serve(server, monkeypatch, "nb101_only108", nb101_bytes)
    server.mode[path] = mode
    assert main(["data", "download", "nb101_only108", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gnnnas: error: ") and err.count("\n") == 0
    assert server.url(path) in err and cause in err
    assert _leftovers(tmp_path) == []


def test_connection_refused(monkeypatch, tmp_path, capsys):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/nasbench_only108.tfrecord"
    data_dir = tmp_path / "new" / "data"
    assert main(["data", "download", "nb101_only108", "--data-dir", str(data_dir), "--url", url]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and url in err and "refused" in err.lower()
    assert list(tmp_path.iterdir()) == []  # no lock file, no download folder, no data directory left behind


@pytest.mark.skipif(__import__("os").name != "posix", reason="POSIX permissions")
def test_a_kept_download_and_its_lock_get_the_usual_umask_mode(server, monkeypatch, tmp_path, nb101_bytes):
    """As every file gnnnas writes (0666 less the umask): a data directory shared by a group stays
    usable by all of it, its lock files included (filelock alone would make them 0644)."""
    import os

    _serve(server, monkeypatch, "nb101_only108", nb101_bytes)
    previous = os.umask(0o002)
    try:
        assert main(["data", "download", "nb101_only108", "--data-dir", str(tmp_path), "--no-convert"]) == 0
    finally:
        os.umask(previous)
    folder = tmp_path / D.DOWNLOADS
    modes = {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()}
    assert modes == {"nasbench_only108.tfrecord": 0o664, ".nasbench_only108.tfrecord.lock": 0o664}


def test_a_planted_download_lock_symlink_is_refused_and_its_target_untouched(server, monkeypatch, tmp_path,
                                                                           nb101_bytes, capsys):
    _serve(server, monkeypatch, "nb101_only108", nb101_bytes)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    victim.chmod(0o600)
    folder = tmp_path / "data" / D.DOWNLOADS
    folder.mkdir(parents=True)
    (folder / ".nasbench_only108.tfrecord.lock").symlink_to(victim)
    assert main(["data", "download", "nb101_only108", "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "symbolic link" in err
    assert victim.read_text() == "precious" and victim.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in folder.iterdir()) == [".nasbench_only108.tfrecord.lock"] and not server.requests


def test_bad_arguments(tmp_path, capsys):
    assert main(["data", "download", "nb999", "--data-dir", str(tmp_path)]) == 2
    assert "unknown download 'nb999'" in capsys.readouterr().err
    assert main(["data", "download", "nb101_only108", "--data-dir", str(tmp_path), "--sha256", "abc"]) == 2
    assert "64 hexadecimal" in capsys.readouterr().err
    assert main(["data", "download", "nb101_only108", "--data-dir", str(tmp_path), "--url", "file:///etc/passwd"]) == 2
    assert "http" in capsys.readouterr().err
    assert main(["data", "download"]) == 0  # the table
    out = capsys.readouterr().out
    assert "storage.googleapis.com/nasbench/nasbench_full.tfrecord" in out and "in a browser" in out


# ------------------------------------------------------------------------------ archives


def _tar_bytes(folder: Path, arcname: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(folder, arcname=arcname)
    return buffer.getvalue()


def test_nats_tar_unpacked_and_converted(server, monkeypatch, tmp_path):
    data = S.nb201_benchmark_dict(4, seed=5, hp_keys=("12", "200"), seeds=(777, 888, 999))
    S.write_nats_dir(tmp_path / "src" / "simple", data)
    _serve(server, monkeypatch, "nats_tss", _tar_bytes(tmp_path / "src" / "simple", "NATS-tss-v1_0-3ffb9-simple"))
    result = D.download_and_convert("nats_tss", tmp_path / "d")
    assert result.path == tmp_path / "d" / "downloads" / "NATS-tss-v1_0-3ffb9-simple"
    assert len(result.converted) == 1 and len(result.converted[0].table) == 4


def test_unsafe_archive_refused(server, monkeypatch, tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    _serve(server, monkeypatch, "nats_tss", buffer.getvalue())
    with pytest.raises(ValueError, match="outside the folder"):
        D.download_and_convert("nats_tss", tmp_path / "d")
    assert not (tmp_path / "d" / "escape.txt").exists() and not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "d" / "downloads" / "NATS-tss-v1_0-3ffb9-simple").exists()


def test_nasbench_graph_zip_converts_each_dataset(server, monkeypatch, tmp_path):
    pytest.importorskip("nas_bench_graph")
    from nas_bench_graph.readbench import light_read

    keys = sorted(light_read("cora"))[:50]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for seed in range(2):
            file = tmp_path / f"cora{seed}.bench"
            S.write_nbg_full(file, keys, epochs=3, seed=seed)
            zipped.write(file, f"NAS-bench-Graph/cora{seed}.bench")
    _serve(server, monkeypatch, "nasbench_graph", buffer.getvalue())
    result = D.download_and_convert("nasbench_graph", tmp_path / "d")
    assert [c.path.name for c in result.converted] == ["nbg_cora.npz"]
    assert len(result.converted[0].table) == 50


def test_file_placed_by_hand_is_checked_not_deleted(monkeypatch, tmp_path, nb101_bytes, capsys):
    """A file put in downloads/ by hand (e.g. from a browser) is checked and converted, no request."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "nasbench_only108.tfrecord").write_bytes(nb101_bytes)
    monkeypatch.setitem(D.REGISTRY, "nb101_only108",
                        dataclasses.replace(D.REGISTRY["nb101_only108"], url="https://unreachable.invalid/x"))
    assert main(["data", "download", "nb101_only108", "--data-dir", str(tmp_path), "--sha256", "2" * 64]) == 2
    assert "delete the file" in capsys.readouterr().err
    assert (folder / "nasbench_only108.tfrecord").read_bytes() == nb101_bytes
    actual = hashlib.sha256(nb101_bytes).hexdigest()
    assert main(["data", "download", "nb101_only108", "--data-dir", str(tmp_path), "--sha256", actual]) == 0
    assert "already in place" in capsys.readouterr().out
    assert len(read_table(tmp_path / "nb101" / "nb101_converted.npz")) == 5
