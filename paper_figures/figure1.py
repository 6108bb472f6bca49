"""Figure 1 of the DASH paper: test accuracy and optimizer steps vs experiment for cold, warm, S&P and DASH.

The main protocol (paper Section 5): the training set is split into J equal chunks; experiment j
applies the method's between-experiments step and trains on chunks 1..j until the epoch's train
accuracy reaches 99.9% (or the epoch cap); test accuracy after each experiment. One row of panels
per base optimizer (SGD, SAM); mean +- std over seeds.

Full mode: the paper's model, J and seeds on the offline data (ResNet-18, J=50, all of Fashion-MNIST,
seeds 0-4, SGD and SAM, the authors' cap of 10,000 epochs per experiment, none in practice; a GPU
job). A CPU-sized run (the committed one), e.g. ``--model mlp --J 10 --subset 5120 --lr 0.01 --seeds
0 1 2 3 4 --optimizers sgd`` (with a lower ``--max-epochs``, experiments stopped by it are counted
in ``n_capped`` and circled). ``--quick``: digits, MLP of width 32, 300 images, J=3, SGD, 2 seeds.

Each (method, optimizer, seed) run is cached in its own resumable run folder that
``table1.py`` reads too. Writes ``figure1.png``, ``.pdf`` and ``figure1.csv`` (the plotted means and
stds, and ``n_capped``: the seeds that stopped at the epoch cap, circled on the plot); ``--replot``
redraws from the CSV.
"""

from __future__ import annotations

from pathlib import Path

from dashsim.figures import parse_args, read_table
from dashsim.nn.figures import (FULL_MAX_EPOCHS, add_incremental_flags, finish, incremental_metrics,
                                incremental_setting)

OUT = Path(__file__).resolve().parent / "out"  # default output folder


def curves(metrics):
    """The plotted numbers: per (optimizer, method, experiment) mean and std of test accuracy and steps, n_capped."""
    import pandas as pd

    from dashsim.nn.plotting import incremental_curves

    return pd.concat([incremental_curves(group).assign(optimizer=optimizer)
                      for optimizer, group in metrics.groupby("optimizer", sort=False)], ignore_index=True)[
        ["optimizer", "method", "experiment", "n_seeds", "test_accuracy_mean", "test_accuracy_std", "steps_mean",
         "steps_std"] + (["n_capped"] if "converged" in metrics.columns else [])]


def plot(table, methods, title):
    """One row per optimizer of :func:`dashsim.nn.plot_incremental`'s panels: test accuracy (%) and steps."""
    import matplotlib.pyplot as plt

    from dashsim import style
    from dashsim.figures import fit_title
    from dashsim.nn.plotting import plot_incremental

    optimizers = list(dict.fromkeys(table["optimizer"]))
    with style.theme():
        fig, axes = plt.subplots(len(optimizers), 2, figsize=(10, 3.4 * len(optimizers) + 0.4), squeeze=False)
        for row, optimizer in zip(axes, optimizers):
            part = table[table["optimizer"] == optimizer].drop(columns="optimizer")
            plot_incremental(part, methods=[m for m in methods if m in set(part["method"])], axes=row)
            for ax in row:
                ax.set_title(optimizer.upper())
        fit_title(fig, title, fontsize=10)
        fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = parse_args(__doc__, argv, lambda p: add_incremental_flags(p, full={"max_epochs": FULL_MAX_EPOCHS},
                                                                     quick={"max_epochs": 10}, optimizers=True),
                      default_out=OUT)
    table = read_table(args, "figure1") if args.replot else curves(incremental_metrics(args))
    methods = [m for m in args.methods if m in set(table["method"])] or list(dict.fromkeys(table["method"]))
    finish(args, "figure1", table, plot(table, methods, f"Figure 1: {incremental_setting(args)}"))


if __name__ == "__main__":
    main()
