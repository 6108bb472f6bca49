"""dashsim._progress: bars on terminals and in Jupyter, whole lines everywhere else."""

from __future__ import annotations

import io
import sys

import pytest
from tqdm import std

from dashsim import _progress
from dashsim._progress import LineProgress, progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_line_progress_writes_whole_lines_at_most_every_interval(monkeypatch):
    clock = iter([0.0, 1.0, 31.0, 32.0, 70.0])
    monkeypatch.setattr(_progress.time, "monotonic", lambda: next(clock))
    out = io.StringIO()
    bar = LineProgress(total=4, desc="incremental", unit="round", interval=30.0, file=out)
    bar.update()  # 1 s: quiet
    bar.set_postfix(test_acc="0.9000", steps=12)
    bar.update()  # 31 s: a line
    bar.update()  # 32 s: quiet (1 s since the last line)
    bar.update()  # 70 s: a line
    bar.close()  # nothing new since the last line
    lines = out.getvalue().splitlines()
    assert lines == ["incremental: 2/4 round [00:31<00:31, test_acc=0.9000, steps=12]",
                     "incremental: 4/4 round [01:10<00:00, test_acc=0.9000, steps=12]"]
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_line_progress_over_an_iterable_ends_with_a_line_unless_not_left():
    out = io.StringIO()
    assert list(LineProgress([1, 2, 3], desc="seeds", unit="seed", file=out)) == [1, 2, 3]
    assert out.getvalue().startswith("seeds: 3/3 seed [") and out.getvalue().count("\n") == 1
    quiet = io.StringIO()
    list(LineProgress(range(3), leave=False, file=quiet))
    assert quiet.getvalue() == ""
    resumed = LineProgress(total=10, initial=4, file=io.StringIO())
    assert resumed.line().startswith("4/10 it [00:00<?")  # nothing done in this process yet: no rate


def test_the_display_suits_where_it_is_shown(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a log file or a pipe
    assert isinstance(progress_bar(total=3), LineProgress)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    bar = progress_bar(total=3)
    assert isinstance(bar, std.tqdm) and bar.fp is not None
    bar.close()
    assert "\r" in sys.stderr.getvalue()  # a real bar, redrawn in place
    off = progress_bar(range(2), disable=True)
    assert list(off) == [0, 1] and off.disable


def test_in_jupyter_the_bar_never_writes_to_stderr(monkeypatch):
    monkeypatch.setattr(_progress, "_jupyter_kernel", lambda: True)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # no widgets: a text bar on the cell's output
    bar = progress_bar(total=2, desc="seeds")
    bar.update(2)
    bar.close()
    assert "seeds" in sys.stdout.getvalue() and sys.stderr.getvalue() == ""


def test_in_jupyter_with_ipywidgets_the_bar_is_a_widget(monkeypatch):
    pytest.importorskip("ipywidgets")
    from tqdm.notebook import tqdm as widget_bar

    monkeypatch.setattr(_progress, "_jupyter_kernel", lambda: True)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    bar = progress_bar(total=2, desc="seeds")
    assert isinstance(bar, widget_bar)
    bar.close()
    assert sys.stderr.getvalue() == ""
