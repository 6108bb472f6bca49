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
of width 32. Each seed is cached in a run folder. Writes ``figure13.png`` and ``figure13.csv``.
"""

from __future__ import annotations

import _common
import _training

FULL = {"model": "resnet18", "width": 1000, "J": 10, "subset": None, "max_epochs": 100, "epochs": 5,
        "seeds": [0, 1, 2, 3, 4], "methods": ["warm", "sp", "shrink", "dash"]}
QUICK = dict(FULL, model="mlp", width=32, J=4, subset=400, max_epochs=20, epochs=3, seeds=[0, 1])
# How the model is evaluated on the old data, by column: BatchNorm with its running statistics
# (eval mode) or with each evaluation batch's own statistics (train mode, as the running train
# accuracy sees it). A shrink before BatchNorm changes the former at once, the latter not at all.
MODES = {"previous_accuracy": "eval mode (BN running statistics)", "previous_accuracy_batch_stats": "train mode (BN batch statistics)"}


def add_flags(parser) -> None:
    parser.add_argument("--model", default=None, help="network (full: resnet18; quick: mlp)")
    parser.add_argument("--width", type=int, default=None, help="MLP hidden width (full: 1000; quick: 32)")
    parser.add_argument("--J", type=int, default=None, help="chunks: old data T_1..T_{J-1}, new data T_J (full: 10)")
    parser.add_argument("--subset", type=int, default=None, help="use a seeded random subset of this many training images (full: all)")
    parser.add_argument("--max-epochs", type=int, default=None, help="epoch cap of the training on the old data (full: 100)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of training on all data to follow (full: 5)")
    _training.int_list(parser, "--seeds", "seeds (full: 0-4; quick: 0 1)")
    parser.add_argument("--methods", nargs="+", default=None, help="methods (default: warm sp shrink dash)")


def compute(args):
    """Figure 13's protocol (:func:`dashsim.nn.run_previous_data`) for every (method, seed); the per-epoch table."""
    import pandas as pd

    from dashsim.nn import load_dataset, previous_data_curves, run_previous_data

    dataset = load_dataset(args.data, args.data_root)
    frames = []
    for seed in args.seeds:
        for method in args.methods:
            fields = {"model": args.model, "width": args.width, "J": args.J, "seeds": (seed,), "subset": args.subset,
                      "max_epochs": args.max_epochs, "method": method}
            run = lambda config: run_previous_data(config, epochs=args.epochs, dataset=dataset,  # noqa: E731
                                                   progress=not args.no_progress)
            frames.append(_training.cached_run(args, "previous_data", fields, run, sweep={"epochs": args.epochs}))
    return previous_data_curves(pd.concat(frames, ignore_index=True))


def summarize(rows):
    """The plotted numbers: mean and std over seeds of the old-data accuracy (both modes) per (method, epoch)."""
    stats = {f"{col}_{stat}": (col, stat) for col in MODES for stat in ("mean", "std")}
    return rows.groupby(["method", "epoch"], sort=False).agg(n_seeds=("seed", "nunique"), **stats).reset_index()


def plot(table, methods, title):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(MODES), figsize=(11, 4.0), sharey=True)
    colours = {"warm": "C1", "sp": "C2", "shrink": "C4", "dash": "C3"}
    for ax, (col, mode) in zip(axes, MODES.items()):
        for name in methods:
            t = table[table["method"] == name]
            mean, std = 100 * t[f"{col}_mean"], 100 * t[f"{col}_std"].fillna(0.0)
            ax.plot(t["epoch"], mean, "o-", label=name, color=colours.get(name))
            ax.fill_between(t["epoch"], mean - std, mean + std, alpha=0.2, color=colours.get(name), linewidth=0)
        ax.set(xlabel="epochs on all data (0 = right after the method's step)", title=mode)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_ylabel("train accuracy on the previous data (%)")
    axes[0].legend()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = _training.parse_args(__doc__, argv, add_flags, quick_defaults=QUICK, full_defaults=FULL)
    table = summarize(compute(args))
    title = (f"Figure 13: {_training.data_phrase(args)}, {args.model}, old data = {args.J - 1}/{args.J}, "
             f"{_training.seeds_phrase(args)}")
    _common.write_table(args, "figure13", table, plot(table, args.methods, title))


if __name__ == "__main__":
    main()
