"""Figure 1 layout of the DASH paper: test accuracy and training steps per experiment, one line per method.

Drawn in the project's style (:mod:`dashsim.style`: seaborn's mean +- std over seeds, one colour and
line style per method), with every experiment that some seed ended at the epoch cap marked.

References
----------
Shin et al., "DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss of
Plasticity", NeurIPS 2024, Figure 1.
"""

from __future__ import annotations

import pandas as pd

from .. import style
from ..stats import seed_stats

__all__ = ["plot_incremental", "incremental_curves"]

_PANELS = (("test_accuracy", 100.0, "test accuracy (%)"), ("steps", 1.0, "optimizer steps"))


def incremental_curves(metrics: pd.DataFrame) -> pd.DataFrame:
    """The plotted numbers: mean and std over seeds of test accuracy and steps per (method, experiment).

    ``<q>_mean`` and ``<q>_std`` are :func:`dashsim.stats.seed_stats` (sample std, ddof = 1);
    ``n_capped`` counts the seeds whose experiment stopped at the epoch cap (``converged == False``),
    when the rows record it.

    Parameters
    ----------
    metrics : rows as returned by :func:`dashsim.nn.protocols.run_incremental` (runs may be concatenated).

    Returns
    -------
    pandas.DataFrame with columns method, experiment, test_accuracy_mean/std, steps_mean/std, n_seeds
    (and n_capped).
    """
    missing = {"method", "experiment", "seed", "test_accuracy", "steps"} - set(metrics.columns)
    if missing:
        raise ValueError(f"metrics lacks columns {sorted(missing)}")
    out = seed_stats(metrics, ["method", "experiment"], ["test_accuracy", "steps"])
    columns = ["method", "experiment", "test_accuracy_mean", "test_accuracy_std", "steps_mean", "steps_std", "n_seeds"]
    if "converged" in metrics.columns:
        out = out.merge(style.capped_counts(metrics, ["method", "experiment"]), on=["method", "experiment"])
        columns.append("n_capped")
    return out.sort_values(["method", "experiment"], kind="stable", ignore_index=True)[columns]


def plot_incremental(metrics: pd.DataFrame, *, title: str | None = None, methods: list[str] | None = None, axes=None,
                     xlabel: str = "experiment j", colours: dict[str, str] | None = None,
                     linestyles: dict[str, str] | None = None):
    """Two panels side by side: test accuracy (%) and optimizer steps vs experiment j, mean +- std over seeds.

    Per method and experiment j: ``mean_s q_s^(j)`` with a band of one sample standard deviation
    (:func:`dashsim.style.seed_lineplot`), and an open circle where some seed's experiment stopped
    at the epoch cap (:func:`dashsim.style.mark_capped`, when the rows have ``converged``).

    Parameters
    ----------
    metrics : rows of one or more runs (columns method, seed, experiment, test_accuracy, steps, and
        converged), or their :func:`incremental_curves` (e.g. a figure's CSV).
    title : figure title (e.g. data set and model).
    methods : methods to draw, in legend order (default: all, sorted).
    axes : the (accuracy, steps) pair of axes to draw into (e.g. one row of a larger grid; the caller
        then lays the figure out); default: a new figure of its own.
    xlabel : label of both x axes (e.g. "round r" for the class-incremental protocol).
    colours : colour per method, overriding the project's (:data:`dashsim.style.METHOD_STYLES`).
    linestyles : line style per method, overriding the project's.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    quantities = [q for q, _, _ in _PANELS]
    rows = style.seed_rows(metrics, quantities)
    if not {"method", "experiment"} <= set(rows.columns):
        raise ValueError(f"metrics lacks columns {sorted({'method', 'experiment'} - set(rows.columns))}")
    methods = methods or sorted(rows["method"].unique())
    overrides = {name: {**({"color": colours[name]} if name in (colours or {}) else {}),
                        **({"linestyle": linestyles[name]} if name in (linestyles or {}) else {})}
                 for name in methods}
    capped = "converged" in metrics.columns or "n_capped" in metrics.columns
    with style.theme():
        if axes is None:
            fig, (ax_acc, ax_steps) = plt.subplots(1, 2, figsize=(9, 3.4))
        else:
            ax_acc, ax_steps = axes
            fig = ax_acc.figure
        for ax, (q, scale, ylabel) in zip((ax_acc, ax_steps), _PANELS):
            style.seed_lineplot(ax, rows, "experiment", q, order=methods, styles=overrides, scale=scale)
            if capped:
                style.mark_capped(ax, metrics, "experiment", q, order=methods, styles=overrides, scale=scale)
            ax.set(xlabel=xlabel, ylabel=ylabel)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_steps.get_legend().remove()
        ax_acc.legend()
        if title:
            fig.suptitle(title)
        if axes is None:
            fig.tight_layout()
    return fig
