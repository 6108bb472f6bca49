"""Appendix C.4.4 of the DASH paper: continuous arrival, the method every m epochs, cold / warm / S&P / DASH.

Equal numbers of new training images join every epoch for A epochs (one epoch of training on all
images so far per arrival), then F more epochs train on all of them; the method's step runs every
m epochs while data arrive (cold: a fresh model every m epochs; warm: nothing). Panels: test and
train accuracy vs epoch, mean +- std over seeds; the dotted line marks the last arrival.

Full mode: ResNet-18 on all of Fashion-MNIST (the paper: CIFAR-10), A = F = 500, m = 50, seeds 0-2
(a GPU job). The committed CPU result (``paper_figures/results``; about 7 min on 2 shared cores):
``--model mlp --width 256 --subset 6000 --arrival-epochs 60 --final-epochs 40 --method-every 10
--seeds 0 1 --out paper_figures/results``. ``--quick``: digits, MLP of width 32, 400 images, A=6,
F=4, m=2.

Each (method, seed) run is cached in a resumable run folder. Writes ``appendix_continuous.png`` and
``appendix_continuous.csv`` (the plotted means and stds per method and epoch).
"""

from __future__ import annotations

import _common
import _training

FULL = {"model": "resnet18", "width": 1000, "arrival_epochs": 500, "final_epochs": 500, "method_every": 50, "subset": None,
        "lr": None, "seeds": [0, 1, 2], "methods": ["cold", "warm", "sp", "dash"]}
# Quick: a larger step so that ~25 steps of a tiny run visibly learn.
QUICK = dict(FULL, model="mlp", width=32, arrival_epochs=6, final_epochs=4, method_every=2, subset=400, lr=0.1, seeds=[0, 1])


def add_flags(parser) -> None:
    _training.add_run_flags(parser, FULL, QUICK, skip=("max_epochs",))
    parser.add_argument("--arrival-epochs", type=int, default=None, help="epochs during which data arrive, A (full: 500)")
    parser.add_argument("--final-epochs", type=int, default=None, help="epochs on all data afterwards, F (full: 500)")
    parser.add_argument("--method-every", type=int, default=None, help="apply the method every m epochs (full: 50)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (full: the paper's per-model default; quick: 0.1)")


def metrics(args):
    """Run (or read from the cache) continuous arrival for every (method, seed); one row per epoch."""
    import pandas as pd

    from dashsim.nn import load_dataset, run_continuous

    dataset = load_dataset(args.data, args.data_root)
    sweep = {"arrival_epochs": args.arrival_epochs, "final_epochs": args.final_epochs, "method_every": args.method_every}
    frames = []
    for seed in args.seeds:
        for method in args.methods:
            fields = {"model": args.model, "width": args.width, "method": method, "seeds": (seed,), "subset": args.subset, "lr": args.lr}
            run = lambda config: run_continuous(config, dataset=dataset, progress=not args.no_progress, **sweep)  # noqa: E731
            frames.append(_training.cached_run(args, "continuous", fields, run, sweep=sweep))
    return pd.concat(frames, ignore_index=True)


def curves(rows, methods):
    """The plotted numbers: per (method, epoch) mean and std over seeds of test and train accuracy."""
    out = rows.groupby(["method", "experiment"]).agg(
        n_seeds=("seed", "nunique"),
        test_accuracy_mean=("test_accuracy", "mean"), test_accuracy_std=("test_accuracy", "std"),
        train_accuracy_mean=("train_accuracy", "mean"), train_accuracy_std=("train_accuracy", "std"),
    ).reset_index().rename(columns={"experiment": "epoch"})
    return out.set_index("method").loc[methods].reset_index()


def plot(table, methods, last_arrival: int, title: str):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for colour, method in enumerate(methods):
        c = table[table["method"] == method]
        for ax, col in zip(axes, ("test_accuracy", "train_accuracy")):
            mean, std = 100 * c[f"{col}_mean"], 100 * c[f"{col}_std"].fillna(0.0)
            ax.plot(c["epoch"], mean, label=method, color=f"C{colour}")
            ax.fill_between(c["epoch"], mean - std, mean + std, alpha=0.15, color=f"C{colour}", linewidth=0)
    for ax, what in zip(axes, ("test accuracy (%)", "train accuracy of the epoch (%)")):
        ax.axvline(last_arrival, color="grey", linestyle=":", linewidth=1)
        ax.set(xlabel="epoch", ylabel=what)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = _training.parse_args(__doc__, argv, add_flags, quick_defaults=QUICK, full_defaults=FULL)
    table = curves(metrics(args), args.methods)
    title = (f"Continuous arrival (App. C.4.4): {_training.data_phrase(args)}, {args.model}, {args.arrival_epochs} arrival + "
             f"{args.final_epochs} epochs, method every {args.method_every}, {_training.seeds_phrase(args)}")
    _common.write_table(args, "appendix_continuous", table, plot(table, args.methods, args.arrival_epochs, title))


if __name__ == "__main__":
    main()
