"""``gnnnas data download``: fetch an official benchmark file, check it, then convert it.

The official files are too large to ship (0.5 to 5 GB). :data:`REGISTRY` is the one table of
where each comes from (its public URL and, where the publisher gives one, its SHA-256).

A download is streamed into ``<data dir>/downloads/<file>.part`` (a ``.part.json`` beside it
records the URL, the server's validators and the total size). An interrupted download is
resumed with an HTTP ``Range`` request: the bytes are appended only when the server answers
``206`` with a ``Content-Range`` that starts where the ``.part`` ends; a ``200`` (the server
ignores ranges, or the file changed: ``If-Range``) or a wrong ``Content-Range`` restarts from
zero. The SHA-256 is checked before the ``.part`` is renamed (atomically) to
``downloads/<file>``; a wrong checksum removes the ``.part``, so nothing is left behind.

Files without a published SHA-256 (``sha256=None``: NAS-Bench-201, NATS-Bench, the
NAS-Bench-Graph archive) are downloaded completely, then refused with the SHA-256 computed
(:class:`ChecksumUnknownError`) until the caller passes ``sha256=`` (a value it trusts) or
``verify=False``; the complete ``.part`` is kept, so the second call fetches nothing.

This module fetches and unpacks; :func:`gnnnas.data.convert.convert` writes the tables.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import http.client
import json
import os
import re
import shutil
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from gnnnas.data.manifest import DataDirectoryError, describe_os_error
from gnnnas.data.paths import resolve_data_dir
from gnnnas.files import (
    UnsafeLockPathError,
    atomic_write,
    file_lock,
    fsync_directory,
    is_inside,
    remove_stale_temporaries,
    temporary_path,
)
from gnnnas.progress import Progress, ProgressMode

__all__ = [
    "DOWNLOADS",
    "REGISTRY",
    "ChecksumError",
    "ChecksumUnknownError",
    "DownloadError",
    "DownloadResult",
    "Remote",
    "WebPageError",
    "download",
    "download_and_convert",
    "fetch",
    "unpack",
]

#: Sub-folder of the data directory where downloads (and their ``.part`` files) live.
DOWNLOADS = "downloads"
CHUNK = 1 << 20  # bytes per read: 1 MiB
TIMEOUT = 60.0  # seconds a connect or a read may stall


@dataclass(frozen=True)
class Remote:
    """One official file: where it is, what it must hash to, and what to convert it into.

    ``sha256``: lower-case hex from the publisher, or ``None`` when none is published (the
    caller must then pass one or opt out of verification). ``direct``: ``False`` when ``url``
    is not a stable direct link (Google Drive, figshare's generated archive) and may answer
    with a web page; ``note`` then says what the user must do. ``size_text``: the size as
    published (approximate). ``sha256_source``: where the checksum was published.
    ``kind``: ``file`` (converted as is), ``tar`` (a NATS ``-simple`` directory inside) or
    ``zip`` (NAS-Bench-Graph ``<dataset><seed>.bench`` files inside).
    """

    name: str
    filename: str
    url: str
    sha256: str | None
    space: str
    kind: str
    size_text: str
    source: str
    direct: bool
    note: str = ""
    sha256_source: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("file", "tar", "zip"):
            raise ValueError(f"{self.name}: kind must be file, tar or zip, not {self.kind!r}")
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError(f"{self.name}: sha256 must be 64 lower-case hex digits")
        if PurePosixPath(self.filename).name != self.filename or self.filename.startswith("."):
            raise ValueError(f"{self.name}: filename must be a plain file name, not {self.filename!r}")


_DRIVE_NOTE = ("Google Drive has no stable direct link: for large files it may answer with a "
               "confirmation or 'quota exceeded' web page instead of the file. If that happens, "
               "download {filename} in a browser from {page}, then run `{convert}`, or pass --url "
               "to a mirror you trust.")


def _drive(file_id: str) -> str:
    """The direct-download form of a Google Drive file link (skips the virus-scan page)."""
    return f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t"


#: The one table of official files: public URL, SHA-256 (``None``: not published), source page.
REGISTRY: dict[str, Remote] = {r.name: r for r in (
    Remote(
        name="nb101_only108", filename="nasbench_only108.tfrecord", space="nb101", kind="file",
        url="https://storage.googleapis.com/nasbench/nasbench_only108.tfrecord",
        sha256="4c39c3936e36a85269881d659e44e61a245babcb72cb374eacacf75d0e5f4fd1",
        sha256_source="README of github.com/google-research/nasbench ('Download the dataset')",
        size_text="~499 MB", source="https://github.com/google-research/nasbench", direct=True,
    ),
    Remote(
        name="nb101_full", filename="nasbench_full.tfrecord", space="nb101", kind="file",
        url="https://storage.googleapis.com/nasbench/nasbench_full.tfrecord",
        sha256="3d64db8180fb1b0207212f9032205064312b6907a3bbc81eabea10db2f5c7e9c",
        sha256_source="README of github.com/google-research/nasbench ('Download the dataset')",
        size_text="~1.95 GB", source="https://github.com/google-research/nasbench", direct=True,
    ),
    Remote(
        name="nb201", filename="NAS-Bench-201-v1_1-096897.pth", space="nb201", kind="file",
        url=_drive("16Y0UwGisiouVRxW-W5hEtbxmcHw_0hF_"), sha256=None,
        size_text="~4.7 GB", source="https://github.com/D-X-Y/NAS-Bench-201", direct=False,
        note=_DRIVE_NOTE.format(filename="NAS-Bench-201-v1_1-096897.pth",
                                page="https://drive.google.com/file/d/16Y0UwGisiouVRxW-W5hEtbxmcHw_0hF_/view",
                                convert="gnnnas data convert NAS-Bench-201-v1_1-096897.pth --space nb201"),
    ),
    Remote(
        name="nats_tss", filename="NATS-tss-v1_0-3ffb9-simple.tar", space="nb201", kind="tar",
        url=_drive("17_saCsj_krKjlCBLOJEpNtzPXArMCqxU"), sha256=None,
        size_text="not published", source="https://github.com/D-X-Y/NATS-Bench", direct=False,
        note=_DRIVE_NOTE.format(filename="NATS-tss-v1_0-3ffb9-simple.tar",
                                page="https://drive.google.com/file/d/17_saCsj_krKjlCBLOJEpNtzPXArMCqxU/view",
                                convert="tar xf NATS-tss-v1_0-3ffb9-simple.tar && gnnnas data convert "
                                        "NATS-tss-v1_0-3ffb9-simple --space nb201"),
    ),
    Remote(
        name="nasbench_graph", filename="NAS-bench-Graph-20070371.zip", space="nasbench_graph", kind="zip",
        url="https://figshare.com/ndownloader/articles/20070371/versions/1", sha256=None,
        size_text="not published", source="https://figshare.com/articles/dataset/NAS-bench-Graph/20070371",
        direct=False,
        note=("figshare builds this 'download all' archive on request: its bytes (hence its SHA-256) may "
              "differ between downloads and it may not support resuming. If it fails, download the "
              "<dataset><seed>.bench files from the figshare page and run `gnnnas data convert "
              "cora0.bench cora1.bench cora2.bench --space nasbench_graph` per data set."),
    ),
)}


class DownloadError(OSError):
    """A download failed (HTTP error, refused or dropped connection, truncated body, a web page
    instead of the file); the message names the URL and the cause. A ``.part`` file is kept
    only where resuming from it is safe."""


class WebPageError(DownloadError):
    """The server answered with a web page (sign-in, confirmation, quota) instead of the file."""


class ChecksumError(DownloadError):
    """The downloaded file's SHA-256 is not the expected one; nothing is left behind."""


class ChecksumUnknownError(ChecksumError):
    """No SHA-256 is known for the file: ``actual`` is the computed one. The complete ``.part``
    is kept; pass ``sha256=actual`` (after comparing it with a source you trust) or
    ``verify=False`` to accept it without fetching it again."""

    def __init__(self, message: str, actual: str) -> None:
        super().__init__(message)
        self.actual = actual


@dataclass
class DownloadResult:
    """What :func:`download` produced: ``path`` (the checked file, or the unpacked directory
    for ``tar``/``zip``), ``sha256`` of the downloaded file, ``bytes`` fetched in this call,
    ``resumed_from`` (bytes already in the ``.part``; 0 for a fresh start), ``reused`` (the file
    was already in place), ``verified`` (``False`` when accepted with ``verify=False``), and the
    conversions done by :func:`download_and_convert`."""

    remote: Remote
    path: Path
    sha256: str
    bytes: int = 0
    resumed_from: int = 0
    reused: bool = False
    verified: bool = True
    converted: list[Any] = field(default_factory=list)


# ----------------------------------------------------------------------------- fetching


def _check_url(url: str) -> None:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"{url}: only http:// and https:// URLs can be downloaded (got {scheme or 'no'} scheme)")


