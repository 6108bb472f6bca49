"""Figures of the bridge experiment: the network's and the simulator's quantities side by side.

Each plot function takes the rows of the run (or the summary written as the figure's CSV), draws
the mean over seeds with a +- one standard deviation band in the project's style
(:mod:`dashsim.style`: seaborn, one colour and line style per method; in the sweep figure, where
both sides share a panel, the network is solid and the simulator dashed) and returns a
:class:`matplotlib.figure.Figure` built without pyplot.

References
----------
Shin, Oh, Cho, Yun, "DASH: Warm-Starting Neural Network Training in Stationary Settings without
Loss of Plasticity", NeurIPS 2024, Figure 3 (the simulator's panels this mirrors).
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dashsim import style
from dashsim.sim.plotting import PANELS
from dashsim.stats import seed_stats

__all__ = ["QUANTITIES", "SWEEP_QUANTITIES", "bridge_curves", "plot_bridge", "sweep_table", "plot_bridge_sweep"]

# (column, panel title) of the per-experiment panels; the same quantity on both sides: the
# simulator figure's panels (Figure 3) plus the memorized points the bridge can also measure.
QUANTITIES = (
    *PANELS,
    ("n_memorized", r"memorized points $|M^{(j)}|$"),
)
AGREEMENT = (("jaccard", "network vs paired simulator\n(Jaccard of learned sets)"),
             ("jaccard_cold", "network vs simulator cold\n(Jaccard of learned sets)"))
# (column, panel title) of the sweep panels: the last experiment, and the summed |N^(j,0)|.
SWEEP_QUANTITIES = (
    ("test_accuracy", "final test accuracy"),
    ("n_learned", r"final learned features $|L^{(J)}|$"),
    ("training_time", r"$\sum_j |N^{(j,0)}|$ (training-time proxy)"),
    ("jaccard", "final Jaccard, network vs paired simulator"),
)
# Where both sides share a panel (the sweep figure), a curve keeps its method's colour and takes its side's line style.
_SIDE_STYLE = {"network": {"linestyle": "-", "linewidth": 1.8}, "simulator": {"linestyle": "--", "linewidth": 1.8}}


def _with_capped(summary: pd.DataFrame, frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """:func:`dashsim.style.with_capped_counts` of the network's rows (the simulator has no epoch cap)."""
    if "converged" in frame.columns:
        frame = frame.assign(converged=frame["converged"].where(frame["side"] == "network", True))
    return style.with_capped_counts(summary, frame, keys)


