"""Figure 2 of the DASH paper: warm-starting damage grows with the pretraining on half of the data.

Two chunks of 50%: a fresh model trains on the first half for exactly E epochs, then (warm start)
on all the data until the epoch's train accuracy reaches 99.9%; E = 0 is the cold start. Panels
per model: test accuracy after the full training vs E (left axis) and the train accuracy reached
by the pretraining (right axis); mean +- std over seeds. The paper sees the damage appear once the
pretrain accuracy passes about 50%.

Full mode: the paper's models (MLP and ResNet-18) on all of Fashion-MNIST (the paper: CIFAR-10),
10 seeds (a GPU job). A CPU-sized run, e.g. ``--models mlp --subset 6000 --max-epochs 30 --seeds 0 1 2``.
``--quick``: digits, MLP of width 32 (ResNet-18 needs 28x28 or larger images).

Each (model, seed) sweep is cached in a resumable run folder. Writes ``figure2.png`` and
``figure2.csv`` (the plotted means and stds).
"""

from __future__ import annotations

import _common
import _training

FULL = {"models": ["mlp", "resnet18"], "width": 1000, "pretrain_epochs": [0, 2, 5, 10, 20, 50, 100], "subset": None,
        "max_epochs": 100, "seeds": list(range(10)), "method": "warm"}
QUICK = dict(FULL, models=["mlp"], width=32, pretrain_epochs=[0, 2, 8], subset=400, max_epochs=10, seeds=[0, 1])


def add_flags(parser) -> None:
    parser.add_argument("--models", nargs="+", default=None, help="networks, one panel each (full: mlp resnet18; quick: mlp)")
    _training.add_run_flags(parser, FULL, QUICK, skip=("model", "methods"), unit="training on all data")
    _training.int_list(parser, "--pretrain-epochs", "pretraining lengths E on the first half (full: 0 2 5 10 20 50 100)")
    parser.add_argument("--method", default=None, help="step between the two phases (default: warm, the paper's)")


def sweep(args):
    """Run (or read from the cache) the two-phase sweep for every (model, seed); one row per (model, seed, E)."""
    import pandas as pd

    from dashsim.nn import load_dataset, run_two_phase

    dataset = load_dataset(args.data, args.data_root)
    frames = []
    for model in args.models:
        for seed in args.seeds:
            fields = {"model": model, "width": args.width, "method": args.method, "seeds": (seed,), "subset": args.subset,
                      "max_epochs": args.max_epochs}
            epochs = tuple(args.pretrain_epochs)
            run = lambda config: run_two_phase(config, epochs, dataset=dataset, progress=not args.no_progress)  # noqa: E731
            frames.append(_training.cached_run(args, "two_phase", fields, run, sweep={"pretrain_epochs": epochs}))
    return pd.concat(frames, ignore_index=True)


def summarize(rows):
    """The plotted numbers: mean and std over seeds of final test accuracy and pretrain train accuracy per (model, E)."""
    out = rows.groupby(["model", "pretrain_epochs"], sort=False).agg(
        n_seeds=("seed", "nunique"),
        test_accuracy_mean=("test_accuracy", "mean"), test_accuracy_std=("test_accuracy", "std"),
        pretrain_train_accuracy_mean=("pretrain_train_accuracy", "mean"), pretrain_train_accuracy_std=("pretrain_train_accuracy", "std"),
    )
    return out.reset_index()  # models in the order asked, E in the order swept


def plot(table, title):
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(table["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(max(7.0, 5.2 * len(models)), 3.8), squeeze=False)
    for ax, model in zip(axes[0], models):
        t = table[table["model"] == model]
        e = t["pretrain_epochs"]
        for axis, col, colour, label in ((ax, "test_accuracy", "C0", "final test acc."),
                                         (ax.twinx(), "pretrain_train_accuracy", "C1", "pretrain train acc.")):
            mean, std = 100 * t[f"{col}_mean"], 100 * t[f"{col}_std"].fillna(0.0)
            axis.plot(e, mean, "o-", color=colour, label=label)
            axis.fill_between(e, mean - std, mean + std, color=colour, alpha=0.2, linewidth=0)
            axis.set_ylabel(f"{label} (%)", color=colour)
            axis.tick_params(axis="y", colors=colour)
        ax.set(xlabel="pretraining epochs E on 50% of the data", title=model)
        if e.max() > 10 * max(e[e > 0].min(), 1):
            ax.set_xscale("symlog", linthresh=1)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = _training.parse_args(__doc__, argv, add_flags, quick_defaults=QUICK, full_defaults=FULL)
    table = summarize(sweep(args))
    title = (f"Figure 2: {_training.data_phrase(args)}, {args.method} start, max {args.max_epochs} epochs, "
             f"{_training.seeds_phrase(args)}")
    _common.write_table(args, "figure2", table, plot(table, title))


if __name__ == "__main__":
    main()
