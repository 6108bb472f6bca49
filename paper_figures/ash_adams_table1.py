"""Ash & Adams (2020) Table 1: warm start vs random init when the training set grows from 50% to 100%.

Batch updating: a model trains on a random 50% of the training set until 99% train accuracy (their
code's criterion), then on 100% (warm start); the baseline trains on 100% from a random init. Both
are the main protocol with J = 2 chunks and a 99% target: ``warm`` and ``cold`` share the first
experiment (same seed), and their second experiment's test accuracy is the table's entry.
Their models and recipe by default: the quarter-width CIFAR ResNet-18 (``resnet18_ash``), the
100-100 MLP without BatchNorm (``mlp_ash``) and logistic regression, trained with the
``ash_adams`` preset (:data:`dashsim.nn.train.PRESETS`: SGD without momentum at lr 1e-3 or Adam,
a new optimizer every round, inputs normalized with mean = std = 0.5, train to 99%, cap 10,000
epochs; JordanAsh/warm_start ``run.py``: ``--lr`` 1e-3, ``optim.SGD`` without momentum re-created
each round, ``Normalize`` by 0.5, class ``mlp``; ``resnet.py``: ``ResNet18``; the lines are cited
where the preset and the models are defined). ``--preset none`` and ``--models mlp resnet18``
run the DASH paper's models and recipe instead. Mean (std) over seeds. The paper's numbers
(ResNet-18, SGD) sit beside ours only where the data set is the same; Fashion-MNIST is not in
their table.

Full mode: all three models, SGD and Adam, all of Fashion-MNIST, seeds 0-4 (a GPU job). A CPU-sized
run, e.g. ``--models mlp_ash logistic --subset 10000 --seeds 0 1 2``. ``--quick``: digits, 300
images, ``mlp_ash`` and logistic regression with the preset, SGD at lr 0.1 (lr 1e-3 learns
nothing in a smoke test's few steps), cap 30 (ResNet-18 needs 28x28 or larger images).
Writes ``ash_adams_table1.png`` and ``.pdf`` (the table) and ``ash_adams_table1.csv`` (its
numbers, with ``n_capped``: phases that stopped at the epoch cap); ``--replot`` redraws from the CSV.
"""

from __future__ import annotations

from pathlib import Path

from dashsim.figures import mode_flag, parse_args, read_table, render_table
from dashsim.nn.figures import (PAPER_SEEDS, add_train_flags, data_phrase, finish, incremental_tasks, run_all,
                                seeds_phrase)

OUT = Path(__file__).resolve().parent / "out"  # default output folder

# Ash & Adams, Table 1, ResNet-18 with SGD: test accuracy (%) (random init, warm start), from the spec.
PAPER = {("cifar10", "resnet18", "sgd"): (56.2, 51.7), ("cifar100", "resnet18", "sgd"): (18.2, 15.5),
         ("svhn", "resnet18", "sgd"): (89.4, 87.5)}
PAPER_DATA = ("cifar10", "cifar100", "svhn")
TARGET = 0.99  # Ash & Adams' code trains each phase to 99% train accuracy
ASH_MAX_EPOCHS = 10_000  # the full-mode cap: the ash_adams preset's (none in practice)


def add_flags(parser) -> None:
    from dashsim.nn import MODELS
    from dashsim.nn.train import PRESETS

    mode_flag(parser, "--models", nargs="+", choices=tuple(MODELS), full=("resnet18_ash", "mlp_ash", "logistic"),
              quick=("mlp_ash", "logistic"), help="networks (Ash & Adams': resnet18_ash, mlp_ash)")
    mode_flag(parser, "--optimizers", nargs="+", choices=("sgd", "adam", "sam"), full=("sgd", "adam"),
              help="optimizers")
    mode_flag(parser, "--preset", choices=(*PRESETS, "none"), full="ash_adams",
              help="training recipe (dashsim.nn.train.PRESETS; none: the TrainConfig defaults)")
    add_train_flags(parser, ("width", "subset", "max_epochs", "seeds"),
                    full={"seeds": PAPER_SEEDS, "max_epochs": ASH_MAX_EPOCHS}, quick={"max_epochs": 30})
    mode_flag(parser, "--lr", type=float, full=None, quick=0.1,
              help="SGD's learning rate (none: the preset's, Ash & Adams' 1e-3)")
    mode_flag(parser, "--adam-lr", type=float, full=0.001, help="Adam's learning rate (Ash & Adams' 1e-3)")


