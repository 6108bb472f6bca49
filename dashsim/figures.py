"""What every paper-figure script shares: flags with a full and a quick default, the run cache, the outputs.

A figure script (``paper_figures/<name>.py``) computes with cached, resumable runs and plots
separately, writing ``<name>.csv`` (exactly the plotted numbers) and ``<name>.png`` + ``.pdf``
(:func:`dashsim.style.save_figure`). This module holds the parts that know neither the simulator
nor torch; :mod:`dashsim.sim.figures` and :mod:`dashsim.nn.figures` build on it.

Flags. A script's flags are derived from the library's config dataclasses
(:func:`add_config_flags`: type, choices and help from the field, as ``dashsim train`` derives
them) or declared once with their two defaults (:func:`mode_flag`). Each such flag holds a
:class:`ModeDefault` until :func:`parse_args` replaces it by the full-mode value, or by the
``--quick`` value, so a default is written in one place: the dataclass field or the flag.

Runs. :func:`add_executor_flags` adds ``--executor``, ``--workers`` and ``--address``, and
:func:`make_runner` turns them into an object with ``map(fn, items)`` (ordered results): the
executor of :func:`dashsim.sweep.make_executor` (``local``: in this process; ``processes``: local
worker processes; ``ray``: a local Ray instance or the cluster at ``--address``). Every script maps
its runs through the runner (the simulator's sweeps through
:func:`dashsim.sim.settings.run_sweep`'s ``executor``), so an executor plugs into all of them here;
:func:`write_table` closes it when the script is done. The torch scripts' runs are run folders
(:func:`run_dir`), whose rows are read back with :func:`dashsim.sweep.collect` once the runner
has run them (:func:`dashsim.nn.figures.run_all`).
"""

from __future__ import annotations

import argparse
import dataclasses
import atexit
import hashlib
import json
import textwrap
import time
import typing
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from ._config import _flag, add_progress_flag, field_help, plain_text, type_keywords
from .sweep.executors import EXECUTORS, LocalExecutor, make_executor

__all__ = ["ModeDefault", "mode_flag", "add_config_flags", "parse_args", "add_executor_flags", "make_runner",
           "LocalRunner", "close_runner", "run_dir", "write_table", "read_table", "render_table", "wrapped",
           "fitted", "fit_title",
           "EXECUTORS"]

LocalRunner = LocalExecutor  # the runner of ``--executor local``: ``map(fn, items) = [fn(x) for x in items]``


@dataclasses.dataclass(frozen=True)
class ModeDefault:
    """A flag's default in full mode and with ``--quick``; :func:`parse_args` replaces it by one of them."""

    full: Any  # the value of a full (paper-sized) run
    quick: Any  # the value with --quick (tiny runs for the tests)

    def shown(self) -> str:
        """``"full: X; quick: Y"`` (``"full: X"`` when both agree), for the flag's help."""
        text = f"full: {_shown(self.full)}"
        return text if self.quick == self.full else f"{text}; quick: {_shown(self.quick)}"


_SAME = object()


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) if isinstance(value, (list, tuple)) \
        else (f"{value:g}" if isinstance(value, float) else str(value))


def mode_flag(parser, *flags: str, full: Any, quick: Any = _SAME, help: str = "", **keywords: Any) -> None:
    """Add a script's own flag (``parser.add_argument(*flags, **keywords)``) defaulting to ``full`` / ``quick``.

    The help ends with both defaults, read from the values given here. ``quick`` defaults to ``full``.
    """
    default = ModeDefault(full, full if quick is _SAME else quick)
    parser.add_argument(*flags, default=default, help=f"{help} ({default.shown()})".strip(), **keywords)


