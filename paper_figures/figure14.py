"""Figure 14 of the DASH paper: cosine between the negative gradient and the weights vs the amount of training data.

The main protocol (paper Section 5); at the start of experiment j (after the method's step,
before training) the probe :func:`dashsim.nn.diagnostics.filter_cosine_probe` computes, in eval
mode on ``T_{1:j}``, ``s_g = cos(-grad L, theta)`` for every group g DASH shrinks (a Linear row, a
Conv kernel slice, a bias vector) and averages over all groups of the network. Plotted: that mean
cosine, mean +- std over seeds, against ``n_train = j * n_per_chunk``. A warm-started network's
weights align less and less with the direction the new data pull in; a fresh (cold) one is near 0.

Full mode: the paper's model, J and seeds on the offline data (ResNet-18, J=50, Fashion-MNIST, seeds
0-4; a GPU job); CPU-sized:
e.g. ``--model mlp --J 10 --subset 10000 --max-epochs 30 --seeds 0 1 2``.
``--quick``: digits, MLP of width 32, 300 images, J=3, at most 20 epochs, 2 seeds.
Writes ``figure14.png``, ``.pdf`` and ``figure14.csv`` (the plotted means and stds, and ``n_capped``:
seeds whose experiment j then stopped at the epoch cap, circled); ``--replot`` redraws from the CSV.
"""

from __future__ import annotations

from pathlib import Path

from dashsim.figures import parse_args, read_table
from dashsim.nn.figures import (add_incremental_flags, curve_stats, finish, plot_seed_curves, probed_tasks, run_all,
                                setting_line)

OUT = Path(__file__).resolve().parent / "out"  # default output folder

METHODS = ("cold", "warm", "dash")


def main(argv=None) -> None:
    from dashsim.nn.diagnostics import filter_cosine_probe

    args = parse_args(__doc__, argv, lambda p: add_incremental_flags(p, methods=METHODS),
                      default_out=OUT)
    if args.replot:
        table = read_table(args, "figure14")
    else:
        rows = run_all(args, probed_tasks(args, "figure14", probe=filter_cosine_probe))
        table = curve_stats(rows, ["method", "n_train"], ["cos_mean"])
    figure = plot_seed_curves([("cos_mean", "mean cos(-gradient, weights) over DASH's groups")], table, x="n_train",
                              order=args.methods, scale=1.0, zero_line=True,
                              xlabel="training images $n_{train}$ at the start of experiment j",
                              title=f"Figure 14: {setting_line(args, f'J={args.J}')}")
    finish(args, "figure14", table, figure)


if __name__ == "__main__":
    main()
