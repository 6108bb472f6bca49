"""dashsim.sim.plotting: Figure 3 and the sweep figures draw exactly the numbers of the summary they are given."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from dashsim.sim.plotting import PANELS, plot_figure3, plot_sweep, plotted_table
from dashsim.sim.settings import PaperSetting, run_setting, run_sweep, summarize

TINY = PaperSetting(C=2, K=8, n_per_chunk=20, J=5, gamma=3.0, tau=2, seeds=(0, 1, 2))
PLOTTED_COLUMNS = ["method", "experiment", "n_seeds"] + [f"{q}_{s}" for q in ("test_accuracy", "n_learned", "n_nonzero")
                                                         for s in ("mean", "std")]


def _lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_figure3_draws_exactly_the_summary(tmp_path):
    summary = summarize(run_setting(TINY, progress=False))
    fig = plot_figure3(summary, tmp_path / "f.png", title="tiny")
    assert len(fig.axes) == len(PANELS)
    for ax, (q, _) in zip(fig.axes, PANELS):
        lines = _lines_by_label(ax)
        assert set(lines) == {"cold", "warm", "ideal"}
        for method, line in lines.items():
            rows = summary[summary.method == method]
            np.testing.assert_array_equal(line.get_xdata(), rows.experiment.to_numpy())
            np.testing.assert_array_equal(line.get_ydata(), rows[f"{q}_mean"].to_numpy())
        assert len(ax.collections) == 3  # one mean +- std band per method
    assert imread(tmp_path / "f.png").std() > 0
    table = plotted_table(summary)
    assert list(table.columns) == PLOTTED_COLUMNS
    pd.testing.assert_frame_equal(table, summary[PLOTTED_COLUMNS])


def test_sweep_plot_has_one_row_per_value():
    df = run_sweep(dataclasses.replace(TINY, seeds=(0, 1)), "tau", [3, 1, 2], progress=False)
    assert list(pd.unique(df["tau"])) == [3, 1, 2] and list(df.columns[:2]) == ["tau", "seed"]
    summary = summarize(df, by=["tau"])
    fig = plot_sweep(summary, "tau")
    assert len(fig.axes) == 3 * len(PANELS)
    for row, tau in enumerate((1, 2, 3)):  # rows in ascending order of the swept value
        ax = fig.axes[row * len(PANELS) + 1]  # learned features
        expected = summary[(summary.tau == tau) & (summary.method == "warm")]["n_learned_mean"].to_numpy()
        np.testing.assert_array_equal(_lines_by_label(ax)["warm"].get_ydata(), expected)


def test_bad_sweeps_and_summaries_are_errors():
    with pytest.raises(ValueError, match="param"):
        run_sweep(TINY, "seeds", [(0,)], progress=False)
    with pytest.raises(ValueError, match="values"):
        run_sweep(TINY, "tau", [2, 2], progress=False)
    with pytest.raises(ValueError, match="missing columns"):
        plot_figure3(pd.DataFrame({"method": ["cold"], "experiment": [1]}))
    with pytest.raises(ValueError, match="missing columns"):
        plot_sweep(summarize(run_setting(dataclasses.replace(TINY, seeds=(0,)), progress=False)), "tau")
