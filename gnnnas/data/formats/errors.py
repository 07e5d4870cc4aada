"""The one error every reader raises for a bad official file."""

from __future__ import annotations

import os

__all__ = ["FormatError"]


class FormatError(ValueError):
    """An official benchmark file is truncated, corrupted or not in the expected layout.

    The message names the file, where the problem is (byte offset or record number, when
    known) and what is wrong, so a user can tell a bad download from a wrong file.
    """

    def __init__(
        self,
        path: str | os.PathLike | None,
        problem: str,
        *,
        offset: int | None = None,
        record: int | str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        self.offset = offset
        self.record = record
        where = []
        if record is not None:
            where.append(f"record {record}")
        if offset is not None:
            where.append(f"byte offset {offset}")
        location = f" ({', '.join(where)})" if where else ""
        super().__init__(f"{self.path or '<data>'}{location}: {problem}")
