"""Figure 2 of the DASH paper: warm-starting damage grows with the pretraining on half of the data.

Two chunks of 50%: a fresh model trains on the first half for exactly E epochs, then (warm start)
on all the data for a fixed number of epochs (the paper: 300; ``--second-epochs``), or with
``--to-target`` until the epoch's train accuracy reaches 99.9% (at most ``--max-epochs``); E = 0
is the cold start. Panels per model: test accuracy after the full training vs E (left axis) and
the train accuracy reached by the pretraining (right axis); mean +- std over seeds. The paper sees
the damage appear once the pretrain accuracy passes about 50%.

Full mode: the paper's models (MLP and ResNet-18) on all of Fashion-MNIST (the paper: CIFAR-10),
10 seeds, second phase 300 epochs (a GPU job). A CPU-sized run, e.g.
``--models mlp --subset 6000 --second-epochs 30 --seeds 0 1 2`` (or ``--to-target --max-epochs 30``).
``--quick``: digits, MLP of width 32, 300 images, E in {0, 2, 8}, second phase 10 epochs
(ResNet-18 needs 28x28 or larger images).

Each (model, seed) sweep is cached in a resumable run folder. Writes ``figure2.png``, ``.pdf`` and
``figure2.csv`` (the plotted means and stds, and ``n_capped``: seeds whose training on all data
ended below the target train accuracy, circled: with ``--to-target`` those stopped by the epoch
cap); ``--replot`` redraws from the CSV.
"""

from __future__ import annotations

from pathlib import Path

from dashsim.figures import add_config_flags, mode_flag, parse_args, read_table
from dashsim.nn.figures import add_train_flags, data_phrase, finish, run_all, seeds_phrase, task

OUT = Path(__file__).resolve().parent / "out"  # default output folder


def add_flags(parser) -> None:
    from dashsim.nn import MODELS
    from dashsim.nn.protocols.two_phase import TwoPhase

    mode_flag(parser, "--models", nargs="+", choices=tuple(MODELS), full=("mlp", "resnet18"), quick=("mlp",),
              help="networks, one panel each")
    add_train_flags(parser, ("width", "subset", "max_epochs", "seeds", "method"),
                    full={"seeds": tuple(range(10)), "method": "warm"}, quick={"max_epochs": 10})
    add_config_flags(parser, TwoPhase, ["pretrain_epochs"], full={"pretrain_epochs": (0, 2, 5, 10, 20, 50, 100)},
                     quick={"pretrain_epochs": (0, 2, 8)}, title="protocol settings")
    mode_flag(parser, "--second-epochs", type=int, full=300, quick=10,
              help="epochs of the second phase on all the data (the paper's Figure 2: 300)")
    parser.add_argument("--to-target", action="store_true",
                        help="train the second phase until the target train accuracy instead (at most --max-epochs)")


def second_epochs(args):
    """The second phase's fixed epochs, or None with ``--to-target`` (checked: an int >= 1)."""
    if args.to_target:
        return None
    if isinstance(args.second_epochs, bool) or not isinstance(args.second_epochs, int) or args.second_epochs < 1:
        raise ValueError(f"--second-epochs must be an integer >= 1 (the paper: 300), got {args.second_epochs!r}")
    return args.second_epochs


def sweep(args):
    """Run (or read from the cache) the two-phase sweep for every (model, seed); one row per (model, seed, E)."""
    from dashsim.nn import run_two_phase

    epochs, second = tuple(args.pretrain_epochs), second_epochs(args)
    # The run folder's key names the fixed second phase; --to-target runs keep the key they always had.
    sweep = {"pretrain_epochs": epochs, **({"second_epochs": second} if second is not None else {})}
    return run_all(args, [task(args, "two_phase", {"model": model, "width": args.width, "method": args.method,
                                                   "seeds": (seed,), "subset": args.subset,
                                                   "max_epochs": args.max_epochs},
                               run_two_phase, sweep=sweep, pretrain_epochs=epochs, second_epochs=second)
                          for model in args.models for seed in args.seeds])


def summarize(rows):
    """The plotted numbers: seed mean and std of the final test and the pretrain train accuracy per (model, E)."""
    from dashsim.nn.figures import curve_stats

    return curve_stats(rows, ["model", "pretrain_epochs"], ["test_accuracy", "pretrain_train_accuracy"])


def plot(table, method, title, to_target=False):
    import matplotlib.pyplot as plt

    from dashsim import style
    from dashsim.figures import fit_title
    from dashsim.nn.train import TrainConfig

    target = 100 * TrainConfig.target_accuracy  # what the fixed-length second phase is measured against

    grey = {"color": "#555555", "linestyle": ":", "linewidth": 1.8}
    curves = {"test_accuracy": ("final test acc.", style.method_style(method)),
              "pretrain_train_accuracy": ("pretrain train acc.", grey)}
    models = list(dict.fromkeys(table["model"]))
    with style.theme():
        fig, axes = plt.subplots(1, len(models), figsize=(max(7.0, 5.2 * len(models)), 3.9), squeeze=False)
        for ax, model in zip(axes[0], models):
            t = table[table["model"] == model].assign(curve=method)
            twin = ax.twinx()
            for axis, (col, (label, look)) in zip((ax, twin), curves.items()):
                style.seed_lineplot(axis, t, "pretrain_epochs", col, hue="curve", scale=100.0, styles={method: look},
                                    label=lambda _, label=label: label, marker="o", markersize=4)
                if col == "test_accuracy" and "n_capped" in t.columns:
                    style.mark_capped(axis, t, "pretrain_epochs", col, hue="curve", scale=100.0,
                                      styles={method: look}, label=style.CAP_LABEL if to_target else
                                      f"ended below {target:g}% train acc. (some seed)")
                axis.set_ylabel(f"{label} (%)", color=look["color"])
                axis.tick_params(axis="y", colors=look["color"])
            twin.grid(False)
            handles, labels = [], []
            for a in (ax, twin):
                h, lab = a.get_legend_handles_labels()
                handles += h
                labels += lab
                a.get_legend().remove()
            ax.legend(handles, labels, loc="lower left")
            e = t["pretrain_epochs"]
            ax.set(xlabel="pretraining epochs E on 50% of the data", title=model)
            if e.max() > 10 * max(e[e > 0].min(), 1):
                ax.set_xscale("symlog", linthresh=1)
        fit_title(fig, title, fontsize=10)
        fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = parse_args(__doc__, argv, add_flags, default_out=OUT)
    second = second_epochs(args)
    table = read_table(args, "figure2") if args.replot else summarize(sweep(args))
    phase = (f"second phase {second} epochs" if second is not None
             else f"second phase to target, max {args.max_epochs} epochs")
    title = f"Figure 2: {data_phrase(args)}, {args.method} start, {phase}, {seeds_phrase(args)}"
    finish(args, "figure2", table, plot(table, args.method, title, args.to_target))


if __name__ == "__main__":
    main()
