"""Ash & Adams (2020), Section 3: passive and active online learning curves, warm start vs random init.

Each round adds k labelled images and trains to 99% train accuracy (their code's target):
passive, k random new images (:func:`dashsim.nn.run_passive_online`); active, the k pool images
with the smallest margin between the model's top two class probabilities
(:func:`dashsim.nn.run_active_online`). Warm keeps the weights between rounds; cold (random init)
starts every round from a fresh network. Plotted: test accuracy after each round vs the number of
labelled images, mean +- std over seeds; Ash & Adams found the warm-started curve below the cold one.

Full mode: ResNet-18 on Fashion-MNIST, k=1000 for all 60 rounds, seeds 0-4 (a GPU job; Ash &
Adams used CIFAR-10); CPU-sized: e.g. ``--model mlp --k 1000 --rounds 10 --max-epochs 30 --seeds 0 1``.
``--quick``: digits, MLP of width 32, 300 images, k=100, 3 rounds, at most 20 epochs, seed 0.
Writes ``ash_adams_online.png``, ``.pdf`` and ``ash_adams_online.csv`` (the plotted means and stds, and
``n_capped``: seeds whose round stopped at the epoch cap, circled); ``--replot`` redraws from the CSV.
"""

from __future__ import annotations

from pathlib import Path

from dashsim.figures import parse_args, read_table
from dashsim.nn.figures import (ONLINE_PROTOCOLS, add_methods_flag, add_online_flags, curve_stats, finish,
                                online_setting, online_tasks, plot_seed_curves, run_all)

OUT = Path(__file__).resolve().parent / "out"  # default output folder


def add_flags(parser) -> None:
    add_online_flags(parser)
    add_methods_flag(parser, ("warm", "cold"))


def curves(metrics):
    """The plotted numbers: per (protocol, label, round) mean and std over seeds of the test accuracy, n_capped."""
    return curve_stats(metrics, ["protocol", "label", "experiment", "n_train"], ["test_accuracy"])


def main(argv=None) -> None:
    args = parse_args(__doc__, argv, add_flags, default_out=OUT)
    if args.replot:
        table = read_table(args, "ash_adams_online")
    else:
        variants = [(method, method) for method in args.methods]
        table = curves(run_all(args, online_tasks(args, "ash_adams_online", ONLINE_PROTOCOLS, variants)))
    figure = plot_seed_curves([("test_accuracy", "test accuracy (%)")], table, x="n_train", hue="label",
                              order=args.methods, facet="protocol", facet_order=ONLINE_PROTOCOLS, sharey=True,
                              xlabel="labelled training images",
                              title=f"Ash & Adams online learning: {online_setting(args)}")
    finish(args, "ash_adams_online", table, figure)


if __name__ == "__main__":
    main()
