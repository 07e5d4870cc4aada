"""Progress of a counted job: a bar on a terminal, one plain line per step in a log, or nothing.

Why: a ``gnnnas bench`` run can fit for half an hour and ``gnnnas score`` train for minutes;
without a sign of life a user cannot tell a slow job from a hung one, nor whether to wait. A
bar redrawn in place (tqdm) is right on a terminal, but in a log file or a CI job it becomes
carriage-return noise or nothing at all, so there each step prints one flushed line instead::

    bench  3/8 (38%)  gnnnas N=469 seed 0 tau=0.712  elapsed 1m12s  remaining ~2m00s

Remaining time is ``elapsed / done * left`` (an estimate, hence ``~``; absent before the first
step ends). Library functions are quiet unless asked (``progress=False`` by default), so code
that imports gnnnas prints nothing it did not request; the ``gnnnas`` command turns progress on
(on stderr, results stay on stdout) and off with ``--quiet``.

Modes (the ``progress=`` argument of :func:`gnnnas.harness.run_protocol`, the searches of
:mod:`gnnnas.search`, :func:`gnnnas.data.convert.convert`,
:meth:`gnnnas.ZeroFinetuneEvaluator.fit` / ``score_archs``; ``Predictor(verbose=True)`` is
``"auto"``):

- ``"auto"`` or ``True``: ``"bar"`` when the stream is a terminal, else ``"lines"``;
- ``"bar"``: a tqdm bar (elapsed, remaining and rate are tqdm's);
- ``"lines"``: one line per step (or per ``line_every`` fraction of the total, for callers
  whose steps are fine-grained, such as epochs or records);
- ``"quiet"``, ``False`` or ``None``: nothing.

API: :class:`Progress` (a context manager: ``advance(n=1, status=...)``, ``set_status``,
``close``), :func:`resolve_mode`, :func:`write` (print a result line without breaking a bar)
and :func:`format_duration`. Steps should be coarse (a task, a search round, a tenth of the
training), never a minibatch: an ``advance`` costs a few attribute updates and, in line mode,
one write per line printed. Nothing happens at import beyond defining these names (tqdm is
imported when a bar is made).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from typing import Any, TextIO

__all__ = ["MODES", "UNKNOWN_TOTAL_SECONDS", "Progress", "ProgressMode", "format_duration", "resolve_mode", "write"]

#: The mode names :func:`resolve_mode` accepts (besides ``True``, ``False`` and ``None``).
MODES = ("auto", "bar", "lines", "quiet")

#: What a ``progress=`` argument takes: a name of :data:`MODES`, ``True`` (= ``"auto"``),
#: ``False`` or ``None`` (= ``"quiet"``).
ProgressMode = bool | str | None

#: With no total, line mode with ``line_every`` prints at most one line per this many seconds.
UNKNOWN_TOTAL_SECONDS = 10.0

_open_bars = 0  # bars now on screen: write() goes through tqdm.write while any is open


def resolve_mode(mode: ProgressMode, stream: Any = None) -> str:
    """``"bar"``, ``"lines"`` or ``"quiet"`` for ``mode`` written to ``stream`` (default stderr).

    ``"auto"`` / ``True`` is ``"bar"`` when ``stream.isatty()`` is true (and the terminal, when
    its size can be read, is wider than 0 columns), else ``"lines"``.
    Raises ``ValueError`` for anything outside :data:`MODES`, ``True``, ``False`` and ``None``.
    """
    if mode is None or mode is False:
        return "quiet"
    if mode is True:
        mode = "auto"
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"progress must be one of {MODES}, True, False or None, got {mode!r}")
    if mode != "auto":
        return mode
    stream = sys.stderr if stream is None else stream
    try:
        if not stream.isatty():
            return "lines"
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return "lines"
    try:  # a terminal of no width (a pty nobody sized, e.g. under `script`): tqdm would draw nothing
        if os.get_terminal_size(stream.fileno()).columns == 0:
            return "lines"
    except (AttributeError, OSError, ValueError):  # no file descriptor (a test double): trust isatty
        pass
    return "bar"


def format_duration(seconds: float) -> str:
    """``"4.2s"``, ``"42s"``, ``"1m12s"``, ``"2h05m"``: short and fixed-form (tenths below 10 s)."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    if seconds < 9.95:
        return f"{seconds:.1f}s"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def write(text: str, file: TextIO | None = None) -> None:
    """Print ``text`` (one line, flushed) to ``file`` (default stdout) without breaking an open bar.

    For result lines printed while a :class:`Progress` bar is on screen: the bar is cleared,
    the line written and the bar redrawn below it (``tqdm.write``). Otherwise a plain print.
    """
    file = sys.stdout if file is None else file
    if _open_bars > 0:
        from tqdm import tqdm

        tqdm.write(text, file=file)
        file.flush()
    else:
        print(text, file=file, flush=True)


