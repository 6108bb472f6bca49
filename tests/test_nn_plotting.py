"""dashsim.nn.plotting.plot_incremental: the seed statistics in the project's style, capped experiments marked."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from dashsim import style  # noqa: E402
from dashsim.nn.plotting import incremental_curves, plot_incremental  # noqa: E402


def _metrics(rng, methods, n_seeds=3, J=4):
    return pd.DataFrame([{"method": m, "seed": s, "experiment": j, "test_accuracy": rng.uniform(),
                          "steps": int(rng.integers(1, 500)), "converged": bool(rng.uniform() < 0.7)}
                         for m in methods for s in range(n_seeds) for j in range(1, J + 1)])


def _curves(ax):
    """The seaborn lines of the axes (the cap markers are lines without a line style)."""
    return [line for line in ax.lines if line.get_linestyle() != "None"]


@pytest.mark.parametrize("seed", range(5))
def test_drawn_into_given_axes_with_the_seed_statistics(seed):
    rng = np.random.default_rng(seed)
    labels = ["dash every 2", "warm", "cold"]
    df = _metrics(rng, labels)
    fig, axes = plt.subplots(2, 2)
    returned = plot_incremental(df, methods=labels, axes=axes[1], xlabel="round r",
                                colours={label: f"C{i}" for i, label in enumerate(labels)},
                                linestyles={"warm": ":", "cold": ":"})
    assert returned is fig
    assert not axes[0][0].lines and not axes[0][1].lines  # the other row is untouched
    acc_ax, steps_ax = axes[1]
    assert [line.get_label() for line in _curves(acc_ax)] == labels
    assert acc_ax.get_xlabel() == steps_ax.get_xlabel() == "round r"
    curves = incremental_curves(df)
    for i, label in enumerate(labels):
        expected = curves[curves["method"] == label]
        np.testing.assert_allclose(_curves(acc_ax)[i].get_ydata(), 100 * expected["test_accuracy_mean"])
        np.testing.assert_allclose(_curves(steps_ax)[i].get_ydata(), expected["steps_mean"])
        assert to_hex(_curves(acc_ax)[i].get_color()) == to_hex(f"C{i}")
        assert _curves(acc_ax)[i].get_linestyle() == (":" if label in ("warm", "cold") else
                                                     _curves(acc_ax)[i].get_linestyle())
    assert _curves(acc_ax)[0].get_linestyle() != ":"  # not overridden: the project's style for an unknown name
    assert len(acc_ax.collections) == len(labels)  # one mean +- std band per curve
    plt.close(fig)


def test_capped_experiments_are_marked_and_counted():
    df = _metrics(np.random.default_rng(3), ["cold", "dash"], n_seeds=2, J=5)
    df["converged"] = True
    df.loc[(df.method == "dash") & (df.experiment.isin([2, 4])) & (df.seed == 1), "converged"] = False
    df.loc[(df.method == "cold") & (df.experiment == 5), "converged"] = False  # both seeds
    curves = incremental_curves(df)
    counts = curves.set_index(["method", "experiment"])["n_capped"]
    assert counts[("dash", 2)] == counts[("dash", 4)] == 1 and counts[("cold", 5)] == 2 and counts.sum() == 4
    for source in (df, curves):  # the rows, or the figure's CSV
        fig = plot_incremental(source, methods=["cold", "dash"])
        steps_ax = fig.axes[1]
        markers = [line for line in steps_ax.lines if line.get_linestyle() == "None"]
        assert {to_hex(m.get_color()): list(m.get_xdata()) for m in markers} == {
            style.METHOD_STYLES["cold"]["color"]: [5], style.METHOD_STYLES["dash"]["color"]: [2, 4]}
        dash_mean = curves[(curves.method == "dash") & curves.experiment.isin([2, 4])]["steps_mean"]
        np.testing.assert_allclose([m for m in markers if list(m.get_xdata()) == [2, 4]][0].get_ydata(), dash_mean)
        assert style.CAP_LABEL in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        plt.close(fig)


def test_default_colours_are_the_projects_and_an_absent_method_is_an_error():
    df = _metrics(np.random.default_rng(0), ["dash", "sp_ash"], n_seeds=2, J=2)
    fig = plot_incremental(df, methods=["dash", "sp_ash"])
    colours = [to_hex(line.get_color()) for line in _curves(fig.axes[0])]
    assert colours == [style.METHOD_STYLES["dash"]["color"], style.METHOD_STYLES["sp_ash"]["color"]]
    with pytest.raises(ValueError, match="'sp' has no rows"):
        plot_incremental(df, methods=["sp"])
    plt.close("all")