def _need(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {missing}")
    if len(frame) == 0:
        raise ValueError(f"{what}: is empty")


def bridge_curves(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of every plotted quantity per (side, method, experiment): the figure's CSV.

    Parameters
    ----------
    frame : rows of :func:`dashsim.bridge.run_bridge`.

    Returns
    -------
    DataFrame with side, method, experiment, n_seeds, ``<q>_mean``/``<q>_std`` for the quantities
    of :data:`QUANTITIES` and the agreement columns ``jaccard`` and ``jaccard_cold``, and (when the
    rows have ``converged``) ``n_capped``: the seeds whose network experiment stopped at the epoch cap
    (0 on the simulator side).
    """
    quantities = [q for q, _ in QUANTITIES + AGREEMENT]
    keys = ["side", "method", "experiment"]
    _need(frame, ["seed", *keys, *quantities], "bridge_curves")
    return _with_capped(seed_stats(frame, keys, quantities), frame, keys)


def plot_bridge(curves: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Two rows (network, simulator) of the per-experiment quantities, plus the learned-set agreement.

    Row 1: the network's test accuracy, learned features, non-zero-gradient points at the start of
    each experiment, memorized points, and the Jaccard agreement of its learned set with the paired
    simulator method (cold-cold, warm-warm, dash-ideal). Row 2: the simulator's same quantities and
    the agreement of every network method's learned set with the simulator's cold set. Mean +- std
    over seeds (seaborn's ``errorbar="sd"``); each column shares its y axis so the two sides compare
    at a glance. Network experiments that stopped at the epoch cap are circled
    (:func:`dashsim.style.mark_capped`; needs ``converged`` in the rows or ``n_capped`` in the summary).

    Parameters
    ----------
    curves : rows of :func:`dashsim.bridge.run_bridge`, or their :func:`bridge_curves` (the figure's CSV).
    title : figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    quantities = [q for q, _ in QUANTITIES + AGREEMENT]
    _need(curves, ["side", "method", "experiment"], "plot_bridge")
    rows = style.seed_rows(curves, quantities)
    with style.theme():
        fig = Figure(figsize=(3.4 * (len(QUANTITIES) + 1), 6.4), layout="constrained")
        axes = fig.subplots(2, len(QUANTITIES) + 1, squeeze=False)
        for row, side in enumerate(("network", "simulator")):
            part = rows[rows.side == side]
            methods = list(pd.unique(part.method))
            for col, (q, name) in enumerate(QUANTITIES):
                ax = axes[row, col]
                style.seed_lineplot(ax, part, "experiment", q, order=methods)
                if side == "network" and ({"converged", "n_capped"} & set(part.columns)):
                    style.mark_capped(ax, part, "experiment", q, order=methods)
                ax.set(title=f"{side}: {name}", xlabel="experiment j", ylabel="")
                if col > 0:
                    ax.get_legend().remove()
        for col in range(len(QUANTITIES)):  # each column shares its y range, so the sides compare at a glance
            low = min(axes[r, col].get_ylim()[0] for r in range(2))
            high = max(axes[r, col].get_ylim()[1] for r in range(2))
            for r in range(2):
                axes[r, col].set_ylim(low, high)
        network = rows[rows.side == "network"]
        for row, (q, name) in enumerate(AGREEMENT):
            ax = axes[row, -1]
            methods = [m for m in pd.unique(network.method) if network.loc[network.method == m, q].notna().any()]
            style.seed_lineplot(ax, network, "experiment", q, order=methods)
            if {"converged", "n_capped"} & set(network.columns):
                style.mark_capped(ax, network[network.method.isin(methods)], "experiment", q, order=methods)
            ax.set(title=name, xlabel="experiment j", ylabel="", ylim=(-0.02, 1.02))
        for ax in axes.ravel():
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if title:
            fig.suptitle(title)
    return fig


def sweep_table(frame: pd.DataFrame, param: str) -> pd.DataFrame:
    """Per (``param`` value, side, method): mean and std over seeds of the sweep quantities.

    Per seed: the last experiment's test accuracy, learned features and Jaccard, and the training
    time proxy ``T = sum_j |N^(j,0)|`` (paper Section 3.2); then mean and std over seeds, and
    ``n_capped``: the network experiments (all j and seeds) that stopped at the epoch cap.

    Parameters
    ----------
    frame : rows of :func:`dashsim.bridge.run_bridge_sweep` (a ``param`` column first).
    param : the swept field.

    Returns
    -------
    DataFrame with param, side, method, n_seeds, ``<q>_mean``/``<q>_std`` for :data:`SWEEP_QUANTITIES`
    and (when the rows have ``converged``) ``n_capped``.
    """
    _need(frame, [param, "side", "method", "seed", "experiment", "test_accuracy", "n_learned", "n_nonzero", "jaccard"],
          "sweep_table")
    keys = [param, "side", "method"]
    ordered = frame.sort_values("experiment")
    per_seed = ordered.groupby(keys + ["seed"], sort=False).agg(
        test_accuracy=("test_accuracy", "last"), n_learned=("n_learned", "last"),
        training_time=("n_nonzero", "sum"), jaccard=("jaccard", "last"))
    out = seed_stats(per_seed.reset_index(), keys, [q for q, _ in SWEEP_QUANTITIES])
    out = _with_capped(out, frame, keys)
    return out.sort_values([param, "side", "method"], kind="stable").reset_index(drop=True)


def plot_bridge_sweep(tables: dict[str, pd.DataFrame], *, labels: dict[str, str] | None = None,
                      title: str | None = None) -> Figure:
    """One row per sweep: the sweep quantities against the swept value, network solid, simulator dashed.

    A network point whose runs had an experiment stop at the epoch cap (``n_capped > 0``) is circled.

    Parameters
    ----------
    tables : ``{param: sweep_table(frame, param)}``, one row of panels each, in order.
    labels : x-axis label per param (default: the param's name).
    title : figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not tables:
        raise ValueError("plot_bridge_sweep: tables is empty")
    labels = labels or {}
    quantities = [q for q, _ in SWEEP_QUANTITIES]
    with style.theme():
        fig = Figure(figsize=(3.6 * len(SWEEP_QUANTITIES), 3.2 * len(tables)), layout="constrained")
        axes = fig.subplots(len(tables), len(SWEEP_QUANTITIES), squeeze=False)
        for row, (param, table) in enumerate(tables.items()):
            _need(table, [param, "side", "method"], "plot_bridge_sweep")
            rows = style.seed_rows(table, quantities).astype({param: float})
            rows = rows.assign(curve=rows.side + " " + rows.method)
            curves = list(pd.unique(rows.curve))
            for col, (q, name) in enumerate(SWEEP_QUANTITIES):
                ax = axes[row, col]
                drawn = [c for c in curves if rows.loc[rows.curve == c, q].notna().any()]
                # A curve has its method's colour and its side's line style; dots mark the swept values.
                owner = dict(zip(rows.curve, zip(rows.side, rows.method)))
                styles = {c: {**_SIDE_STYLE[owner[c][0]], "color": style.method_style(owner[c][1])["color"]}
                          for c in drawn}
                style.seed_lineplot(ax, rows, param, q, hue="curve", order=drawn, styles=styles, marker="o",
                                    markersize=3)
                if "n_capped" in rows.columns:
                    style.mark_capped(ax, rows, param, q, hue="curve", order=drawn, styles=styles,
                                      label="some experiment stopped at the epoch cap")
                ax.set(title=name, xlabel=labels.get(param, param), ylabel="")
                if col > 0:
                    ax.get_legend().remove()
        if title:
            fig.suptitle(title)
    return fig
