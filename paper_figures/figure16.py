"""Figure 16 of the DASH paper: the fraction of dead ReLU units per block after the last experiment.

The main protocol (paper Section 5) for warm, cold and DASH; after training in each experiment the
probe :func:`dashsim.nn.diagnostics.dead_neuron_probe` counts, in eval mode on ``T_{1:j}``, the
ReLU units (features, or conv channels) never active on any of those images, per block (a ResNet
BasicBlock pools its two ReLUs; the stem ReLU and each ReLU of an MLP are blocks of their own).
Plotted: the dead fraction per block after the final experiment, mean +- std over seeds.

Full mode: the paper's model, J and seeds on the offline data (ResNet-18, J=50, Fashion-MNIST, seeds 0-4; a GPU job); CPU-sized:
e.g. ``--model resnet18 --J 5 --subset 2000 --max-epochs 20 --seeds 0``. ``--quick``: digits (8x8
images, too small for ResNet-18), an MLP of width 32, 450 images, J=3, at most 30 epochs, 2 seeds.
Writes ``figure16.png`` and ``figure16.csv`` (the plotted means and stds).
"""

from __future__ import annotations

import _common
import figure6

FULL = dict(figure6.FULL, methods=["warm", "cold", "dash"])
QUICK = dict(figure6.QUICK, methods=FULL["methods"])


def final_blocks(metrics):
    """The plotted numbers: per (method, block) mean and std over seeds of the dead fraction at j = J."""
    last = metrics[metrics["experiment"] == metrics["experiment"].max()]
    blocks = [c for c in metrics.columns if c.startswith("dead:")]
    long = last.melt(id_vars=["method", "seed"], value_vars=blocks, var_name="block", value_name="dead_fraction")
    long["block"] = long["block"].str.removeprefix("dead:")
    out = long.groupby(["method", "block"], sort=False).agg(
        dead_fraction_mean=("dead_fraction", "mean"), dead_fraction_std=("dead_fraction", "std"), n_seeds=("seed", "nunique"))
    return out.reset_index()


def plot(table, methods, title):
    import matplotlib.pyplot as plt
    import numpy as np

    blocks = list(dict.fromkeys(table["block"]))
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(max(7.5, 0.8 * len(blocks) + 3), 4.8))
    for k, method in enumerate(methods):
        c = table[table["method"] == method].set_index("block").loc[blocks]
        ax.bar(np.arange(len(blocks)) + (k - (len(methods) - 1) / 2) * width, 100 * c["dead_fraction_mean"], width,
               yerr=100 * c["dead_fraction_std"].fillna(0.0), color=f"C{k}", label=method, capsize=2)
    ax.set_xticks(np.arange(len(blocks)), blocks, rotation=30, ha="right")
    ax.set(xlabel="block", ylabel="dead ReLU units (%) after the last experiment")
    ax.set_ylim(bottom=0)
    ax.legend()
    ax.set_title(figure6.wrapped(title), fontsize=9)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    from dashsim.nn.diagnostics import dead_neuron_probe

    args = figure6.parse_args(__doc__, argv, full=FULL, quick=QUICK)
    table = final_blocks(figure6.probed_metrics(args, "figure16", probe_after=dead_neuron_probe))
    _common.write_table(args, "figure16", table, plot(table, args.methods, f"Figure 16: {figure6.setting(args)}"))


if __name__ == "__main__":
    main()
