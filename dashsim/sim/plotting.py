"""Figures of the paper's synthetic experiments, drawn from :func:`dashsim.sim.settings.summarize` tables.

Every function draws exactly the numbers of the table it is given (so the CSV written next to a
PNG is the plotted data), returns the :class:`matplotlib.figure.Figure`, and saves it when given
a path. Figures are built without pyplot, so no GUI backend is ever needed.

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

__all__ = ["PANELS", "METHOD_STYLE", "plot_figure3", "plot_sweep", "plotted_table"]

# (column prefix in the summary, panel title): the three panels of the paper's Figure 3.
PANELS = (
    ("test_accuracy", "test accuracy"),
    ("n_learned", r"number of learned features $|L^{(j)}|$"),
    ("n_nonzero", r"non-zero-gradient points $|N^{(j,0)}|$"),
)
# Colour-blind-safe and distinct in greyscale. Ideal coincides with cold in accuracy and learned
# features (Theorem 3.6), so it is drawn thicker and dotted on top to stay visible over cold.
METHOD_STYLE = {
    "cold": {"color": "#0072B2", "linestyle": "-", "linewidth": 1.8},
    "warm": {"color": "#D55E00", "linestyle": "--", "linewidth": 1.8},
    "ideal": {"color": "#009E73", "linestyle": (0, (1, 1.2)), "linewidth": 2.8},
}


def plotted_table(summary: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """The columns of ``summary`` that the plots draw: write this as the figure's CSV.

    ``*by, method, experiment, n_seeds`` (what each band averages over) and the mean and std of
    each panel's quantity; rows in the summary's order.
    """
    _check_summary(summary, extra=by)
    columns = [*by, "method", "experiment", "n_seeds"] + [f"{q}_{s}" for q, _ in PANELS for s in ("mean", "std")]
    return summary[[c for c in columns if c in summary.columns]].reset_index(drop=True)


def _check_summary(summary: pd.DataFrame, extra: Sequence[str] = ()) -> None:
    needed = ["method", "experiment", *extra] + [f"{q}_{s}" for q, _ in PANELS for s in ("mean", "std")]
    missing = [c for c in needed if c not in summary.columns]
    if missing:
        raise ValueError(f"summary: missing columns {missing} (expected the output of dashsim.sim.settings.summarize)")
    if len(summary) == 0:
        raise ValueError("summary: is empty")


def _draw_panels(axes, summary: pd.DataFrame, *, legend: bool) -> None:
    for ax, (q, title) in zip(axes, PANELS):
        for k, (method, rows) in enumerate(summary.groupby("method", sort=False)):
            style = METHOD_STYLE.get(method, {"color": f"C{k + 3}", "linestyle": "-.", "linewidth": 1.8})
            x = rows["experiment"].to_numpy()
            mean = rows[f"{q}_mean"].to_numpy(dtype=float)
            std = rows[f"{q}_std"].to_numpy(dtype=float)
            ax.plot(x, mean, label=method, **style)
            ax.fill_between(x, mean - std, mean + std, color=style["color"], alpha=0.2, linewidth=0)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("experiment j")
        ax.grid(alpha=0.3)
    if legend:
        # Outside the panels, so no curve is ever hidden however many methods there are.
        handles, labels = axes[0].get_legend_handles_labels()
        axes[0].figure.legend(handles, labels, loc="outside right upper", frameon=False)


def _save(fig: Figure, path: str | os.PathLike | None) -> Figure:
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def plot_figure3(summary: pd.DataFrame, path: str | os.PathLike | None = None, *, title: str | None = None) -> Figure:
    """The paper's Figure 3: three panels of mean +- std over seeds against experiment j.

    Panels: test accuracy ACC(L^(j)), number of learned features |L^(j)|, and non-zero-gradient
    points |N^(j,0)|; one line (mean) and band (mean +- std) per method.

    Parameters
    ----------
    summary : pandas.DataFrame
        Output of :func:`dashsim.sim.settings.summarize` for one setting.
    path : path or None
        Where to save the PNG; None only returns the figure.
    title : str or None
        Figure title (e.g. the setting).

    Returns
    -------
    matplotlib.figure.Figure

    References
    ----------
    Shin et al., NeurIPS 2024, Figure 3.
    """
    _check_summary(summary)
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    axes = fig.subplots(1, len(PANELS))
    _draw_panels(axes, summary, legend=True)
    if title:
        fig.suptitle(title, fontsize=11)
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
        Output of ``summarize(df, by=[param])``.
    param : str
        The swept column, e.g. ``"C"``, ``"gamma"``, ``"tau"``.
    path : path or None
        Where to save the PNG; None only returns the figure.
    title : str or None
        Figure title (say the swept values and the fixed ones).

    Returns
    -------
    matplotlib.figure.Figure

    References
    ----------
    Shin et al., NeurIPS 2024, Appendix E, Figures 9-11.
    """
    _check_summary(summary, extra=[param])
    values = np.sort(pd.unique(summary[param]))
    fig = Figure(figsize=(13, 2.9 * len(values) + 0.6), layout="constrained")
    axes = np.asarray(fig.subplots(len(values), len(PANELS), squeeze=False))
    for r, value in enumerate(values):
        _draw_panels(axes[r], summary[summary[param] == value], legend=(r == 0))
        label = f"{value:g}" if isinstance(value, (float, np.floating)) else f"{value}"
        axes[r, 0].set_ylabel(f"{param} = {label}")
    if title:
        fig.suptitle(title, fontsize=11)
    return _save(fig, path)
