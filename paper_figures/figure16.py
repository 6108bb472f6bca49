"""Figure 16 of the DASH paper: the fraction of dead ReLU units per block after the last experiment.

The main protocol (paper Section 5) for warm, cold and DASH; after training in each experiment the
probe :func:`dashsim.nn.diagnostics.dead_neuron_probe` counts, in eval mode on ``T_{1:j}``, the
ReLU units (features, or conv channels) never active on any of those images, per block (a ResNet
BasicBlock pools its two ReLUs; the stem ReLU and each ReLU of an MLP are blocks of their own).
Plotted: the dead fraction per block after the final experiment, mean +- std over seeds.

Full mode: the paper's model, J and seeds on the offline data (ResNet-18, J=50, Fashion-MNIST, seeds
0-4; a GPU job); CPU-sized:
e.g. ``--model resnet18 --J 5 --subset 2000 --max-epochs 20 --seeds 0``. ``--quick``: digits (8x8
images, too small for ResNet-18), an MLP of width 32, 300 images, J=3, at most 20 epochs, 2 seeds.
Writes ``figure16.png``, ``.pdf`` and ``figure16.csv`` (the plotted means and stds, and ``n_capped``:
the method's experiments, over all j and seeds, that stopped at the epoch cap; its points are circled,
since the probed network was trained through them); ``--replot`` redraws from the CSV. Every (method,
block) is a point with its +- std bar and its value written beside it, so a block with no dead unit
shows as a labelled 0, and the title gives the largest value.
"""

from __future__ import annotations

from pathlib import Path

from dashsim.figures import parse_args, read_table
from dashsim.nn.figures import add_incremental_flags, finish, probed_tasks, run_all, setting_line

OUT = Path(__file__).resolve().parent / "out"  # default output folder

METHODS = ("warm", "cold", "dash")


def final_blocks(metrics):
    """The plotted numbers: per (method, block) mean and std over seeds of the dead fraction at j = J.

    ``n_capped`` (when the rows have ``converged``): the method's experiments, all j and seeds, that
    stopped at the epoch cap (:func:`dashsim.style.capped_counts`), out of ``n_experiments``; the same
    for each of its blocks.
    """
    from dashsim import style
    from dashsim.stats import seed_stats

    last = metrics[metrics["experiment"] == metrics["experiment"].max()]
    blocks = [c for c in metrics.columns if c.startswith("dead:")]
    long = last.melt(id_vars=["method", "seed"], value_vars=blocks, var_name="block", value_name="dead_fraction")
    long["block"] = long["block"].str.removeprefix("dead:")
    out = seed_stats(long, ["method", "block"], ["dead_fraction"])[
        ["method", "block", "dead_fraction_mean", "dead_fraction_std", "n_seeds"]]
    out = style.with_capped_counts(out, metrics, ["method"])
    if "n_capped" in out.columns:
        out["n_experiments"] = out["method"].map(metrics.groupby("method").size()).astype("int64")
    return out


def plot(table, methods, title):
    import matplotlib.pyplot as plt
    import numpy as np

    from dashsim import style
    from dashsim.figures import fit_title

    methods = [m for m in methods if m in set(table["method"])]
    blocks = list(dict.fromkeys(table["block"]))
    top = 100 * table["dead_fraction_mean"].max()
    where = table.loc[table["dead_fraction_mean"].idxmax()]
    summary = (f"no dead unit in any block ({len(methods)} methods x {len(blocks)} blocks: every value 0 %)" if top == 0
               else f"largest: {top:.2f} % ({where['method']}, block {where['block']})")
    with style.theme():
        fig, ax = plt.subplots(figsize=(max(7.5, 0.9 * len(blocks) + 3), 4.6))
        step = 0.8 / max(len(methods), 1)
        for k, (method, look) in enumerate(style.method_styles(methods).items()):
            c = table[table["method"] == method].set_index("block").reindex(blocks)
            x = np.arange(len(blocks)) + (k - (len(methods) - 1) / 2) * step
            mean, std = 100 * c["dead_fraction_mean"].to_numpy(), 100 * c["dead_fraction_std"].fillna(0.0).to_numpy()
            ax.errorbar(x, mean, yerr=std, fmt="o", markersize=6, capsize=3, color=look["color"], label=method)
            if "n_capped" in c.columns and c["n_capped"].max() > 0:  # trained through experiments that hit the cap
                of = f" of {int(c['n_experiments'].max())}" if "n_experiments" in c.columns else ""
                ax.plot(x, mean, color=look["color"], zorder=5, **{**style.CAP_MARKER, "markersize": 11},
                        label=f"{method}: {int(c['n_capped'].max())}{of} experiments stopped at the epoch cap")
            for xi, yi in zip(x, mean):
                ax.annotate(f"{yi:.1f}", (xi, yi), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=7,
                            color=look["color"])
        ax.set_xticks(np.arange(len(blocks)), blocks, rotation=30, ha="right")
        ax.set(xlabel="block", ylabel="dead ReLU units (%) after the last experiment")
        ax.set_ylim(-0.5, max(5.0, 1.25 * float(np.nanmax(100 * (table["dead_fraction_mean"]
                                                                 + table["dead_fraction_std"].fillna(0.0))))))
        handles, names = ax.get_legend_handles_labels()
        order = sorted(range(len(names)), key=lambda i: ":" in names[i])  # the methods, then their cap circles
        ax.legend([handles[i] for i in order], [names[i] for i in order], title="method")
        fit_title(ax, f"{title}; {summary}", fontsize=9)
        fig.tight_layout()
    return fig


def main(argv=None) -> None:
    from dashsim.nn.diagnostics import dead_neuron_probe

    args = parse_args(__doc__, argv, lambda p: add_incremental_flags(p, methods=METHODS),
                      default_out=OUT)
    if args.replot:
        table = read_table(args, "figure16")
    else:
        table = final_blocks(run_all(args, probed_tasks(args, "figure16", probe_after=dead_neuron_probe)))
    finish(args, "figure16", table, plot(table, args.methods, f"Figure 16: {setting_line(args, f'J={args.J}')}"))


if __name__ == "__main__":
    main()
