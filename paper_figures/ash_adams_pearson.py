"""Ash & Adams (2020), Section 4: Pearson correlation of the weights with the initial ones, over rounds.

The main protocol (J rounds of growing data, each trained to 99.9% train accuracy) for warm,
cold (random init), S&P and DASH. After round j, over all Linear/Conv weights and biases
(:class:`dashsim.nn.diagnostics.StartCorrelation`): left, ``r(theta_j, theta_0)`` with the very
first initialization; right, ``r(theta_j, theta_start_j)`` with the weights the round started from
(after the method's step). A warm start stays close to where it started (r near 1): it barely
moves, which Ash & Adams tie to its worse generalization. Mean +- std over seeds.

Full mode: ResNet-18 on Fashion-MNIST, J=50, seeds 0-4 (a GPU job; Ash & Adams used CIFAR-10);
CPU-sized: e.g. ``--model mlp --J 10 --subset 10000 --max-epochs 30 --seeds 0 1 2``.
``--quick``: digits, MLP of width 32, 300 images, J=3, at most 20 epochs, 2 seeds.
Writes ``ash_adams_pearson.png``, ``.pdf`` and ``ash_adams_pearson.csv`` (the plotted means and stds,
and ``n_capped``: seeds whose round stopped at the epoch cap, circled); ``--replot`` redraws from the CSV.
"""

from __future__ import annotations

from pathlib import Path

from dashsim.figures import parse_args, read_table
from dashsim.nn.figures import (add_incremental_flags, curve_stats, finish, plot_seed_curves, probed_tasks, run_all,
                                setting_line)

OUT = Path(__file__).resolve().parent / "out"  # default output folder

PANELS = (("corr_overall", "corr_init", "r(weights after round j, first initialization)"),
          ("corr_start_overall", "corr_start", "r(weights after round j, weights at its start)"))


def curves(metrics):
    """The plotted numbers: per (method, experiment) mean and std over seeds of both correlations, n_capped."""
    renamed = metrics.rename(columns={column: name for column, name, _ in PANELS})
    return curve_stats(renamed, ["method", "experiment"], [name for _, name, _ in PANELS])


def main(argv=None) -> None:
    from dashsim.nn.diagnostics import StartCorrelation

    args = parse_args(__doc__, argv, add_incremental_flags, default_out=OUT)
    if args.replot:
        table = read_table(args, "ash_adams_pearson")
    else:
        pair = StartCorrelation()
        table = curves(run_all(args, probed_tasks(args, "ash_adams_pearson", probe=pair.probe,
                                                  probe_after=pair.probe_after)))
    figure = plot_seed_curves([(name, label) for _, name, label in PANELS], table, x="experiment", order=args.methods,
                              scale=1.0, xlabel="round (experiment) j",
                              title=f"Ash & Adams, weight correlation (Pearson r): {setting_line(args, f'J={args.J}')}")
    finish(args, "ash_adams_pearson", table, figure)


if __name__ == "__main__":
    main()
