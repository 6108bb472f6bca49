"""Figure 1 layout of the DASH paper: test accuracy and training steps per experiment, one line per method.

References
----------
Shin et al., "DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss of
Plasticity", NeurIPS 2024, Figure 1.
"""

from __future__ import annotations

import pandas as pd

from ..stats import seed_stats

__all__ = ["plot_incremental", "incremental_curves"]

# The paper's Figure 1 colours per method, so figures read alike across runs.
_COLOURS = {"cold": "tab:blue", "warm": "tab:orange", "sp": "tab:green", "dash": "tab:red"}


def incremental_curves(metrics: pd.DataFrame) -> pd.DataFrame:
    """The plotted numbers: mean and std over seeds of test accuracy and steps per (method, experiment).

    Parameters
    ----------
    metrics : rows as returned by :func:`dashsim.nn.protocols.run_incremental` (runs may be concatenated).

    Returns
    -------
    pandas.DataFrame with columns method, experiment, test_accuracy_mean/std, steps_mean/std, n_seeds.
    """
    missing = {"method", "experiment", "seed", "test_accuracy", "steps"} - set(metrics.columns)
    if missing:
        raise ValueError(f"metrics lacks columns {sorted(missing)}")
    out = seed_stats(metrics, ["method", "experiment"], ["test_accuracy", "steps"])
    out = out.sort_values(["method", "experiment"], kind="stable", ignore_index=True)
    return out[["method", "experiment", "test_accuracy_mean", "test_accuracy_std", "steps_mean", "steps_std", "n_seeds"]]


def plot_incremental(metrics: pd.DataFrame, *, title: str | None = None, methods: list[str] | None = None, axes=None,
                     xlabel: str = "experiment j", colours: dict[str, str] | None = None,
                     linestyles: dict[str, str] | None = None):
    """Two panels side by side: test accuracy (%) and optimizer steps vs experiment j, mean +- std over seeds.

    Parameters
    ----------
    metrics : rows of one or more runs (columns method, seed, experiment, test_accuracy, steps).
    title : figure title (e.g. data set and model).
    methods : methods to draw, in legend order (default: all, sorted).
    axes : the (accuracy, steps) pair of axes to draw into (e.g. one row of a larger grid; the caller
        then lays the figure out); default: a new figure of its own.
    xlabel : label of both x axes (e.g. "round r" for the class-incremental protocol).
    colours : colour per method (default: the paper's Figure 1 colours, then ``C<position>``).
    linestyles : line style per method (default: solid).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    curves = incremental_curves(metrics)
    methods = methods or sorted(curves["method"].unique())
    if axes is None:
        fig, (ax_acc, ax_steps) = plt.subplots(1, 2, figsize=(10, 3.8))
    else:
        ax_acc, ax_steps = axes
        fig = ax_acc.figure
    for position, name in enumerate(methods):
        c = curves[curves["method"] == name]
        if c.empty:
            raise ValueError(f"method {name!r} has no rows; present: {sorted(curves['method'].unique())}")
        colour = (colours or _COLOURS).get(name, f"C{position}")
        style = (linestyles or {}).get(name, "-")
        for ax, col, scale in ((ax_acc, "test_accuracy", 100.0), (ax_steps, "steps", 1.0)):
            mean, std = c[f"{col}_mean"] * scale, c[f"{col}_std"].fillna(0.0) * scale
            ax.plot(c["experiment"], mean, linestyle=style, label=name, color=colour)
            ax.fill_between(c["experiment"], mean - std, mean + std, alpha=0.2, color=colour, linewidth=0)
    ax_acc.set(xlabel=xlabel, ylabel="test accuracy (%)")
    ax_steps.set(xlabel=xlabel, ylabel="optimizer steps")
    for ax in (ax_acc, ax_steps):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_acc.legend()
    if title:
        fig.suptitle(title)
    if axes is None:
        fig.tight_layout()
    return fig