def run_fields(args, optimizer: str) -> dict:
    """The TrainConfig fields of one optimizer's runs: the preset's, then the flags' (cap, target, lr)."""
    from dashsim.nn.train import PRESETS

    fields = dict(PRESETS[args.preset]) if args.preset != "none" else {}
    fields.update(max_epochs=args.max_epochs, target_accuracy=TARGET, optimizer=optimizer)
    lr = args.adam_lr if optimizer == "adam" else args.lr
    if lr is not None:
        fields["lr"] = lr
    return fields


def compute(args):
    grid = [{**run_fields(args, optimizer), "model": model, "width": args.width, "method": method, "J": 2,
             "seeds": (seed,), "subset": args.subset}
            for model in args.models for optimizer in args.optimizers for seed in args.seeds
            for method in ("cold", "warm")]
    return run_all(args, incremental_tasks(args, "ash_adams", grid))


def tabulate(metrics, data: str):
    """The table's numbers: per (model, optimizer) test accuracy after 100% for random init and warm start.

    ``converged_fraction`` and ``n_capped``: the share and the number of phases (both methods, all
    seeds) that reached 99% train accuracy / stopped at the epoch cap.
    """
    import pandas as pd

    final = metrics[metrics["experiment"] == 2]
    rows = []
    for (model, optimizer), g in final.groupby(["model", "optimizer"], sort=False):
        cold, warm = (g[g["method"] == m].set_index("seed") for m in ("cold", "warm"))
        phases = metrics[(metrics["model"] == model) & (metrics["optimizer"] == optimizer)]
        paper = PAPER.get((data, model, optimizer))
        note = ("" if paper else "not in the spec's excerpt") if data in PAPER_DATA else "different data set"
        rows.append({
            "model": model, "optimizer": optimizer, "n_seeds": len(cold),
            "random_init_mean": cold["test_accuracy"].mean(), "random_init_std": cold["test_accuracy"].std(),
            "warm_start_mean": warm["test_accuracy"].mean(), "warm_start_std": warm["test_accuracy"].std(),
            "warm_minus_random_mean": (warm["test_accuracy"] - cold["test_accuracy"]).mean(),
            "converged_fraction": pd.concat([cold, warm])["converged"].astype(bool).mean(),
            "paper_random_init": paper[0] / 100 if paper else float("nan"),
            "paper_warm_start": paper[1] / 100 if paper else float("nan"), "paper_note": note,
            "n_capped": int((~phases["converged"].astype(bool)).sum()),
        })
    return pd.DataFrame(rows)


def render(table, title):
    import math

    from dashsim.nn.tables import format_mean_std

    def paper(value, note):
        return f"{100 * value:.1f}" if not math.isnan(value) else note

    cells = [[r.model, r.optimizer, format_mean_std(r.random_init_mean, r.random_init_std, scale=100),
              format_mean_std(r.warm_start_mean, r.warm_start_std, scale=100), f"{100 * r.warm_minus_random_mean:+.1f}",
              f"{100 * r.converged_fraction:.0f}%", paper(r.paper_random_init, r.paper_note),
              paper(r.paper_warm_start, r.paper_note)]
             for r in table.itertuples()]
    header = ["model", "optimizer", "random init (%)", "warm start (%)", "warm - random", "reached 99%",
              "paper random", "paper warm"]
    reference = "; ".join(f"{d} {r:.1f} vs {w:.1f}" for (d, _, _), (r, w) in PAPER.items())
    return render_table(cells, header, title,
                        footer=f"Ash & Adams, ResNet-18 + SGD, random init vs warm start (%): {reference}")


def main(argv=None) -> None:
    args = parse_args(__doc__, argv, add_flags, default_out=OUT)
    table = read_table(args, "ash_adams_table1") if args.replot else tabulate(compute(args), args.data)
    recipe = "Ash & Adams' recipe" if args.preset == "ash_adams" else f"preset {args.preset}"
    title = (f"Ash & Adams Table 1 (50% -> 100%, train to 99%): {data_phrase(args)}, {recipe}"
             f"{f', SGD lr {args.lr:g}' if args.lr is not None else ''}, max {args.max_epochs} epochs/phase, "
             f"{seeds_phrase(args)}")
    finish(args, "ash_adams_table1", table, render(table, title))


if __name__ == "__main__":
    main()