def _describe(error: BaseException) -> str:
    """A short cause for a network error: ``HTTP 404 Not Found``, ``Connection refused``, ..."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        if isinstance(reason, OSError):
            return reason.strerror or str(reason) or type(reason).__name__
        return str(reason)
    if isinstance(error, http.client.IncompleteRead):
        return f"connection closed after {len(error.partial)} more bytes"
    if isinstance(error, OSError):
        return error.strerror or str(error) or type(error).__name__
    return str(error) or type(error).__name__


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _load_state(path: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        state = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(state, dict):
            return state
    return {}


def _save_state(path: Path, state: dict[str, Any]) -> None:
    with atomic_write(path, "w") as handle:
        json.dump(state, handle, sort_keys=True)


def _discard(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _progress_mode(show: ProgressMode) -> ProgressMode:
    """``None`` (the default): a bar when stderr is a terminal, nothing otherwise; else a mode of
    :mod:`gnnnas.progress` (``True``: a bar on a terminal, one line per 5 % otherwise)."""
    if show is None:
        return "bar" if sys.stderr.isatty() else "quiet"
    return show


def _progress_bar(total: int | None, initial: int, desc: str, show: ProgressMode) -> Progress:
    """Bytes fetched, on stderr (see :func:`_progress_mode`)."""
    return Progress(total, desc, mode=_progress_mode(show), stream=sys.stderr, unit="B", line_every=0.05,
                    initial=initial)


def fetch(url: str, destination: str | os.PathLike, *, progress: ProgressMode = None,
          timeout: float = TIMEOUT, chunk: int = CHUNK,
          opener: Callable[..., Any] = urllib.request.urlopen) -> tuple[str, int, int]:
    """Stream ``url`` into ``destination + '.part'``, resuming an earlier ``.part`` if possible.

    Returns ``(sha256 hex of the whole .part, bytes fetched now, bytes resumed from)``; the
    ``.part`` is complete (its length is the server's total where one was given) but not
    renamed: the caller checks the digest first. Raises :class:`DownloadError` naming ``url``
    and the cause (the ``.part`` is kept for a later resume when its bytes are trustworthy),
    :class:`~gnnnas.data.manifest.DataDirectoryError` when the ``.part`` cannot be written,
    ``ValueError`` for a URL that is not http(s).
    """
    _check_url(url)
    destination = Path(destination)
    part = destination.with_name(destination.name + ".part")
    state_path = destination.with_name(destination.name + ".part.json")
    state = _load_state(state_path)
    offset = part.stat().st_size if part.is_file() else 0
    if offset and state.get("url") != url:
        offset = 0  # another source: its bytes may differ
    if offset and isinstance(state.get("total"), int) and offset >= state["total"]:
        if offset == state["total"]:  # complete from an earlier call (e.g. checksum not yet accepted)
            return _hash_file(part), 0, offset
        offset = 0
    for attempt in range(2):  # the second attempt is a fresh start after a refused resume
        try:
            return _fetch_once(url, part, state_path, state if offset else {}, offset, progress, timeout,
                               chunk, opener)
        except _Restart:
            offset = 0
            if attempt:
                raise DownloadError(f"{url}: the server does not answer range requests consistently") from None
    raise AssertionError("unreachable")  # pragma: no cover


class _Restart(Exception):
    """The server refused to resume; start again from zero."""


def _request(url: str, offset: int, state: dict[str, Any]) -> urllib.request.Request:
    from gnnnas import __version__

    headers = {"User-Agent": f"gnnnas/{__version__} (+urllib)", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        validator = state.get("etag") if str(state.get("etag", "")).startswith('"') else state.get("last_modified")
        if validator:
            headers["If-Range"] = validator  # the file changed since: the server sends it whole (200)
    return urllib.request.Request(url, headers=headers)


def _fetch_once(url: str, part: Path, state_path: Path, state: dict[str, Any], offset: int,
                progress: ProgressMode, timeout: float, chunk: int, opener: Callable[..., Any]) -> tuple[str, int, int]:
    try:
        response = opener(_request(url, offset, state), timeout=timeout)
    except urllib.error.HTTPError as error:
        with contextlib.closing(error):
            if error.code == 416 and offset:  # asked beyond the end: complete, or the file shrank
                match = re.fullmatch(r"bytes\s+\*/(\d+)", error.headers.get("Content-Range", "") or "")
                if match and int(match[1]) == offset:
                    return _hash_file(part), 0, offset
                raise _Restart() from None
        raise DownloadError(f"{url}: {_describe(error)}") from None
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise DownloadError(f"{url}: {_describe(error)}") from None
    with contextlib.closing(response):
        status = response.status
        headers = response.headers
        content_type = (headers.get("Content-Type") or "").lower()
        if content_type.startswith("text/html"):
            raise WebPageError(f"{url}: the server sent a web page, not the file (HTTP {status}, "
                                f"{content_type.split(';')[0]}): a sign-in, confirmation or quota page")
        length = headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if offset and status == 206:
            match = _CONTENT_RANGE.fullmatch((headers.get("Content-Range") or "").strip())
            if not match or int(match[1]) != offset or (length is not None and int(match[2]) - offset + 1 != length):
                raise _Restart()
            total = int(match[3]) if match[3] != "*" else None
        elif status in (200, 203) or (status == 206 and not offset):
            if status == 206:  # a range we did not ask for
                raise DownloadError(f"{url}: HTTP 206 for a request without a range")
            offset = 0
            total = length
        else:
            raise DownloadError(f"{url}: unexpected HTTP {status} {response.reason}")
        state = {"url": url, "total": total, "etag": headers.get("ETag"), "last_modified": headers.get("Last-Modified")}
        digest = hashlib.sha256()
        try:
            part.parent.mkdir(parents=True, exist_ok=True)
            _save_state(state_path, state)
            handle = open(part, "r+b" if offset else "wb")  # noqa: SIM115 (closed below)
        except OSError as error:
            raise DataDirectoryError(f"cannot write {describe_os_error(error, part)}") from None
        with handle:
            if offset:
                _hash_into(digest, handle, offset)
                handle.truncate(offset)
                handle.seek(offset)
            fetched = _copy(response, handle, digest, url, part, length, total, offset, progress, chunk)
    return digest.hexdigest(), fetched, offset


def _hash_into(digest: Any, handle: BinaryIO, limit: int) -> None:
    remaining = limit
    while remaining:
        block = handle.read(min(CHUNK, remaining))
        if not block:
            break
        digest.update(block)
        remaining -= len(block)


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _copy(response: Any, handle: BinaryIO, digest: Any, url: str, part: Path, length: int | None,
          total: int | None, offset: int, progress: ProgressMode, chunk: int) -> int:
    """Body -> ``handle`` (fsynced), hashing as it goes; returns the bytes written."""
    bar = _progress_bar(total, offset, part.name[: -len(".part")], progress)
    fetched = 0
    try:
        while True:
            try:
                block = response.read(chunk)
            except (OSError, http.client.HTTPException) as error:
                raise DownloadError(f"{url}: {_describe(error)} after {offset + fetched} bytes; "
                                    "run the command again to resume") from None
            if not block:
                break
            try:
                handle.write(block)
            except OSError as error:
                raise DataDirectoryError(f"cannot write {describe_os_error(error, part)}") from None
            digest.update(block)
            fetched += len(block)
            bar.advance(len(block))
        try:
            handle.flush()
            os.fsync(handle.fileno())
        except OSError as error:
            raise DataDirectoryError(f"cannot write {describe_os_error(error, part)}") from None
    finally:
        bar.close()
    expected = length if length is not None else (total - offset if total is not None else None)
    if expected is not None and fetched != expected:
        raise DownloadError(f"{url}: connection closed after {offset + fetched} of {offset + expected} bytes "
                            "(truncated body); run the command again to resume")
    return fetched


# ------------------------------------------------------------------------------ unpacking


def _member_path(name: str, archive: Path) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ValueError(f"{archive}: member {name!r} would be written outside the folder; refusing to unpack it")
    return path


def unpack(archive: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """Unpack a ``.tar`` or ``.zip`` into ``destination`` (replaced as a whole), safely.

    Only regular files and folders are unpacked, each inside ``destination`` (absolute names,
    ``..``, links and devices raise ``ValueError`` naming the member). The archive is unpacked
    into a temporary folder beside ``destination`` first, so a failure leaves the old one.
    Returns ``destination``.
    """
    archive, destination = Path(archive), Path(destination)
    staging = temporary_path(destination, "unpack")
    _remove_stale_folders(destination)
    try:
        staging.mkdir(parents=True)
        if zipfile.is_zipfile(archive):
            _unzip(archive, staging)
        else:
            _untar(archive, staging)
        old = temporary_path(destination, "old")
        if destination.exists():
            os.replace(destination, old)
        os.replace(staging, destination)
        fsync_directory(destination.parent)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return destination


def _remove_stale_folders(destination: Path) -> None:
    """Unpacking folders (``.<name>.unpack-<pid>-<hex>``, ``.old-``) left by killed processes."""
    remove_stale_temporaries(destination, ("unpack", "old"))


def _untar(archive: Path, into: Path) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _member_path(member.name, archive)
                if not (member.isfile() or member.isdir()):
                    raise ValueError(f"{archive}: member {member.name!r} is a link or device; refusing to unpack it")
            if hasattr(tarfile, "data_filter"):
                tar.extractall(into, members=members, filter="data")
            else:  # pragma: no cover - Python < 3.11.4; members were checked above
                tar.extractall(into, members=members)
    except tarfile.TarError as error:
        raise ValueError(f"{archive}: not a readable tar archive ({error})") from None


def _unzip(archive: Path, into: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                _member_path(info.filename, archive)
                mode = info.external_attr >> 16
                if mode and (mode & 0o170000) not in (0o100000, 0o040000):
                    raise ValueError(f"{archive}: member {info.filename!r} is a link or device; refusing to unpack it")
                target = into / info.filename
                if not is_inside(target, into):
                    raise ValueError(f"{archive}: member {info.filename!r} would be written outside the folder")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(info) as source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out, CHUNK)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as error:
        raise ValueError(f"{archive}: not a readable zip archive ({error})") from None


# ------------------------------------------------------------------------------ the command


def _remote(name: str) -> Remote:
    if name not in REGISTRY:
        raise ValueError(f"unknown download {name!r}; choose from {sorted(REGISTRY)}")
    return REGISTRY[name]


@contextlib.contextmanager
def _download_lock(folder: Path, filename: str) -> Iterator[None]:
    """One download of a file at a time per data directory (a second one fails at once)."""
    from filelock import Timeout

    lock_path = folder / f".{filename}.lock"
    created = [d for d in reversed((folder, *folder.parents)) if not d.exists()]  # outermost first
    try:
        lock = file_lock(lock_path, timeout=0)  # before mkdir: a refused lock path changes nothing
        folder.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except UnsafeLockPathError as err:
        raise DataDirectoryError(str(err)) from None
    except Timeout:
        raise DataDirectoryError(f"{lock_path}: another download of {filename} is running") from None
    except OSError as error:
        raise DataDirectoryError(f"cannot create the download folder: {describe_os_error(error, folder)}") from None
    try:
        yield
    finally:
        lock.release()
        # a download that kept nothing (refused connection, HTTP error) leaves nothing behind
        kept = [p for p in folder.glob(f"{glob.escape(filename)}*")]
        if not kept:
            with contextlib.suppress(OSError):
                lock_path.unlink()
            for directory in reversed(created):
                with contextlib.suppress(OSError):
                    directory.rmdir()  # only if empty


def download(name: str, data_dir: str | os.PathLike | None = None, *, url: str | None = None,
             sha256: str | None = None, verify: bool = True, progress: ProgressMode = None,
             timeout: float = TIMEOUT) -> DownloadResult:
    """Download ``REGISTRY[name]`` into ``<data dir>/downloads/``, check it, unpack archives.

    ``url`` replaces the registry's (a mirror); ``sha256`` replaces its checksum (64 hex
    digits); ``verify=False`` accepts the file whatever its SHA-256 (printed by the caller).
    ``progress``: the bytes fetched on stderr - ``None`` (default) a bar on a terminal and
    nothing otherwise, else a :mod:`gnnnas.progress` mode (``True``: one line per 5 % off a
    terminal; ``False``: nothing).
    A file already in ``downloads/`` (an earlier download, or one put there by hand) is
    checked and reused without a request; if its SHA-256 is wrong it is reported, not deleted.

    Raises :class:`ChecksumError` (wrong SHA-256: the ``.part`` is removed),
    :class:`ChecksumUnknownError` (no SHA-256 known and ``verify`` is true: the complete
    ``.part`` is kept, ``.actual`` holds its SHA-256), :class:`DownloadError` (HTTP error,
    connection refused or dropped, truncated body, a web page instead of the file),
    :class:`~gnnnas.data.manifest.DataDirectoryError` (cannot write the data directory) and
    ``ValueError`` (unknown name, malformed ``sha256``, a URL that is not http(s), an unsafe
    archive).
    """
    remote = _remote(name)
    if sha256 is not None:
        sha256 = sha256.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError(f"--sha256 must be 64 hexadecimal digits, got {sha256!r}")
    expected = sha256 or remote.sha256
    url = url or remote.url
    _check_url(url)
    folder = resolve_data_dir(data_dir) / DOWNLOADS
    target = folder / remote.filename
    part = target.with_name(target.name + ".part")
    state = target.with_name(target.name + ".part.json")
    with _download_lock(folder, remote.filename):
        if target.is_file():
            actual = _hash_file(target)
            if (expected is None and not verify) or actual == expected:
                return _finish(remote, target, DownloadResult(remote, target, actual, reused=True,
                                                              verified=expected is not None))
            if expected is None:
                raise ChecksumUnknownError(_unknown_message(remote, target, actual), actual)
            # placed there by hand or checked against another --sha256: never deleted silently
            raise ChecksumError(f"{target}: SHA-256 is {actual}, expected {expected}; delete the file "
                                "to download it again")
        try:
            actual, fetched, resumed = fetch(url, target, progress=progress, timeout=timeout)
        except WebPageError as error:
            if url != remote.url or not remote.note:
                raise
            raise WebPageError(f"{error}. {remote.note}") from None
        if expected is None and verify:
            raise ChecksumUnknownError(_unknown_message(remote, part, actual), actual)
        if expected is not None and actual != expected and verify:
            _discard(part, state)
            raise ChecksumError(f"{url}: SHA-256 mismatch for {remote.filename}: expected {expected}, got "
                                f"{actual}; the download was removed (a changed or corrupted file, or a "
                                "wrong mirror)")
        try:
            os.replace(part, target)
            fsync_directory(folder)
        except OSError as error:
            raise DataDirectoryError(f"cannot write {describe_os_error(error, target)}") from None
        _discard(state)
        result = DownloadResult(remote, target, actual, bytes=fetched, resumed_from=resumed,
                                verified=expected is not None and actual == expected)
        return _finish(remote, target, result)


def _unknown_message(remote: Remote, path: Path, actual: str) -> str:
    return (f"{remote.name}: no published SHA-256 for {remote.filename}; the downloaded file has SHA-256 "
            f"{actual}. Compare it with a source you trust, then run again with --sha256 {actual} (or "
            f"--no-verify to accept it unchecked); the complete download is kept in {path}, nothing is "
            "fetched again")


def _finish(remote: Remote, target: Path, result: DownloadResult) -> DownloadResult:
    if remote.kind in ("tar", "zip"):
        result.path = unpack(target, target.with_name(_stem(remote.filename)))
    return result


def _stem(filename: str) -> str:
    for suffix in (".tar.gz", ".tgz", ".tar", ".zip"):
        if filename.endswith(suffix):
            return filename[: -len(suffix)]
    return filename + ".d"


def _sources(result: DownloadResult) -> list[list[Path]]:
    """What to convert: the file, the NATS ``-simple`` directory, or each data set's seed files."""
    path = result.path
    if result.remote.kind == "file":
        return [[path]]
    if result.remote.kind == "tar":
        found = sorted(p for p in path.rglob("*") if p.is_dir() and (p / "meta.pickle.pbz2").is_file())
        if (path / "meta.pickle.pbz2").is_file():
            found.insert(0, path)
        if not found:
            raise ValueError(f"{path}: no NATS -simple folder (with meta.pickle.pbz2) in the archive")
        return [[found[0]]]
    from gnnnas.data.formats.nasbench_graph import dataset_of

    groups: dict[str, list[Path]] = {}
    for file in sorted(path.rglob("*.bench")):
        groups.setdefault(dataset_of(file), []).append(file)
    if not groups:
        raise ValueError(f"{path}: no NAS-Bench-Graph .bench files in the archive")
    return [groups[d] for d in sorted(groups)]


def download_and_convert(name: str, data_dir: str | os.PathLike | None = None, *, convert: bool = True,
                         **kwargs: Any) -> DownloadResult:
    """:func:`download`, then :func:`gnnnas.data.convert.convert` on what it fetched.

    NAS-Bench-Graph: one table per data set found in the archive. Raises what :func:`download`
    and :func:`~gnnnas.data.convert.convert` raise; the downloaded file stays in place if the
    conversion fails (it was checked), so a second call only converts. ``progress`` (in
    ``kwargs``, as :func:`download`) reports the conversion too.
    """
    result = download(name, data_dir, **kwargs)
    if convert:
        from gnnnas.data.convert import convert as convert_table

        mode = _progress_mode(kwargs.get("progress"))
        for sources in _sources(result):
            result.converted.append(convert_table(sources, result.remote.space, data_dir=data_dir, progress=mode))
    return result
