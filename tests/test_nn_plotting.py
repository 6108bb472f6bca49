"""dashsim.nn.plotting.plot_incremental drawn into given axes: the lines are the seed statistics, styles as asked."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from dashsim.nn.plotting import plot_incremental  # noqa: E402


def _metrics(rng, methods, n_seeds=3, J=4):
    return pd.DataFrame([{"method": m, "seed": s, "experiment": j, "test_accuracy": rng.uniform(), "steps": int(rng.integers(1, 500))}
                         for m in methods for s in range(n_seeds) for j in range(1, J + 1)])


@pytest.mark.parametrize("seed", range(5))
def test_drawn_into_given_axes_with_the_seed_statistics(seed):
    rng = np.random.default_rng(seed)
    labels = ["dash every 2", "warm", "cold"]
    df = _metrics(rng, labels)
    fig, axes = plt.subplots(2, 2)
    returned = plot_incremental(df, methods=labels, axes=axes[1], xlabel="round r",
                                colours={label: f"C{i}" for i, label in enumerate(labels)}, linestyles={"warm": "--", "cold": "--"})
    assert returned is fig
    assert not axes[0][0].lines and not axes[0][1].lines  # the other row is untouched
    acc_ax, steps_ax = axes[1]
    assert [line.get_label() for line in acc_ax.lines] == labels
    assert acc_ax.get_xlabel() == steps_ax.get_xlabel() == "round r"
    for i, label in enumerate(labels):
        rows = df[df["method"] == label].groupby("experiment")
        np.testing.assert_allclose(acc_ax.lines[i].get_ydata(), 100 * rows["test_accuracy"].mean().to_numpy())
        np.testing.assert_allclose(steps_ax.lines[i].get_ydata(), rows["steps"].mean().to_numpy())
        assert to_hex(acc_ax.lines[i].get_color()) == to_hex(f"C{i}")
        assert acc_ax.lines[i].get_linestyle() == ("--" if label in ("warm", "cold") else "-")
    assert len(acc_ax.collections) == len(labels)  # one mean +- std band per curve
    plt.close(fig)


def test_default_colours_are_the_papers_and_unknown_names_take_their_position():
    df = _metrics(np.random.default_rng(0), ["dash", "sp_ash"], n_seeds=2, J=2)
    fig = plot_incremental(df, methods=["dash", "sp_ash"])
    colours = [to_hex(line.get_color()) for line in fig.axes[0].lines]
    assert colours == [to_hex("tab:red"), to_hex("C1")]
    with pytest.raises(ValueError, match="'sp' has no rows"):
        plot_incremental(df, methods=["sp"])
    plt.close("all")
