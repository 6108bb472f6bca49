"""Ash & Adams (2020), Section 4: Pearson correlation of the weights with the initial ones, over rounds.

The main protocol (J rounds of growing data, each trained to 99.9% train accuracy) for warm,
cold (random init), S&P and DASH. After round j, over all Linear/Conv weights and biases
(:class:`dashsim.nn.diagnostics.StartCorrelation`): left, ``r(theta_j, theta_0)`` with the very
first initialization; right, ``r(theta_j, theta_start_j)`` with the weights the round started from
(after the method's step). A warm start stays close to where it started (r near 1): it barely
moves, which Ash & Adams tie to its worse generalization. Mean +- std over seeds.

Full mode: ResNet-18 on Fashion-MNIST, J=50, seeds 0-4 (a GPU job; Ash & Adams used CIFAR-10);
CPU-sized: e.g. ``--model mlp --J 10 --subset 10000 --max-epochs 30 --seeds 0 1 2``.
``--quick``: digits, MLP of width 32, 450 images, J=3, at most 30 epochs, 2 seeds.
Writes ``ash_adams_pearson.png`` and ``ash_adams_pearson.csv`` (the plotted means and stds).
"""

from __future__ import annotations

import _common
import figure6

PANELS = (("corr_overall", "corr_init", "r(weights after round j, first initialization)"),
          ("corr_start_overall", "corr_start", "r(weights after round j, weights at its start)"))


def curves(metrics):
    """The plotted numbers: per (method, experiment) mean and std over seeds of both correlations."""
    aggregations = {}
    for column, name, _ in PANELS:
        aggregations[f"{name}_mean"] = (column, "mean")
        aggregations[f"{name}_std"] = (column, "std")
    return metrics.groupby(["method", "experiment"], sort=False).agg(**aggregations, n_seeds=("seed", "nunique")).reset_index()


def plot(table, methods, title):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    for ax, (_, name, label) in zip(axes, PANELS):
        for colour, method in enumerate(methods):
            c = table[table["method"] == method]
            mean, std = c[f"{name}_mean"], c[f"{name}_std"].fillna(0.0)
            ax.plot(c["experiment"], mean, marker="o", markersize=3, color=f"C{colour}", label=method)
            ax.fill_between(c["experiment"], mean - std, mean + std, alpha=0.2, color=f"C{colour}", linewidth=0)
        ax.set(xlabel="round (experiment) j", ylabel="Pearson r", title=label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend()
    fig.suptitle(figure6.wrapped(title, 130), fontsize=9)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    from dashsim.nn.diagnostics import StartCorrelation

    args = figure6.parse_args(__doc__, argv)
    pair = StartCorrelation()
    table = curves(figure6.probed_metrics(args, "ash_adams_pearson", probe=pair.probe, probe_after=pair.probe_after))
    _common.write_table(args, "ash_adams_pearson", table, plot(table, args.methods, f"Ash & Adams, weight correlation: {figure6.setting(args)}"))


if __name__ == "__main__":
    main()
