"""Appendix C.4.4 of the DASH paper: continuous arrival, the method every m epochs, cold / warm / S&P / DASH.

Equal numbers of new training images join every epoch for A epochs (one epoch of training on all
images so far per arrival), then F more epochs train on all of them; the method's step runs every
m epochs while data arrive (cold: a fresh model every m epochs; warm: nothing). Panels: test and
train accuracy vs epoch, mean +- std over seeds; the dotted line marks the last arrival.

Full mode: ResNet-18 on all of Fashion-MNIST (the paper: CIFAR-10), A = F = 500, m = 50, seeds 0-2
(a GPU job). The committed CPU result (``paper_figures/results``; about 7 min on 2 shared cores):
``--model mlp --width 256 --subset 6000 --arrival-epochs 60 --final-epochs 40 --method-every 10
--seeds 0 1 --out paper_figures/results``. ``--quick``: digits, MLP of width 32, 300 images, A=6,
F=4, m=2, lr 0.1. No round of this protocol has an accuracy target, so there is no epoch cap to mark.

Each (method, seed) run is cached in a resumable run folder. Writes ``appendix_continuous.png``, ``.pdf``
and ``appendix_continuous.csv`` (the plotted means and stds per method and epoch); ``--replot`` redraws
from the CSV.
"""

from __future__ import annotations

from pathlib import Path

from dashsim.figures import add_config_flags, parse_args, read_table
from dashsim.nn.figures import (MAIN_METHODS, add_methods_flag, add_train_flags, data_phrase, finish,
                                plot_seed_curves, run_all, seeds_phrase, task)

OUT = Path(__file__).resolve().parent / "out"  # default output folder

SETTINGS = ("arrival_epochs", "final_epochs", "method_every")


def add_flags(parser) -> None:
    from dashsim.nn.protocols.continuous import Continuous

    # Quick: a larger step so that ~25 steps of a tiny run visibly learn.
    add_train_flags(parser, ("model", "width", "subset", "lr", "seeds"), full={"seeds": (0, 1, 2)}, quick={"lr": 0.1})
    add_config_flags(parser, Continuous, SETTINGS, quick={"arrival_epochs": 6, "final_epochs": 4, "method_every": 2},
                     title="protocol settings")
    add_methods_flag(parser, MAIN_METHODS)


def metrics(args):
    """Run (or read from the cache) continuous arrival for every (method, seed); one row per epoch."""
    from dashsim.nn import run_continuous

    sweep = {name: getattr(args, name) for name in SETTINGS}
    return run_all(args, [task(args, "continuous", {"model": args.model, "width": args.width, "method": method,
                                                    "seeds": (seed,), "subset": args.subset, "lr": args.lr},
                               run_continuous, sweep=sweep, **sweep)
                          for seed in args.seeds for method in args.methods])


def curves(rows, methods):
    """The plotted numbers: per (method, epoch) mean and std over seeds of test and train accuracy."""
    from dashsim.stats import seed_stats

    out = seed_stats(rows.rename(columns={"experiment": "epoch"}), ["method", "epoch"],
                     ["test_accuracy", "train_accuracy"])
    return out.set_index("method").loc[list(methods)].reset_index()


def main(argv=None) -> None:
    args = parse_args(__doc__, argv, add_flags, default_out=OUT)
    table = read_table(args, "appendix_continuous") if args.replot else curves(metrics(args), args.methods)
    title = (f"Continuous arrival (App. C.4.4): {data_phrase(args)}, {args.model}, {args.arrival_epochs} arrival + "
             f"{args.final_epochs} epochs, method every {args.method_every}, {seeds_phrase(args)}")
    panels = [("test_accuracy", "test accuracy (%)"), ("train_accuracy", "train accuracy of the epoch (%)")]
    figure = plot_seed_curves(panels, table, x="epoch", order=args.methods, marker=None, xlabel="epoch", title=title)
    for ax in figure.axes:
        ax.axvline(args.arrival_epochs, color="grey", linestyle=":", linewidth=1)
    finish(args, "appendix_continuous", table, figure)


if __name__ == "__main__":
    main()
