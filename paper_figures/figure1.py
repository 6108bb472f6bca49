"""Figure 1 of the DASH paper: test accuracy and optimizer steps vs experiment for cold, warm, S&P and DASH.

The main protocol (paper Section 5): the training set is split into J equal chunks; experiment j
applies the method's between-experiments step and trains on chunks 1..j until the epoch's train
accuracy reaches 99.9% (or the epoch cap); test accuracy after each experiment. One row of panels
per base optimizer (SGD, SAM); mean +- std over seeds.

Full mode: the paper's model, J and seeds on the offline data (ResNet-18, J=50, all of Fashion-MNIST, seeds 0-4, SGD and SAM; a
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


def plot(metrics, methods, title):
    """One row per optimizer of :func:`dashsim.nn.plot_incremental`'s panels: test accuracy (%) and steps vs experiment."""
    import matplotlib.pyplot as plt

    from dashsim.nn.plotting import plot_incremental

    optimizers = list(dict.fromkeys(metrics["optimizer"]))
    fig, axes = plt.subplots(len(optimizers), 2, figsize=(10, 3.4 * len(optimizers)), squeeze=False)
    for row, optimizer in zip(axes, optimizers):
        plot_incremental(metrics[metrics["optimizer"] == optimizer], methods=methods, axes=row)
        for ax in row:
            ax.set_title(optimizer.upper())
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = _training.parse_args(__doc__, argv, _training.add_incremental_flags,
                                quick_defaults=_training.INCREMENTAL_QUICK, full_defaults=_training.INCREMENTAL_FULL)
    metrics = _training.incremental_metrics(args)
    table = curves(metrics)
    figure = plot(metrics, args.methods, f"Figure 1: {_training.incremental_setting(args)}")
    _common.write_table(args, "figure1", table, figure)


if __name__ == "__main__":
    main()
