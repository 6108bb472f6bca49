"""Figure 13 of the DASH paper: train accuracy on the PREVIOUS data in the first epochs after new data arrive.

A fresh model trains on the old data ``T_1..T_{J-1}`` until the epoch's train accuracy reaches
99.9% (or the cap); then new data ``T_J`` arrive, the method's between-experiments step is applied
(warm: nothing; S&P: shrink and perturb; shrink: ``w <- lam w``; DASH) with the chunks
``T_1..T_J``, and the model trains on all of it for a few epochs. Plotted: the accuracy on the old
data right after the step (epoch 0) and after each epoch, mean +- std over seeds, with BatchNorm
in eval mode (running statistics) and in train mode (batch statistics) side by side.
The paper's point: shrinking alone forgets the old data and must relearn it; DASH keeps what
generalizes and relearns quickly; warm keeps everything.

Full mode: ResNet-18 on Fashion-MNIST, J=10 (the new data are 10%), 5 epochs, seeds 0-4 (a GPU
job). A CPU-sized run, e.g. ``--model mlp --subset 10000 --seeds 0 1 2``. ``--quick``: digits, MLP
of width 32, 300 images, J=4, 3 epochs. Each seed is cached in a run folder. Writes ``figure13.png``,
``.pdf`` and ``figure13.csv`` (the plotted means and stds, and ``n_capped``: seeds whose training on
the old data stopped at the epoch cap, circled at epoch 0); ``--replot`` redraws from the CSV.
Curves that coincide (shrink and DASH in train mode) stay visible: each method has its own marker
and is drawn a little to the side of the integer epoch.
"""

from __future__ import annotations

from pathlib import Path

from dashsim.figures import parse_args, read_table
from dashsim.nn.figures import add_methods_flag, add_train_flags, data_phrase, finish, run_all, seeds_phrase, task

OUT = Path(__file__).resolve().parent / "out"  # default output folder

# How the model is evaluated on the old data, by column: BatchNorm with its running statistics
# (eval mode) or with each evaluation batch's own statistics (train mode, as the running train
# accuracy sees it). A shrink before BatchNorm changes the former at once, the latter not at all.
MODES = {"previous_accuracy": "eval mode (BN running statistics)",
         "previous_accuracy_batch_stats": "train mode (BN batch statistics)"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def add_flags(parser) -> None:
    from dashsim.figures import add_config_flags
    from dashsim.nn.protocols.previous_data import PreviousData

    add_train_flags(parser, ("model", "width", "J", "subset", "max_epochs", "seeds"),
                    full={"J": 10, "seeds": (0, 1, 2, 3, 4)}, quick={"J": 4})
    add_config_flags(parser, PreviousData, ["epochs"], quick={"epochs": 3}, title="protocol settings")
    add_methods_flag(parser, ("warm", "sp", "shrink", "dash"))


def compute(args):
    """Figure 13's protocol (:func:`dashsim.nn.run_previous_data`) for every (method, seed); the per-epoch table."""
    from dashsim.nn import previous_data_curves, run_previous_data

    tasks = [task(args, "previous_data", {"model": args.model, "width": args.width, "J": args.J, "seeds": (seed,),
                                          "subset": args.subset, "max_epochs": args.max_epochs, "method": method},
                  run_previous_data, sweep={"epochs": args.epochs}, epochs=args.epochs)
             for seed in args.seeds for method in args.methods]
    return previous_data_curves(run_all(args, tasks))


def summarize(rows):
    """The plotted numbers: mean and std over seeds of the old-data accuracy (both modes) per (method, epoch).

    ``n_capped``: the seeds whose training on the old data stopped at the epoch cap (the same on every epoch).
    """
    from dashsim.nn.figures import curve_stats

    return curve_stats(rows.assign(converged=rows["pretrain_converged"]), ["method", "epoch"], list(MODES))


def plot(table, methods, title):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from dashsim import style
    from dashsim.figures import fit_title

    methods = [m for m in methods if m in set(table["method"])]
    # Each method a little to the side of the integer epoch, so equal curves do not hide each other.
    shift = {m: 0.05 * (k - (len(methods) - 1) / 2) for k, m in enumerate(methods)}
    shifted = table.assign(epoch=table["epoch"] + table["method"].map(shift))
    marks = shifted.assign(n_capped=shifted["n_capped"].where(table["epoch"] == 0, 0)) \
        if "n_capped" in table.columns else None
    with style.theme():
        fig, axes = plt.subplots(1, len(MODES), figsize=(11, 4.0), sharey=True)
        for ax, (col, mode) in zip(axes, MODES.items()):
            for k, name in enumerate(methods):
                part = shifted[shifted["method"] == name]
                style.seed_lineplot(ax, part, "epoch", col, order=[name], scale=100.0,
                                    marker=MARKERS[k % len(MARKERS)], markersize=5)
            if marks is not None:
                style.mark_capped(ax, marks, "epoch", col, order=methods, scale=100.0)
            ax.set(xlabel="epochs on all data (0 = right after the method's step)", title=mode)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if ax is axes[0]:
                ax.legend()
            else:
                ax.get_legend().remove()
        axes[0].set_ylabel("train accuracy on the previous data (%)")
        fit_title(fig, title, fontsize=10)
        fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = parse_args(__doc__, argv, add_flags, default_out=OUT)
    table = read_table(args, "figure13") if args.replot else summarize(compute(args))
    title = (f"Figure 13: {data_phrase(args)}, {args.model}, old data = {args.J - 1}/{args.J}, "
             f"{seeds_phrase(args)}")
    finish(args, "figure13", table, plot(table, args.methods, title))


if __name__ == "__main__":
    main()
