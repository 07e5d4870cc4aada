"""``gnnnas-manifest.json``: what ``gnnnas data convert`` wrote, with SHA-256 checksums.

One manifest per data directory: ``{"version": 1, "files": {relative path: {"sha256",
"bytes", "space", "source", "source_sha256", "rows", "created"}}}``. ``verify`` recomputes the
checksums, so a table edited, truncated or swapped after conversion is caught before it
silently changes a benchmark's labels.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from gnnnas.data.paths import atomic_write

__all__ = ["MANIFEST_NAME", "file_sha256", "read_manifest", "record_files", "verify_manifest"]

MANIFEST_NAME = "gnnnas-manifest.json"


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


def read_manifest(data_dir: str | os.PathLike) -> dict[str, Any]:
    """The manifest of ``data_dir`` (an empty one when none exists)."""
    path = Path(data_dir) / MANIFEST_NAME
    if not path.is_file():
        return {"version": 1, "files": {}}
    try:
        with open(path) as handle:
            manifest = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a gnnnas manifest ({err}); fix or delete it") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ValueError(f"{path}: not a gnnnas manifest")  # noqa: TRY004  (a bad file, not a bad argument)
    return manifest


def record_files(data_dir: str | os.PathLike, entries: dict[str, dict[str, Any]]) -> Path:
    """Add or replace ``entries`` (relative path -> info) and write the manifest atomically.

    Each entry gets ``sha256``, ``bytes`` and ``created`` from the file as it is now.
    """
    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    for relative, info in entries.items():
        file = data_dir / relative
        manifest["files"][relative] = {
            **info,
            "sha256": file_sha256(file),
            "bytes": file.stat().st_size,
            "created": now,
        }
    path = data_dir / MANIFEST_NAME
    with atomic_write(path, "w") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
    return path


def verify_manifest(data_dir: str | os.PathLike) -> list[tuple[str, str]]:
    """``(relative path, status)`` per manifest entry: ``ok``, ``missing`` or ``checksum mismatch``."""
    data_dir = Path(data_dir)
    results = []
    for relative, info in sorted(read_manifest(data_dir)["files"].items()):
        file = data_dir / relative
        if not file.is_file():
            results.append((relative, "missing"))
        elif file_sha256(file) != info.get("sha256"):
            results.append((relative, "checksum mismatch"))
        else:
            results.append((relative, "ok"))
    return results
