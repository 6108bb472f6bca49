"""Figures of the paper's synthetic experiments, from :func:`dashsim.sim.settings.run_setting` rows.

Every function takes the per-seed rows (or their summary, :func:`dashsim.sim.settings.summarize`,
e.g. a figure's committed CSV), draws the mean over seeds with a +- one standard deviation band in
the project's style (:mod:`dashsim.style`: seaborn, one colour and line style per method), returns
the :class:`matplotlib.figure.Figure` and, given a path, saves it as PNG and PDF. Figures are built
without pyplot, so no GUI backend is ever needed.

References
----------
Shin, Oh, Cho, Yun, "DASH: Warm-Starting Neural Network Training in Stationary Settings without
Loss of Plasticity", NeurIPS 2024, Figure 3 and Appendix E (Figures 9-11).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .. import style

__all__ = ["PANELS", "plot_figure3", "plot_sweep", "plotted_table"]

# (quantity, panel title): the three panels of the paper's Figure 3.
PANELS = (
    ("test_accuracy", "test accuracy"),
    ("n_learned", r"number of learned features $|L^{(j)}|$"),
    ("n_nonzero", r"non-zero-gradient points $|N^{(j,0)}|$"),
)
_QUANTITIES = [q for q, _ in PANELS]


def plotted_table(summary: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """The columns of ``summary`` that the plots draw: write this as the figure's CSV.

    ``*by, method, experiment, n_seeds`` (what each band averages over) and the mean and std of
    each panel's quantity; rows in the summary's order.
    """
    _check(summary, extra=by, summary=True)
    columns = [*by, "method", "experiment", "n_seeds"] + [f"{q}_{s}" for q in _QUANTITIES for s in ("mean", "std")]
    return summary[[c for c in columns if c in summary.columns]].reset_index(drop=True)


def _check(frame: pd.DataFrame, extra: Sequence[str] = (), summary: bool = False) -> None:
    """Rows (a column per quantity) or a summary (their mean and std), with ``method``, ``experiment``, ``extra``."""
    stats = [f"{q}_{s}" for q in _QUANTITIES for s in ("mean", "std")]
    rows_ok = not summary and all(q in frame.columns for q in _QUANTITIES)
    needed = ["method", "experiment", *extra] + ([] if rows_ok else stats)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        expected = "the output of dashsim.sim.settings.summarize" if summary else \
            "rows of dashsim.sim.settings.run_setting or their summarize"
        raise ValueError(f"summary: missing columns {missing} (expected {expected})")
    if len(frame) == 0:
        raise ValueError("summary: is empty")


def _draw_panels(axes, frame: pd.DataFrame, *, legend: bool) -> None:
    rows = style.seed_rows(frame, _QUANTITIES)
    for ax, (q, title) in zip(axes, PANELS):
        style.seed_lineplot(ax, rows, "experiment", q)
        ax.set(title=title, xlabel="experiment j", ylabel="")
        ax.get_legend().remove()
    if legend:
        # Outside the panels, so no curve is ever hidden however many methods there are.
        handles, labels = axes[0].get_legend_handles_labels()
        axes[0].figure.legend(handles, labels, loc="outside right upper")


def _save(fig: Figure, path: str | os.PathLike | None) -> Figure:
    if path is not None:
        style.save_figure(fig, path)
    return fig


def plot_figure3(summary: pd.DataFrame, path: str | os.PathLike | None = None, *, title: str | None = None) -> Figure:
    """The paper's Figure 3: three panels of mean +- std over seeds against experiment j.

    Panels: test accuracy ACC(L^(j)), number of learned features |L^(j)|, and non-zero-gradient
    points |N^(j,0)|; per method, the mean over seeds s of each quantity q_s^(j) and a band of one
    sample standard deviation (ddof = 1, the CSV's ``<q>_std``).

    Parameters
    ----------
    summary : pandas.DataFrame
        Rows of :func:`dashsim.sim.settings.run_setting` for one setting, or their
        :func:`~dashsim.sim.settings.summarize` (e.g. the figure's CSV).
    path : path or None
        Where to save the figure (``<path>.png`` and ``<path>.pdf``); None only returns it.
    title : str or None
        Figure title (e.g. the setting).

    Returns
    -------
    matplotlib.figure.Figure

    References
    ----------
    Shin et al., NeurIPS 2024, Figure 3.
    """
    _check(summary)
    with style.theme():
        fig = Figure(figsize=(11, 3.2), layout="constrained")
        axes = fig.subplots(1, len(PANELS))
        _draw_panels(axes, summary, legend=True)
        if title:
            fig.suptitle(title)
    return _save(fig, path)


def plot_sweep(
    summary: pd.DataFrame, param: str, path: str | os.PathLike | None = None, *, title: str | None = None
) -> Figure:
    """Figure 3's panels once per value of a swept parameter (the paper's Figures 9-11).

    Row r holds the three panels for ``param = values[r]`` (values ascending), same methods
    and bands as :func:`plot_figure3`.

    Parameters
    ----------
    summary : pandas.DataFrame
        Rows of :func:`dashsim.sim.settings.run_sweep`, or ``summarize(rows, by=[param])``.
    param : str
        The swept column, e.g. ``"C"``, ``"gamma"``, ``"tau"``.
    path : path or None
        Where to save the figure (``<path>.png`` and ``<path>.pdf``); None only returns it.
    title : str or None
        Figure title (say the swept values and the fixed ones).

    Returns
    -------
    matplotlib.figure.Figure

    References
    ----------
    Shin et al., NeurIPS 2024, Appendix E, Figures 9-11.
    """
    _check(summary, extra=[param])
    values = np.sort(pd.unique(summary[param]))
    with style.theme():
        fig = Figure(figsize=(11, 2.6 * len(values) + 0.6), layout="constrained")
        axes = np.asarray(fig.subplots(len(values), len(PANELS), squeeze=False))
        for r, value in enumerate(values):
            _draw_panels(axes[r], summary[summary[param] == value], legend=(r == 0))
            label = f"{value:g}" if isinstance(value, (float, np.floating)) else f"{value}"
            axes[r, 0].set_ylabel(f"{param} = {label}")
        if title:
            fig.suptitle(title)
    return _save(fig, path)
