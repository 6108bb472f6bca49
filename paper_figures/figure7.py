"""Figure 7 of the DASH paper: optimizer steps to converge vs the amount of training data, per method.

The main protocol (paper Section 5) for cold, warm, S&P and DASH: experiment j trains on
``n_train = j * n_per_chunk`` images until 99.9% train accuracy; plotted: the steps it took, mean
+- std over seeds, against ``n_train``. Cold's steps grow with the data; a warm start needs few
steps (and generalizes worse, Figure 1); DASH sits in between.

Reads the cached runs of ``figure6.py`` (the same settings and flags), so after Figure 6 it
computes nothing. Full mode: the paper's model, J and seeds on the offline data (ResNet-18, J=50,
Fashion-MNIST, seeds 0-4; a
GPU job); CPU-sized: e.g. ``--model mlp --J 10 --subset 10000 --max-epochs 30 --seeds 0 1 2``.
``--quick``: digits, MLP of width 32, 300 images, J=3, at most 20 epochs, 2 seeds.
Writes ``figure7.png``, ``.pdf`` and ``figure7.csv`` (the plotted means and stds, and ``n_capped``:
seeds that stopped at the epoch cap, circled); ``--replot`` redraws from the CSV.
"""

from __future__ import annotations

from pathlib import Path

from dashsim.figures import parse_args, read_table
from dashsim.nn.figures import (add_incremental_flags, curve_stats, finish, plot_seed_curves, probed_tasks, run_all,
                                setting_line)

OUT = Path(__file__).resolve().parent / "out"  # default output folder


def main(argv=None) -> None:
    from dashsim.nn.diagnostics import gradient_norm_probe

    args = parse_args(__doc__, argv, add_incremental_flags, default_out=OUT)
    if args.replot:
        table = read_table(args, "figure7")
    else:
        # figure6's runs: same cache folder, same probe.
        rows = run_all(args, probed_tasks(args, "figure6", probe=gradient_norm_probe))
        table = curve_stats(rows, ["method", "n_train"], ["steps"])
    figure = plot_seed_curves([("steps", "optimizer steps in experiment j")], table, x="n_train", order=args.methods,
                              scale=1.0, xlabel="training images $n_{train} = j \\cdot n_{per\\,chunk}$",
                              title=f"Figure 7: {setting_line(args, f'J={args.J}')}")
    finish(args, "figure7", table, figure)


if __name__ == "__main__":
    main()
