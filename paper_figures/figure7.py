"""Figure 7 of the DASH paper: optimizer steps to converge vs the amount of training data, per method.

The main protocol (paper Section 5) for cold, warm, S&P and DASH: experiment j trains on
``n_train = j * n_per_chunk`` images until 99.9% train accuracy; plotted: the steps it took, mean
+- std over seeds, against ``n_train``. Cold's steps grow with the data; a warm start needs few
steps (and generalizes worse, Figure 1); DASH sits in between.

Reads the cached runs of ``figure6.py`` (the same settings and flags), so after Figure 6 it
computes nothing. Full mode: the paper's setting (ResNet-18, J=50, Fashion-MNIST, seeds 0-4; a
GPU job); CPU-sized: e.g. ``--model mlp --J 10 --subset 10000 --max-epochs 30 --seeds 0 1 2``.
``--quick``: digits, MLP of width 32, 450 images, J=3, at most 30 epochs, 2 seeds.
Writes ``figure7.png`` and ``figure7.csv`` (the plotted means and stds).
"""

from __future__ import annotations

import _common
import figure6


def curves(metrics):
    """The plotted numbers: mean and std over seeds of the steps per (method, n_train)."""
    out = metrics.groupby(["method", "n_train"], sort=False).agg(
        steps_mean=("steps", "mean"), steps_std=("steps", "std"), n_seeds=("seed", "nunique"))
    return out.reset_index()


def plot(table, methods, title):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.8))
    for colour, method in enumerate(methods):
        c = table[table["method"] == method]
        mean, std = c["steps_mean"], c["steps_std"].fillna(0.0)
        ax.plot(c["n_train"], mean, marker="o", markersize=3, color=f"C{colour}", label=method)
        ax.fill_between(c["n_train"], mean - std, mean + std, alpha=0.2, color=f"C{colour}", linewidth=0)
    ax.set(xlabel="training images $n_{train} = j \\cdot n_{per\\,chunk}$", ylabel="optimizer steps in experiment j")
    ax.legend()
    ax.set_title(figure6.wrapped(title), fontsize=9)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = figure6.parse_args(__doc__, argv)
    table = curves(figure6.metrics(args))
    _common.write_table(args, "figure7", table, plot(table, args.methods, f"Figure 7: {figure6.setting(args)}"))


if __name__ == "__main__":
    main()
