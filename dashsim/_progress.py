"""The one progress display of the package: a bar where one can be drawn, plain lines where not.

* in a Jupyter kernel: a widget bar when ipywidgets is installed (the ``[notebooks]`` extra), else a
  text bar on the cell's standard output (never stderr, which Jupyter shows as a warning);
* on a terminal: tqdm's bar on stderr;
* anywhere else (a log file, a pipe, CI): :class:`LineProgress`, whole lines on stderr at most
  every ``LINE_INTERVAL_S`` seconds, with no carriage returns or cursor movements.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Iterable, Iterator, Optional, TextIO

from tqdm import std as _tqdm

__all__ = ["progress_bar", "LineProgress", "LINE_INTERVAL_S"]

LINE_INTERVAL_S = 30.0  # at most one progress line per bar this often (a line also marks the end of a bar)


class LineProgress:
    """A progress display that writes whole lines: ``desc: n/total unit [elapsed<remaining, postfix]``.

    It has the part of tqdm's interface the package uses (iteration, ``update``, ``set_postfix``,
    ``close``, a context manager). A line is written when at least ``interval`` seconds have passed
    since the last one, and when the bar completes if ``leave`` (an inner bar that is not left,
    e.g. epochs within a round, stays quiet when it ends).
    """

    def __init__(self, iterable: Optional[Iterable] = None, *, total: Optional[int] = None, desc: str = "",
                 unit: str = "it", initial: int = 0, leave: bool = True, interval: float = LINE_INTERVAL_S,
                 file: Optional[TextIO] = None) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.desc, self.unit, self.leave, self.interval = total, desc, unit, leave, interval
        self.file = file if file is not None else sys.stderr
        self.n = self.initial = initial
        self.postfix = ""
        self.start = self.last = time.monotonic()
        self.written_n: Optional[int] = None

    def __iter__(self) -> Iterator[Any]:
        try:
            for item in self.iterable or ():
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{key}={value}" for key, value in values.items())

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self._write(now)

    def close(self) -> None:
        if self.leave and self.written_n != self.n:
            self._write(time.monotonic())

    def line(self, now: Optional[float] = None) -> str:
        """The current line (without its newline)."""
        elapsed = (time.monotonic() if now is None else now) - self.start
        done = self.n - self.initial
        remaining = "?"
        if self.total is not None and done > 0:
            remaining = _tqdm.tqdm.format_interval(elapsed / done * max(self.total - self.n, 0))
        total = "?" if self.total is None else str(self.total)
        extra = f", {self.postfix}" if self.postfix else ""
        head = f"{self.desc}: " if self.desc else ""
        return f"{head}{self.n}/{total} {self.unit} [{_tqdm.tqdm.format_interval(elapsed)}<{remaining}{extra}]"

    def _write(self, now: float) -> None:
        self.file.write(self.line(now) + "\n")
        self.file.flush()
        self.last, self.written_n = now, self.n


def _jupyter_kernel() -> bool:
    """Whether this process is a Jupyter kernel (not a terminal IPython)."""
    if "ipykernel" not in sys.modules:
        return False
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


def _stream_is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


def progress_bar(iterable: Optional[Iterable] = None, *, total: Optional[int] = None, desc: str = "",
                 unit: str = "it", initial: int = 0, leave: bool = True, disable: bool = False):
    """A progress display over ``iterable`` (or updated by hand up to ``total``) that suits where it is shown.

    Parameters
    ----------
    iterable : what to iterate over, or None to call ``update`` by hand.
    total : the number of steps (default: ``len(iterable)``).
    desc, unit : the label and the unit of a step.
    initial : steps already done (a resumed run).
    leave : keep the display when done (False for inner bars).
    disable : show nothing (the returned object still takes ``update`` and ``set_postfix``).

    Returns
    -------
    A tqdm bar (a widget in Jupyter with ipywidgets, text elsewhere) or a :class:`LineProgress`.
    """
    kwargs = dict(total=total, desc=desc, unit=unit, initial=initial, leave=leave)
    if disable:
        return _tqdm.tqdm(iterable, disable=True, **kwargs)
    if _jupyter_kernel():
        try:
            import ipywidgets  # noqa: F401 (tqdm's widget bar needs it; without it tqdm warns on stderr)
        except ImportError:
            return _tqdm.tqdm(iterable, file=sys.stdout, **kwargs)
        from tqdm.notebook import tqdm as widget_bar

        return widget_bar(iterable, **kwargs)
    if _stream_is_terminal(sys.stderr):
        return _tqdm.tqdm(iterable, **kwargs)
    return LineProgress(iterable, **kwargs)
