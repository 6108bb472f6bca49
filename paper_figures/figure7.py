"""Figure 7 of the DASH paper: optimizer steps to converge vs the amount of training data, per method.

The main protocol (paper Section 5) for cold, warm, S&P and DASH: experiment j trains on
``n_train = j * n_per_chunk`` images until 99.9% train accuracy; plotted: the steps it took, mean
+- std over seeds, against ``n_train``. Cold's steps grow with the data; a warm start needs few
steps (and generalizes worse, Figure 1); DASH sits in between.

Reads the cached runs of ``figure6.py`` (the same settings and flags), so after Figure 6 it
computes nothing. Full mode: the paper's model, J and seeds on the offline data (ResNet-18, J=50, Fashion-MNIST, seeds 0-4; a
GPU job); CPU-sized: e.g. ``--model mlp --J 10 --subset 10000 --max-epochs 30 --seeds 0 1 2``.
``--quick``: digits, MLP of width 32, 450 images, J=3, at most 30 epochs, 2 seeds.
Writes ``figure7.png`` and ``figure7.csv`` (the plotted means and stds).
"""

from __future__ import annotations

import _common
import figure6


def main(argv=None) -> None:
    args = figure6.parse_args(__doc__, argv)
    table = figure6.band_table(figure6.metrics(args), "steps")
    figure = figure6.plot_bands(table, args.methods, "steps", ylabel="optimizer steps in experiment j",
                                xlabel="training images $n_{train} = j \\cdot n_{per\\,chunk}$",
                                title=f"Figure 7: {figure6.setting(args)}")
    _common.write_table(args, "figure7", table, figure)


if __name__ == "__main__":
    main()
