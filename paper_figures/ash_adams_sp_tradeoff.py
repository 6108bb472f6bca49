"""Ash & Adams (2020), Section 4: the Shrink & Perturb trade-off between test accuracy and training time.

Passive online learning (:func:`dashsim.nn.run_passive_online`: k new images a round, each round
trained to 99% train accuracy) with Ash & Adams' own S&P between rounds, ``theta <- shrink * theta
+ perturb * theta_fresh`` (method ``sp_ash``), for several shrink values, and cold (random init) as
the reference. One curve per setting, one point per round: test accuracy after the round vs the
optimizer steps spent so far (the training time, independent of the hardware); mean over seeds.
A small shrink generalizes like a fresh start; shrink 1 trains fastest, like a warm start.

Full mode: ResNet-18 on Fashion-MNIST, k=1000 for all 60 rounds, seeds 0-4, shrink in {0.1, 0.3,
0.6, 1.0}, perturb 0.01 (a GPU job; Ash & Adams used CIFAR-10); CPU-sized: e.g. ``--model mlp
--k 1000 --rounds 10 --max-epochs 30 --seeds 0``. ``--quick``: digits, MLP of width 32, k=150,
3 rounds, at most 30 epochs, seed 0, shrink in {0.3, 1.0}.
Writes ``ash_adams_sp_tradeoff.png`` and ``ash_adams_sp_tradeoff.csv`` (the plotted means and stds).
"""

from __future__ import annotations

import _common
import ash_adams_online
import figure6

FULL = dict(ash_adams_online.FULL, shrinks=[0.1, 0.3, 0.6, 1.0], perturb=0.01)
QUICK = dict(ash_adams_online.QUICK, shrinks=[0.3, 1.0], perturb=0.01)


def add_sp_flags(parser) -> None:
    parser.add_argument("--shrinks", type=float, nargs="+", default=None, help="S&P shrink values (full: 0.1 0.3 0.6 1.0)")
    parser.add_argument("--perturb", type=float, default=None, help="scale of the fresh-init copy added (default 0.01)")


def curves(metrics):
    """The plotted numbers: per (setting, round) the seed mean and std of cumulative steps and test accuracy."""
    metrics = metrics.sort_values(["label", "seed", "experiment"])
    metrics = metrics.assign(cumulative_steps=metrics.groupby(["label", "seed"])["steps"].cumsum())
    out = metrics.groupby(["label", "experiment", "n_train"], sort=False).agg(
        cumulative_steps_mean=("cumulative_steps", "mean"), cumulative_steps_std=("cumulative_steps", "std"),
        test_accuracy_mean=("test_accuracy", "mean"), test_accuracy_std=("test_accuracy", "std"), n_seeds=("seed", "nunique"))
    return out.reset_index()


def plot(table, labels, title):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for colour, label in enumerate(labels):
        c = table[table["label"] == label]
        ax.errorbar(c["cumulative_steps_mean"], 100 * c["test_accuracy_mean"], xerr=c["cumulative_steps_std"].fillna(0.0),
                    yerr=100 * c["test_accuracy_std"].fillna(0.0), marker="o", markersize=3, capsize=2, color=f"C{colour}", label=label)
    ax.set(xlabel="training time: optimizer steps over all rounds so far", ylabel="test accuracy after the round (%)")
    ax.legend()
    ax.set_title(figure6.wrapped(title), fontsize=9)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = ash_adams_online.parse_args(__doc__, argv, full=FULL, quick=QUICK, methods=False, extra=add_sp_flags)
    from dashsim.nn import AshShrinkPerturb

    variants = [(f"S&P shrink={s:g}", AshShrinkPerturb(shrink=s, perturb=args.perturb)) for s in args.shrinks]
    variants.append(("cold (random init)", "cold"))
    table = curves(ash_adams_online.online_metrics(args, "ash_adams_sp_tradeoff", ["passive-online"], variants))
    title = f"Ash & Adams, S&P trade-off (perturb {args.perturb:g}), passive online: {ash_adams_online.setting(args)}"
    _common.write_table(args, "ash_adams_sp_tradeoff", table, plot(table, [v[0] for v in variants], title))


if __name__ == "__main__":
    main()
