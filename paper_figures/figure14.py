"""Figure 14 of the DASH paper: cosine between the negative gradient and the weights vs the amount of training data.

The main protocol (paper Section 5); at the start of experiment j (after the method's step,
before training) the probe :func:`dashsim.nn.diagnostics.filter_cosine_probe` computes, in eval
mode on ``T_{1:j}``, ``s_g = cos(-grad L, theta)`` for every group g DASH shrinks (a Linear row, a
Conv kernel slice, a bias vector) and averages over all groups of the network. Plotted: that mean
cosine, mean +- std over seeds, against ``n_train = j * n_per_chunk``. A warm-started network's
weights align less and less with the direction the new data pull in; a fresh (cold) one is near 0.

Full mode: the paper's setting (ResNet-18, J=50, Fashion-MNIST, seeds 0-4; a GPU job); CPU-sized:
e.g. ``--model mlp --J 10 --subset 10000 --max-epochs 30 --seeds 0 1 2``.
``--quick``: digits, MLP of width 32, 450 images, J=3, at most 30 epochs, 2 seeds.
Writes ``figure14.png`` and ``figure14.csv`` (the plotted means and stds).
"""

from __future__ import annotations

import _common
import figure6

FULL = dict(figure6.FULL, methods=["cold", "warm", "dash"])
QUICK = dict(figure6.QUICK, methods=FULL["methods"])


def curves(metrics):
    """The plotted numbers: mean and std over seeds of the mean cosine per (method, n_train)."""
    out = metrics.groupby(["method", "n_train"], sort=False).agg(
        cos_mean_mean=("cos_mean", "mean"), cos_mean_std=("cos_mean", "std"), n_seeds=("seed", "nunique"))
    return out.reset_index()


def plot(table, methods, title):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.8))
    for colour, method in enumerate(methods):
        c = table[table["method"] == method]
        mean, std = c["cos_mean_mean"], c["cos_mean_std"].fillna(0.0)
        ax.plot(c["n_train"], mean, marker="o", markersize=3, color=f"C{colour}", label=method)
        ax.fill_between(c["n_train"], mean - std, mean + std, alpha=0.2, color=f"C{colour}", linewidth=0)
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set(xlabel="training images $n_{train}$ at the start of experiment j",
           ylabel="mean cos(-gradient, weights) over DASH's groups")
    ax.legend()
    ax.set_title(figure6.wrapped(title), fontsize=9)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    from dashsim.nn.diagnostics import filter_cosine_probe

    args = figure6.parse_args(__doc__, argv, full=FULL, quick=QUICK)
    table = curves(figure6.probed_metrics(args, "figure14", probe=filter_cosine_probe))
    _common.write_table(args, "figure14", table, plot(table, args.methods, f"Figure 14: {figure6.setting(args)}"))


if __name__ == "__main__":
    main()
