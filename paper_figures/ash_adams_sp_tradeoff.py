"""Ash & Adams (2020), Section 4: the Shrink & Perturb trade-off between test accuracy and training time.

Passive online learning (:func:`dashsim.nn.run_passive_online`: k new images a round, each round
trained to 99% train accuracy) with Ash & Adams' own S&P between rounds, ``theta <- shrink * theta
+ perturb * theta_fresh`` (method ``sp_ash``), for several shrink values, and cold (random init) as
the reference. One curve per setting, one point per round: test accuracy after the round vs the
optimizer steps spent so far (the training time, independent of the hardware); mean over seeds.
A small shrink generalizes like a fresh start; shrink 1 trains fastest, like a warm start.

Full mode: ResNet-18 on Fashion-MNIST, k=1000 for all 60 rounds, seeds 0-4, shrink in {0.1, 0.3,
0.6, 1.0}, perturb 0.01 (a GPU job; Ash & Adams used CIFAR-10); CPU-sized: e.g. ``--model mlp
--k 1000 --rounds 10 --max-epochs 30 --seeds 0``. ``--quick``: digits, MLP of width 32, 300 images,
k=100, 3 rounds, at most 20 epochs, seed 0, shrink in {0.3, 1.0}.
Writes ``ash_adams_sp_tradeoff.png``, ``.pdf`` and ``ash_adams_sp_tradeoff.csv`` (the plotted means and
stds, and ``n_capped``: seeds whose round stopped at the epoch cap, circled); ``--replot`` redraws from
the CSV.
"""

from __future__ import annotations

from pathlib import Path

from dashsim.figures import add_config_flags, mode_flag, parse_args, read_table
from dashsim.nn.figures import add_online_flags, finish, online_setting, online_tasks, run_all

OUT = Path(__file__).resolve().parent / "out"  # default output folder

COLD = "cold (random init)"


def add_flags(parser) -> None:
    from dashsim.nn import AshShrinkPerturb

    add_online_flags(parser)
    mode_flag(parser, "--shrinks", type=float, nargs="+", full=(0.1, 0.3, 0.6, 1.0), quick=(0.3, 1.0),
              help="S&P shrink values, one curve each")
    add_config_flags(parser, AshShrinkPerturb, ["perturb"], title="S&P")


def curves(metrics):
    """The plotted numbers: per (setting, round) the seed mean and std of cumulative steps and test accuracy."""
    from dashsim.nn.figures import curve_stats

    metrics = metrics.sort_values(["label", "seed", "experiment"])
    metrics = metrics.assign(cumulative_steps=metrics.groupby(["label", "seed"])["steps"].cumsum())
    return curve_stats(metrics, ["label", "experiment", "n_train"], ["cumulative_steps", "test_accuracy"])


def plot(table, labels, title):
    """Test accuracy against the steps spent so far, one curve per setting: seed means with +- std bars both ways."""
    import matplotlib.pyplot as plt

    from dashsim import style
    from dashsim.figures import fit_title

    # Each S&P setting its own look from the project's extra styles; cold keeps its method colour.
    looks = style.method_styles([label for label in labels if label != COLD])
    looks.update({COLD: style.method_style("cold")})
    with style.theme():
        fig, ax = plt.subplots(figsize=(7.5, 4.8))
        for label in labels:
            c, look = table[table["label"] == label], looks[label]
            ax.errorbar(c["cumulative_steps_mean"], 100 * c["test_accuracy_mean"],
                        xerr=c["cumulative_steps_std"].fillna(0.0), yerr=100 * c["test_accuracy_std"].fillna(0.0),
                        marker="o", markersize=3.5, capsize=2, elinewidth=0.8, label=label, **look)
        if "n_capped" in table.columns:  # x is each point's mean cumulative steps
            style.mark_capped(ax, table.assign(steps=table["cumulative_steps_mean"]), "steps", "test_accuracy",
                              hue="label", order=labels, styles=looks, scale=100.0)
        ax.set(xlabel="training time: optimizer steps over all rounds so far",
               ylabel="test accuracy after the round (%)")
        ax.legend()
        fit_title(ax, title, fontsize=9)
        fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = parse_args(__doc__, argv, add_flags, default_out=OUT)
    from dashsim.nn import AshShrinkPerturb

    variants = [(f"S&P shrink={s:g}", AshShrinkPerturb(shrink=s, perturb=args.perturb)) for s in args.shrinks]
    variants.append((COLD, "cold"))
    if args.replot:
        table = read_table(args, "ash_adams_sp_tradeoff")
    else:
        table = curves(run_all(args, online_tasks(args, "ash_adams_sp_tradeoff", ["passive-online"], variants)))
    title = f"Ash & Adams, S&P trade-off (perturb {args.perturb:g}), passive online: {online_setting(args)}"
    finish(args, "ash_adams_sp_tradeoff", table, plot(table, [v[0] for v in variants], title))


if __name__ == "__main__":
    main()