class Progress:
    """Report the progress of a job of ``total`` steps to ``stream`` (default: stderr).

    Args:
        total: steps in the job (``None``: unknown; lines then show the count and elapsed time
            only). :meth:`set_total` may give it later (e.g. once a file's header is read).
        desc: what the job is, first on each line (``"bench"``, ``"search"``, ``"fit"``).
        mode: see :func:`resolve_mode`; ``"quiet"`` makes every method a no-op.
        stream: where to write (default ``sys.stderr``, looked up when the object is made).
        unit: what a step is, for the bar (``"task"``, ``"query"``, ``"epoch"``); ``"B"`` shows
            byte counts in kB, MB or GB.
        line_every: in line mode, print when the done count crosses each multiple of
            ``line_every * total`` (e.g. ``0.1``: ten lines per job) instead of at every step,
            and always at the last step; with no total, at most one line per
            :data:`UNKNOWN_TOTAL_SECONDS`. ``None``: one line per :meth:`advance`.
        leave: keep the finished bar on screen (bar mode).
        initial: steps already done before this run (a resumed download); the remaining time
            counts only the steps done since.

    Use as a context manager (``with Progress(8, "bench", mode="auto") as p: ... p.advance()``)
    or call :meth:`close`. Each :meth:`advance` in line mode prints
    ``desc  done/total (pct%)  status  elapsed E  remaining ~R``.
    """

    def __init__(
        self,
        total: float | None,
        desc: str = "",
        mode: ProgressMode = "auto",
        stream: TextIO | None = None,
        unit: str = "step",
        line_every: float | None = None,
        leave: bool = False,
        initial: float = 0,
    ) -> None:
        if line_every is not None and not (isinstance(line_every, (int, float)) and 0 < line_every <= 1):
            raise ValueError(f"line_every must be a fraction in (0, 1], got {line_every!r}")
        self.stream = sys.stderr if stream is None else stream
        self.mode = resolve_mode(mode, self.stream)
        self.desc = desc
        self.unit = unit
        self.line_every = line_every
        self.total = total
        self.initial = initial
        self.done = initial
        self.status = ""
        self.start = time.perf_counter()
        self.lines = 0  # lines written (line mode), for callers and tests
        self._next_line = 0.0
        self._last_line = self.start
        self._bar = None
        self._closed = False
        if self.mode == "bar":
            global _open_bars
            from tqdm.auto import tqdm

            scaled = unit == "B"
            self._bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, leave=leave, dynamic_ncols=True,
                             unit_scale=scaled, unit_divisor=1024 if scaled else 1000, initial=initial)
            _open_bars += 1
        self._plan_next()

    # ------------------------------------------------------------------ public
    @property
    def quiet(self) -> bool:
        """True when nothing is reported (mode ``"quiet"``)."""
        return self.mode == "quiet"

    @property
    def elapsed(self) -> float:
        """Seconds since the job started (the object was made)."""
        return time.perf_counter() - self.start

    def remaining(self) -> float | None:
        """Estimated seconds left: ``elapsed / done * left`` (``done`` since ``initial``); ``None``
        before the first step or without a total."""
        done = self.done - self.initial
        if done <= 0 or self.total is None:
            return None
        return self.elapsed / done * max(self.total - self.done, 0)

    def set_total(self, total: float | None, unit: str | None = None) -> None:
        """Give (or change) the number of steps, e.g. once it is known, and optionally their unit."""
        self.total = total
        if unit is not None:
            self.unit = unit
        self._plan_next()
        if self._bar is not None:
            self._bar.total = total
            if unit is not None:
                self._bar.unit = unit
                self._bar.unit_scale = unit == "B"
                self._bar.unit_divisor = 1024 if unit == "B" else 1000
            self._bar.refresh()

    def set_status(self, status: str) -> None:
        """Text shown after the count (bar: its postfix; lines: in the next line)."""
        self.status = status
        if self._bar is not None:
            self._bar.set_postfix_str(status, refresh=False)

    def advance(self, n: float = 1, status: str | None = None) -> None:
        """``n`` more steps are done; ``status`` (optional) says what was just done or found."""
        if self.mode == "quiet" or self._closed:
            return
        self.done += n
        if status is not None:
            self.set_status(status)
        if self._bar is not None:
            self._bar.update(n)
        elif self.total is None and self.line_every is not None:
            now = time.perf_counter()
            if now - self._last_line >= UNKNOWN_TOTAL_SECONDS:
                self._last_line = now
                self._line()
        elif self.done >= self._next_line or (self.total is not None and self.done >= self.total):
            self._line()
            self._plan_next()

    def close(self) -> None:
        """Finish: remove (or leave) the bar. Lines need no closing; further calls do nothing."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            global _open_bars
            self._bar.close()
            _open_bars -= 1

    def __del__(self) -> None:  # a job that raised without closing: take its bar off the count
        with contextlib.suppress(Exception):  # never raise from a finaliser
            self.close()

    def __enter__(self) -> Progress:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    def _plan_next(self) -> None:
        """The done count at which line mode prints next."""
        if self.line_every is None or self.total is None or self.total <= 0:
            self._next_line = -math.inf  # every advance
            return
        chunk = self.line_every * self.total
        self._next_line = (math.floor(self.done / chunk + 1e-9) + 1) * chunk - 1e-9 * chunk

    def _bytes_scale(self) -> tuple[float, str]:
        size = self.total if self.total else self.done
        return (1e9, "GB") if size >= 1e10 else (1e6, "MB") if size >= 1e6 else (1e3, "kB")

    def _count(self, value: float) -> str:
        if self.unit == "B":
            return f"{value / self._bytes_scale()[0]:.1f}"
        return f"{value:g}" if isinstance(value, float) else str(value)

    def _line(self) -> None:
        parts = [self.desc] if self.desc else []
        count = self._count(self.done)
        if self.total is not None:
            count += f"/{self._count(self.total)}"
        if self.unit == "B":
            count += " " + self._bytes_scale()[1]
        if self.total:
            count += f" ({100 * self.done / self.total:.0f}%)"
        parts.append(count)
        if self.status:
            parts.append(self.status)
        parts.append(f"elapsed {format_duration(self.elapsed)}")
        left = self.remaining()
        if left is not None and (self.total is None or self.done < self.total):  # none left: say nothing
            parts.append(f"remaining ~{format_duration(left)}")
        try:
            self.stream.write("  ".join(parts) + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stream must not stop the job it reports on
            return
        self.lines += 1
