"""Figure 14 of the DASH paper: cosine between the negative gradient and the weights vs the amount of training data.

The main protocol (paper Section 5); at the start of experiment j (after the method's step,
before training) the probe :func:`dashsim.nn.diagnostics.filter_cosine_probe` computes, in eval
mode on ``T_{1:j}``, ``s_g = cos(-grad L, theta)`` for every group g DASH shrinks (a Linear row, a
Conv kernel slice, a bias vector) and averages over all groups of the network. Plotted: that mean
cosine, mean +- std over seeds, against ``n_train = j * n_per_chunk``. A warm-started network's
weights align less and less with the direction the new data pull in; a fresh (cold) one is near 0.

Full mode: the paper's model, J and seeds on the offline data (ResNet-18, J=50, Fashion-MNIST, seeds 0-4; a GPU job); CPU-sized:
e.g. ``--model mlp --J 10 --subset 10000 --max-epochs 30 --seeds 0 1 2``.
``--quick``: digits, MLP of width 32, 450 images, J=3, at most 30 epochs, 2 seeds.
Writes ``figure14.png`` and ``figure14.csv`` (the plotted means and stds).
"""

from __future__ import annotations

import _common
import figure6

FULL = dict(figure6.FULL, methods=["cold", "warm", "dash"])
QUICK = dict(figure6.QUICK, methods=FULL["methods"])


def main(argv=None) -> None:
    from dashsim.nn.diagnostics import filter_cosine_probe

    args = figure6.parse_args(__doc__, argv, full=FULL, quick=QUICK)
    table = figure6.band_table(figure6.probed_metrics(args, "figure14", probe=filter_cosine_probe), "cos_mean")
    figure = figure6.plot_bands(table, args.methods, "cos_mean", zero_line=True,
                                xlabel="training images $n_{train}$ at the start of experiment j",
                                ylabel="mean cos(-gradient, weights) over DASH's groups",
                                title=f"Figure 14: {figure6.setting(args)}")
    _common.write_table(args, "figure14", table, figure)


if __name__ == "__main__":
    main()