def add_config_flags(parser, cls: type, names: Sequence[str], *, full: Optional[dict] = None,
                     quick: Optional[dict] = None, title: Optional[str] = None) -> None:
    """Add ``--<name>`` for the fields ``names`` of the dataclass ``cls``, typed and described by the field.

    Type, choices and help come from the field, as in :func:`dashsim._config.add_dataclass_arguments`
    (``dashsim train``'s flags): tuple fields take several values, booleans are ``--x/--no-x``.
    The full-mode default is ``full[name]`` if given, else the field's default; the quick default is
    ``quick[name]`` if given, else the full one. A script lists only what differs from the dataclass.

    Parameters
    ----------
    parser : the argument parser (or group) to add to.
    cls : a config dataclass (:class:`~dashsim.nn.TrainConfig`, a protocol plan, a method, ...).
    names : the fields that become flags, in order.
    full, quick : per field, the full-mode and the quick default where they differ from the field's.
    title : put the flags in an argument group of this title.
    """
    full, quick = dict(full or {}), dict(quick or {})
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [name for name in names if name not in fields]
    if unknown:
        raise ValueError(f"{cls.__qualname__} has no fields {unknown}; fields: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    helps = field_help(cls)
    group = parser.add_argument_group(title) if title else parser
    for name in names:
        f = fields[name]
        field_default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        full_value = full.get(name, field_default)
        default = ModeDefault(full_value, quick.get(name, full_value))
        tp = hints[name]
        keywords: dict[str, Any] = {"dest": name, "default": default,
                                    "help": f"{plain_text(helps.get(name, ''))} ({default.shown()})".strip()}
        choices = f.metadata.get("choices")
        if choices is not None:
            keywords["choices"] = tuple(choices() if callable(choices) else choices)
        keywords.update(type_keywords(tp))
        group.add_argument(_flag(name), **keywords)


def parse_args(doc: str, argv: Optional[Sequence[str]] = None,
               add_flags: Optional[Callable[[argparse.ArgumentParser], None]] = None, *,
               executor: bool = True, default_out: Optional[Path] = None) -> argparse.Namespace:
    """The arguments of a figure script: the shared flags, ``add_flags``' own, defaults resolved by mode.

    Shared flags: ``--quick`` (tiny settings: seconds, for the tests), ``--out`` (output folder; runs
    are cached under ``<out>/cache``), ``--replot`` (draw again from ``<out>/<name>.csv``, computing
    nothing), ``--progress/--no-progress`` and, with ``executor=True``, the executor flags
    (:func:`add_executor_flags`; ``args.runner`` is then :func:`make_runner`'s runner, checked before
    anything runs; :func:`write_table` closes it). Every :class:`ModeDefault` left after parsing
    becomes its quick or full value; list values become tuples. ``--out`` defaults to
    ``default_out`` (required when that is None).
    """
    parser = argparse.ArgumentParser(description=plain_text(doc), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny settings: seconds, for smoke tests")
    parser.add_argument("--out", type=Path, default=default_out,
                        help="output folder (runs are cached in <out>/cache)" + (f" (default: {default_out})"
                                                                                  if default_out else ""))
    parser.add_argument("--replot", action="store_true",
                        help="draw the figure again from <out>/<name>.csv without computing anything")
    add_progress_flag(parser)
    if executor:
        add_executor_flags(parser)
    if add_flags is not None:
        add_flags(parser)
    args = parser.parse_args(argv)
    if args.out is None:
        parser.error("--out is required: the folder to write the figure, its CSV and the run cache into")
    for name, value in vars(args).items():
        if isinstance(value, ModeDefault):
            value = value.quick if args.quick else value.full
        if isinstance(value, list):
            value = tuple(value)
        setattr(args, name, value)
    args.cache = args.out / "cache"
    if executor:
        try:
            args.runner = make_runner(args)
        except (ValueError, ConnectionError, ImportError) as error:
            parser.error(str(error))
        atexit.register(close_runner, args)  # also when the script stops early; write_table closes it too
    args.start = time.perf_counter()
    return args


def add_executor_flags(parser) -> None:
    """Add ``--executor``, ``--workers`` and ``--address``: where a script's runs are executed.

    ``local`` (the default) runs them one after another in this process; ``processes`` on
    ``--workers`` local worker processes; ``ray`` on a local Ray instance of ``--workers`` CPUs, or
    on the running cluster at ``--address`` (:func:`dashsim.sweep.make_executor`). The results do
    not depend on the executor.
    """
    group = parser.add_argument_group("where the runs execute")
    group.add_argument("--executor", choices=EXECUTORS, default="local",
                       help="local: in this process; processes: local worker processes; ray: a Ray instance "
                            "or cluster (default: local)")
    group.add_argument("--workers", type=int, default=None,
                       help="parallel runs (processes: default min(2, cores); ray: CPUs of a local instance, "
                            "default all)")
    group.add_argument("--address", default=None,
                       help="address of a running Ray cluster (ray only; default: start a local instance)")


def make_runner(args: argparse.Namespace):
    """The runner the executor flags ask for: :func:`dashsim.sweep.make_executor`'s executor.

    An object with ``map(fn, items)`` returning the results in the order of ``items`` and
    ``close()``. ``local`` (``--workers`` and ``--address`` unset) runs in this process. Refused
    before anything runs: an unknown executor, ``--workers`` below 1, ``--workers`` with
    ``local``, ``--address`` without ``ray`` (ValueError naming the flag), an unreachable
    ``--address`` (ConnectionError), Ray not installed (ImportError).
    """
    executor = getattr(args, "executor", "local")
    workers, address = getattr(args, "workers", None), getattr(args, "address", None)
    if executor not in EXECUTORS:
        raise ValueError(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"--workers must be an integer >= 1, got {workers!r}")
    if executor == "local" and workers is not None:
        raise ValueError("--workers needs --executor processes or ray; the local executor runs in this process")
    if address is not None and executor != "ray":
        raise ValueError(f"--address (a Ray cluster) needs --executor ray, not {executor}")
    return make_executor(executor, workers=workers, address=address)


def close_runner(args: argparse.Namespace) -> None:
    """Stop the worker processes or the Ray instance of ``args.runner`` (if any); safe to call twice."""
    runner = getattr(args, "runner", None)
    if runner is not None and hasattr(runner, "close"):
        runner.close()


def run_dir(args: argparse.Namespace, name: str, config: dict) -> Path:
    """The cached run folder of one configuration: ``<out>/cache/<name>/<hash of config>``.

    The name is the first 12 hex digits of the SHA-1 of ``config`` as sorted JSON, so quick and full
    runs (or two sweep points) never share a folder, and running a script again resumes or reuses
    exactly the runs it needs.
    """
    digest = hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return args.cache / name / digest


def write_table(args: argparse.Namespace, name: str, table, figure) -> None:
    """Write ``<out>/<name>.csv`` (``table``: exactly the plotted numbers) and the figure as PNG and PDF.

    With ``--replot`` the CSV it was drawn from is left as it is. The script's runner (worker
    processes, a Ray instance started for it) is closed first: the computing is done.
    """
    close_runner(args)
    import matplotlib.pyplot as plt

    from .style import save_figure

    args.out.mkdir(parents=True, exist_ok=True)
    csv = args.out / f"{name}.csv"
    if not getattr(args, "replot", False):
        table.to_csv(csv, index=False)
    png, pdf = save_figure(figure, args.out / name)
    plt.close(figure)
    csv_note = f"from {csv.name} (kept as it was)" if getattr(args, "replot", False) else f"and {csv.name}"
    print(f"wrote {png}, {pdf.name} {csv_note} in {time.perf_counter() - args.start:.1f} s")


def read_table(args: argparse.Namespace, name: str):
    """``<out>/<name>.csv``, the numbers a figure was drawn from (for ``--replot``); a clear error if absent."""
    import pandas as pd

    csv = args.out / f"{name}.csv"
    if not csv.is_file():
        raise FileNotFoundError(f"--replot reads {csv}, which does not exist; run the script without --replot first")
    return pd.read_csv(csv)


def wrapped(title: str, width: int = 100) -> str:
    """``title`` broken into lines of at most ``width`` characters."""
    return "\n".join(textwrap.wrap(title, width))


def fitted(text: str, target, fontsize: float) -> str:
    """``text`` wrapped to the lines that fit the width of ``target`` (a figure, subfigure or axes) at ``fontsize``.

    A line holds about ``width in points / (0.6 * fontsize)`` characters (a sans-serif character is
    at most about 0.6 em wide on average), so a long setting line never runs off a narrow figure.
    """
    from matplotlib.figure import FigureBase

    root = target.get_figure(root=True) if isinstance(target, FigureBase) else target.figure.get_figure(root=True)
    points = target.bbox.width / root.dpi * 72
    return wrapped(text, max(20, int(points / (0.6 * fontsize))))


def fit_title(target, title: str, *, fontsize: float = 9.0) -> None:
    """Title a figure or subfigure (``suptitle``) or an axes (``set_title``), wrapped to its width (:func:`fitted`)."""
    from matplotlib.figure import FigureBase

    text = fitted(title, target, fontsize)
    if isinstance(target, FigureBase):
        target.suptitle(text, fontsize=fontsize)
    else:
        target.set_title(text, fontsize=fontsize)


def render_table(cells: list[list[str]], header: list[str], title: str, *, footer: Optional[str] = None):
    """A table of strings drawn as a matplotlib figure (for the scripts whose figure is a table)."""
    import matplotlib.pyplot as plt

    from .style import theme

    with theme():
        fig, ax = plt.subplots(figsize=(max(8.0, 1.3 * len(header)), 0.45 * len(cells) + 1.4))
        ax.axis("off")
        drawn = ax.table(cellText=cells, colLabels=header, loc="center", cellLoc="center")
        drawn.auto_set_font_size(False)
        drawn.set_fontsize(9)
        drawn.scale(1, 1.4)
        fit_title(fig, title, fontsize=10)  # the figure's width: the table spans it
        if footer:
            fig.text(0.5, 0.02, fitted(footer, fig, 8), ha="center", fontsize=8)
        fig.tight_layout(rect=(0, 0.05 if footer else 0, 1, 1))
    return fig
