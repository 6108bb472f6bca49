"""Figure 1 of the DASH paper: test accuracy and optimizer steps vs experiment for cold, warm, S&P and DASH.

The main protocol (paper Section 5): the training set is split into J equal chunks; experiment j
applies the method's between-experiments step and trains on chunks 1..j until the epoch's train
accuracy reaches 99.9% (or the epoch cap); test accuracy after each experiment. One row of panels
per base optimizer (SGD, SAM); mean +- std over seeds.

Full mode: the paper's setting (ResNet-18, J=50, all of Fashion-MNIST, seeds 0-4, SGD and SAM; a
GPU job). A CPU-sized run, e.g. ``--model mlp --J 10 --subset 10000 --max-epochs 30 --seeds 0 1 2
--optimizers sgd``. ``--quick``: digits, MLP of width 32, 450 images, J=3, 2 seeds.

Each (method, optimizer, seed) run is cached in its own resumable run folder that
``table1.py`` reads too. Writes ``figure1.png`` and ``figure1.csv`` (the plotted means and stds).
"""

from __future__ import annotations

import _common
import _training


def curves(metrics):
    """The plotted numbers: per (optimizer, method, experiment) mean and std of test accuracy and steps."""
    import pandas as pd

    from dashsim.nn.plotting import incremental_curves

    return pd.concat([incremental_curves(group).assign(optimizer=optimizer) for optimizer, group in metrics.groupby("optimizer", sort=False)],
                     ignore_index=True)[["optimizer", "method", "experiment", "n_seeds", "test_accuracy_mean", "test_accuracy_std",
                                         "steps_mean", "steps_std"]]


def plot(table, methods, title):
    """One row per optimizer: test accuracy (%) and steps vs experiment, mean +- std bands."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    optimizers = list(dict.fromkeys(table["optimizer"]))
    fig, axes = plt.subplots(len(optimizers), 2, figsize=(10, 3.4 * len(optimizers)), squeeze=False)
    for (ax_acc, ax_steps), optimizer in zip(axes, optimizers):
        for colour, method in enumerate(methods):
            c = table[(table["optimizer"] == optimizer) & (table["method"] == method)]
            for ax, col, scale in ((ax_acc, "test_accuracy", 100.0), (ax_steps, "steps", 1.0)):
                mean, std = c[f"{col}_mean"] * scale, c[f"{col}_std"].fillna(0.0) * scale
                ax.plot(c["experiment"], mean, label=method, color=f"C{colour}")
                ax.fill_between(c["experiment"], mean - std, mean + std, alpha=0.2, color=f"C{colour}", linewidth=0)
        ax_acc.set(xlabel="experiment j", ylabel="test accuracy (%)", title=optimizer.upper())
        ax_steps.set(xlabel="experiment j", ylabel="optimizer steps", title=optimizer.upper())
        ax_acc.legend()
        for ax in (ax_acc, ax_steps):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = _training.parse_args(__doc__, argv, _training.add_incremental_flags,
                                quick_defaults=_training.INCREMENTAL_QUICK, full_defaults=_training.INCREMENTAL_FULL)
    table = curves(_training.incremental_metrics(args))
    figure = plot(table, args.methods, f"Figure 1: {_training.incremental_setting(args)}")
    _common.write_table(args, "figure1", table, figure)


if __name__ == "__main__":
    main()
