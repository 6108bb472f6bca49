"""Ash & Adams (2020), Section 3: passive and active online learning curves, warm start vs random init.

Each round adds k labelled images and trains to 99% train accuracy (their code's target):
passive, k random new images (:func:`dashsim.nn.run_passive_online`); active, the k pool images
with the smallest margin between the model's top two class probabilities
(:func:`dashsim.nn.run_active_online`). Warm keeps the weights between rounds; cold (random init)
starts every round from a fresh network. Plotted: test accuracy after each round vs the number of
labelled images, mean +- std over seeds; Ash & Adams found the warm-started curve below the cold one.

Full mode: ResNet-18 on Fashion-MNIST, k=1000 for all 60 rounds, seeds 0-4 (a GPU job; Ash &
Adams used CIFAR-10); CPU-sized: e.g. ``--model mlp --k 1000 --rounds 10 --max-epochs 30 --seeds 0 1``.
``--quick``: digits, MLP of width 32, k=150, 3 rounds, at most 30 epochs, seed 0.
This file also holds the cached online runs that ``ash_adams_sp_tradeoff.py`` uses.
Writes ``ash_adams_online.png`` and ``ash_adams_online.csv`` (the plotted means and stds).
"""

from __future__ import annotations

import _common
import _training
import figure6

FULL = dict(figure6.FULL, k=1000, rounds=None, target=0.99, methods=["warm", "cold"])
QUICK = dict(figure6.QUICK, seeds=[0], k=150, rounds=3, target=0.99, methods=FULL["methods"])
PROTOCOLS = ("passive-online", "active-online")


def add_online_flags(parser) -> None:
    parser.add_argument("--k", type=int, default=None, help="images added per round (full: 1000; quick: 150)")
    parser.add_argument("--rounds", type=int, default=None, help="number of rounds (full: as many as the data allow; quick: 3)")
    parser.add_argument("--target", type=float, default=None, help="train accuracy ending a round (default 0.99, Ash & Adams' code)")


def parse_args(doc: str, argv, *, full: dict = FULL, quick: dict = QUICK, methods: bool = True, extra=None):
    """Figure 6's flags without ``--J``, plus the online ones and ``extra(parser)``'s (defaults None, from full/quick)."""
    def add(parser) -> None:
        add_online_flags(parser)
        if extra is not None:
            extra(parser)

    return figure6.parse_args(doc, argv, full=full, quick=quick, methods=methods, chunks=False, extra=add)


def online_metrics(args, name: str, protocols, variants):
    """Rows of the online protocols, one cached run folder per (protocol, variant, seed).

    ``variants``: ``(label, method)`` pairs, ``method`` a method object or registered name; the rows get
    ``label`` and ``protocol`` columns.
    Through :func:`_training.cached_run`, so a field added to ``TrainConfig`` later keeps the folders.
    """
    import pandas as pd

    from dashsim.nn import load_dataset, make_method, run_active_online, run_passive_online

    runners = {"passive-online": run_passive_online, "active-online": run_active_online}
    dataset = load_dataset(args.data, args.data_root)
    frames = []
    for seed in args.seeds:
        for protocol in protocols:
            for label, method in variants:
                method = make_method(method) if isinstance(method, str) else method
                fields = {"model": args.model, "width": args.width, "method": method.name, "seeds": (seed,),
                          "subset": args.subset, "max_epochs": args.max_epochs}
                run = lambda config, protocol=protocol, method=method: runners[protocol](  # noqa: E731
                    config, k=args.k, rounds=args.rounds, target_accuracy=args.target, dataset=dataset, method=method,
                    progress=not args.no_progress)
                sweep = {"protocol": protocol, "k": args.k, "rounds": args.rounds, "target": args.target,
                         "method_params": method.hyperparameters()}
                frames.append(_training.cached_run(args, name, fields, run, sweep=sweep).assign(label=label))
    return pd.concat(frames, ignore_index=True)


def setting(args) -> str:
    """One line naming the online setting, for titles."""
    return _training.setting_line(args, f"k={args.k}, {args.rounds or 'all'} rounds", extra=f", target {args.target:g}")


def curves(metrics):
    """The plotted numbers: per (protocol, label, round) mean and std over seeds of the test accuracy."""
    out = metrics.groupby(["protocol", "label", "experiment", "n_train"], sort=False).agg(
        test_accuracy_mean=("test_accuracy", "mean"), test_accuracy_std=("test_accuracy", "std"), n_seeds=("seed", "nunique"))
    return out.reset_index()


def plot(table, labels, title):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3), sharey=True)
    for ax, protocol in zip(axes, PROTOCOLS):
        for colour, label in enumerate(labels):
            c = table[(table["protocol"] == protocol) & (table["label"] == label)]
            mean, std = 100 * c["test_accuracy_mean"], 100 * c["test_accuracy_std"].fillna(0.0)
            ax.plot(c["n_train"], mean, marker="o", markersize=3, color=f"C{colour}", label=label)
            ax.fill_between(c["n_train"], mean - std, mean + std, alpha=0.2, color=f"C{colour}", linewidth=0)
        ax.set(xlabel="labelled training images", title=protocol.replace("-", " "))
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].legend()
    fig.suptitle(figure6.wrapped(title, 130), fontsize=9)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    variants = [(method, method) for method in args.methods]
    table = curves(online_metrics(args, "ash_adams_online", PROTOCOLS, variants))
    _common.write_table(args, "ash_adams_online", table, plot(table, args.methods, f"Ash & Adams online learning: {setting(args)}"))


if __name__ == "__main__":
    main()
