"""dashsim.sim.plotting: Figure 3 and the sweep figures draw the seed statistics of the CSV, from rows or the CSV."""

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


def _band(ax, index):
    """(x, lower, upper) of the index-th seaborn band (a PolyCollection: upper edge forward, lower edge back)."""
    vertices = ax.collections[index].get_paths()[0].vertices
    x = np.unique(vertices[:, 0])
    lower = np.array([vertices[vertices[:, 0] == v, 1].min() for v in x])
    upper = np.array([vertices[vertices[:, 0] == v, 1].max() for v in x])
    return x, lower, upper


@pytest.mark.parametrize("given", ["rows", "summary"])
def test_figure3_draws_the_seed_mean_and_std_of_its_csv(tmp_path, given):
    rows = run_setting(TINY, progress=False)
    summary = summarize(rows)
    fig = plot_figure3(rows if given == "rows" else summary, tmp_path / "f.png", title="tiny")
    assert len(fig.axes) == len(PANELS)
    for ax, (q, _) in zip(fig.axes, PANELS):
        lines = _lines_by_label(ax)
        assert list(lines) == ["cold", "warm", "ideal"]
        assert len(ax.collections) == 3  # one mean +- std band per method (seaborn's PolyCollections)
        for index, (method, line) in enumerate(lines.items()):
            expected = summary[summary.method == method]
            np.testing.assert_array_equal(line.get_xdata(), expected.experiment.to_numpy())
            np.testing.assert_allclose(line.get_ydata(), expected[f"{q}_mean"].to_numpy(), rtol=1e-12, atol=1e-12)
            x, lower, upper = _band(ax, index)
            mean, std = expected[f"{q}_mean"].to_numpy(), expected[f"{q}_std"].to_numpy()
            np.testing.assert_array_equal(x, expected.experiment.to_numpy())
            np.testing.assert_allclose(lower, mean - std, atol=1e-9)
            np.testing.assert_allclose(upper, mean + std, atol=1e-9)
    # One colour and line style per method, the project's (dashsim.style), in every panel.
    from matplotlib.colors import to_hex

    from dashsim.style import METHOD_STYLES

    for ax in fig.axes:
        for method, line in _lines_by_label(ax).items():
            assert to_hex(line.get_color()) == METHOD_STYLES[method]["color"]
    assert imread(tmp_path / "f.png").std() > 0 and (tmp_path / "f.pdf").read_bytes()[:4] == b"%PDF"
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
        np.testing.assert_allclose(_lines_by_label(ax)["warm"].get_ydata(), expected, rtol=1e-12)


def test_bad_sweeps_and_summaries_are_errors():
    with pytest.raises(ValueError, match="param"):
        run_sweep(TINY, "seeds", [(0,)], progress=False)
    with pytest.raises(ValueError, match="values"):
        run_sweep(TINY, "tau", [2, 2], progress=False)
    with pytest.raises(ValueError, match="missing columns"):
        plot_figure3(pd.DataFrame({"method": ["cold"], "experiment": [1]}))
    with pytest.raises(ValueError, match="missing columns"):
        plot_sweep(summarize(run_setting(dataclasses.replace(TINY, seeds=(0,)), progress=False)), "tau")
