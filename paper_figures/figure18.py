"""Figure 18 of the DASH paper: Shrink & Perturb's noise scale sigma, swept at a fixed shrink lam.

The main protocol (paper Section 5) with the DASH paper's S&P (``w <- lam * w + N(0, sigma^2)`` on
every Linear/Conv weight and bias) for each sigma; left: the final and the experiment-averaged
test accuracy, right: the optimizer steps averaged over experiments; mean +- std over seeds
(:func:`dashsim.nn.summarize`). sigma = 0 is "shrink only".

Full mode: ResNet-18 on Fashion-MNIST, J=50, seeds 0-4, lam 0.3, sigma in {0, 1e-4, 1e-3, 1e-2,
1e-1} (a GPU job); CPU-sized: e.g. ``--model mlp --J 10 --subset 10000 --max-epochs 30 --seeds 0 1``.
``--quick``: digits, MLP of width 32, 450 images, J=3, at most 30 epochs, seed 0, sigma in {0, 0.01, 0.1}.
Writes ``figure18.png`` and ``figure18.csv`` (the plotted means and stds).
"""

from __future__ import annotations

import _common
import figure6

FULL = dict(figure6.FULL, sigmas=[0.0, 1e-4, 1e-3, 1e-2, 1e-1], lam=0.3)
QUICK = dict(figure6.QUICK, seeds=[0], sigmas=[0.0, 1e-2, 1e-1], lam=0.3)
QUANTITIES = ("final_test_accuracy", "avg_test_accuracy", "avg_steps")


def add_sigma_flags(parser) -> None:
    parser.add_argument("--sigmas", type=float, nargs="+", default=None, help="S&P noise scales (full: 0 1e-4 1e-3 1e-2 1e-1)")
    parser.add_argument("--lam", type=float, default=None, help="S&P shrink factor (default 0.3, the authors' code)")


def points(metrics):
    """The plotted numbers: per sigma the seed mean and std of final/average test accuracy and average steps."""
    from dashsim.nn import summarize

    stats = summarize(metrics, by=("sigma",)).reset_index()
    columns = ["sigma"] + [f"{q}_{s}" for q in QUANTITIES for s in ("mean", "std")] + ["n_seeds"]
    return stats[columns].sort_values("sigma", ignore_index=True)


def plot(table, title):
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(len(table))
    fig, (ax_acc, ax_steps) = plt.subplots(1, 2, figsize=(10, 4))
    for (q, label), scale, ax in ((("final_test_accuracy", "final"), 100, ax_acc), (("avg_test_accuracy", "average over experiments"), 100, ax_acc),
                                  (("avg_steps", "average over experiments"), 1, ax_steps)):
        ax.errorbar(x, table[f"{q}_mean"] * scale, yerr=table[f"{q}_std"].fillna(0.0) * scale, marker="o", capsize=3, label=label)
    for ax in (ax_acc, ax_steps):
        ax.set_xticks(x, [f"{s:g}" for s in table["sigma"]])
        ax.set_xlabel("S&P noise scale sigma")
    ax_acc.set_ylabel("test accuracy (%)")
    ax_steps.set_ylabel("optimizer steps per experiment")
    ax_acc.legend()
    fig.suptitle(figure6.wrapped(title, 130), fontsize=9)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = figure6.parse_args(__doc__, argv, full=FULL, quick=QUICK, methods=False, extra=add_sigma_flags)
    from dashsim.nn import ShrinkPerturb

    variants = [ShrinkPerturb(lam=args.lam, sigma=sigma) for sigma in args.sigmas]
    table = points(figure6.probed_metrics(args, "figure18", variants=variants))
    _common.write_table(args, "figure18", table, plot(table, f"Figure 18, S&P sigma sweep (lam={args.lam:g}): {figure6.setting(args)}"))


if __name__ == "__main__":
    main()
