"""The simulator's paper-figure machinery: flags from :class:`~dashsim.sim.settings.PaperSetting`, Figures 9-11.

Built on :mod:`dashsim.figures`. A simulator figure's flags are the fields of
:class:`~dashsim.sim.settings.PaperSetting` (the paper's Section 3.3 setting), so a setting the
script does not change keeps the library's default; runs are cached under ``<out>/cache`` by
:func:`dashsim.sim.settings.run_setting` / :func:`~dashsim.sim.settings.run_sweep`. The work is
split over the script's executor (``--executor``, ``--workers``, ``--address``;
:func:`dashsim.figures.make_runner`): Figure 3's seeds (:func:`run_seeds`), Figures 9-11's swept
values (``run_sweep(..., executor=...)``); the numbers do not depend on the executor.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from ..figures import add_config_flags, parse_args, read_table, write_table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SETTING_FLAGS", "add_setting_flags", "setting_from_args", "setting_title", "run_seeds", "sweep_figure"]

# The PaperSetting fields a simulator figure takes as flags.
SETTING_FLAGS = ("C", "K", "n_per_chunk", "J", "gamma", "tau", "seeds")


def add_setting_flags(parser, *, quick: Optional[dict] = None, skip: Sequence[str] = ()) -> None:
    """``--C --K --n-per-chunk --J --gamma --tau --seeds`` (less ``skip``) from :class:`PaperSetting`'s fields.

    Full-mode defaults are the paper's (the fields' defaults); ``quick`` holds the quick ones that differ.
    """
    from .settings import PaperSetting

    add_config_flags(parser, PaperSetting, [n for n in SETTING_FLAGS if n not in skip], quick=quick,
                     title="setting (PaperSetting fields)")


def setting_from_args(args: argparse.Namespace):
    """The :class:`PaperSetting` with the flags' values (fields without a flag keep their defaults)."""
    from .settings import PaperSetting

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(PaperSetting) if hasattr(args, f.name)}
    return PaperSetting(**given)


def setting_title(setting, *, skip: Sequence[str] = ()) -> str:
    """``C=2, K=50, n=1000, J=50, gamma=50, tau=3`` (less ``skip``), for titles."""
    shown = {"C": setting.C, "K": setting.K, "n": setting.n_per_chunk, "J": setting.J, "gamma": f"{setting.gamma:g}",
             "tau": setting.tau}
    return ", ".join(f"{k}={v}" for k, v in shown.items() if k not in skip)


def _run_one_seed(item: tuple) -> "pd.DataFrame":
    """:func:`~dashsim.sim.settings.run_setting` of a one-seed setting without progress bars (an executor's item)."""
    from .settings import run_setting

    setting, cache_dir = item
    return run_setting(setting, progress=False, cache_dir=cache_dir)


def run_seeds(setting, runner, *, cache_dir=None, progress: bool = True) -> "pd.DataFrame":
    """:func:`~dashsim.sim.settings.run_setting` of ``setting``, one seed per item of ``runner.map``.

    Seeds are independent and share one cache folder (:func:`~dashsim.sim.settings.run_key` leaves
    them out), so the rows equal ``run_setting(setting, cache_dir=cache_dir)``'s on any executor, and
    a seed cached by either is reused by both. A :class:`~dashsim.sweep.LocalExecutor` runs the seeds
    here, with a progress bar.
    """
    import pandas as pd

    from .._progress import progress_bar
    from ..sweep import LocalExecutor

    items = [(dataclasses.replace(setting, seeds=(seed,)), cache_dir) for seed in setting.seeds]
    if isinstance(runner, LocalExecutor):
        frames = [_run_one_seed(item) for item in progress_bar(items, desc="seeds", unit="seed",
                                                                disable=not progress, leave=False)]
    else:
        frames = runner.map(_run_one_seed, items)
    return pd.concat(frames, ignore_index=True)


def sweep_figure(name: str, param: str, values: Sequence, doc: str, argv=None, *,
                 default_out: Optional[Path] = None) -> None:
    """Compute (cached) and plot Figure 3's quantities for each ``param`` value: ``<name>.csv``, PNG and PDF.

    Full: the paper's setting with ``param`` swept, seeds 0-9. Quick: seeds 0-1 and J = 10. With
    ``--replot`` the figure is drawn from ``<out>/<name>.csv``. The swept values are split over the
    script's executor (``--executor``; one value per item).
    """
    from .plotting import plot_sweep, plotted_table
    from .settings import run_sweep, summarize

    args = parse_args(doc, argv, lambda p: add_setting_flags(p, quick={"seeds": (0, 1), "J": 10}, skip=(param,)),
                      default_out=default_out)
    base = setting_from_args(args)
    if args.replot:
        summary = read_table(args, name)
    else:
        from ..sweep import LocalExecutor

        executor = None if isinstance(args.runner, LocalExecutor) else args.runner  # local: with progress bars
        df = run_sweep(base, param, values, progress=args.progress, cache_dir=args.cache, executor=executor)
        summary = plotted_table(summarize(df, by=[param]), [param])
    fixed = "K" if param == "K" else ("n" if param == "n_per_chunk" else param)
    title = (f"Figure {name.removeprefix('figure')}: {param} in {{{', '.join(f'{v:g}' for v in values)}}}; "
             + setting_title(base, skip=(fixed,))
             + f"; mean $\\pm$ std over {len(base.seeds)} seeds" + (" (quick)" if args.quick else ""))
    write_table(args, name, summary, plot_sweep(summary, param, title=title))
