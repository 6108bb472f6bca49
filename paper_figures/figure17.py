"""Figure 17 of the DASH paper: DASH's sensitivity to alpha (gradient EMA) and lam (minimum shrink), as heatmaps.

The main protocol (paper Section 5) with DASH for every (alpha, lam) of a grid; left: the final
test accuracy (after experiment J), right: the test accuracy averaged over the J experiments; each
cell the mean (+- std) over seeds (:func:`dashsim.nn.summarize`).

Full mode: ResNet-18 on Fashion-MNIST, J=50, seeds 0-4, alpha and lam in {0.1, 0.3, 0.5, 0.7, 0.9}
(a GPU job); CPU-sized: e.g. ``--model mlp --J 10 --subset 10000 --max-epochs 30 --seeds 0``.
``--quick``: digits, MLP of width 32, 450 images, J=3, at most 30 epochs, seed 0, a 2 x 2 grid.
Writes ``figure17.png`` and ``figure17.csv`` (the plotted cells).
"""

from __future__ import annotations

import _common
import figure6

GRID = [0.1, 0.3, 0.5, 0.7, 0.9]
FULL = dict(figure6.FULL, alphas=GRID, lams=GRID)
QUICK = dict(figure6.QUICK, seeds=[0], alphas=[0.3, 0.9], lams=[0.3, 0.9])
PANELS = (("final_test_accuracy", "final test accuracy (%)"), ("avg_test_accuracy", "test accuracy averaged over experiments (%)"))


def add_grid_flags(parser) -> None:
    parser.add_argument("--alphas", type=float, nargs="+", default=None, help="DASH alpha values (full: 0.1 0.3 0.5 0.7 0.9)")
    parser.add_argument("--lams", type=float, nargs="+", default=None, help="DASH lam values (full: 0.1 0.3 0.5 0.7 0.9)")


def cells(metrics):
    """The plotted numbers: per (alpha, lam) the seed mean and std of the final and the average test accuracy."""
    from dashsim.nn import summarize

    stats = summarize(metrics, by=("alpha", "lam")).reset_index()
    columns = ["alpha", "lam"] + [f"{name}_{s}" for name, _ in PANELS for s in ("mean", "std")] + ["n_seeds"]
    return stats[columns].sort_values(["alpha", "lam"], ignore_index=True)


def plot(table, title):
    import matplotlib.pyplot as plt

    alphas, lams = sorted(table["alpha"].unique()), sorted(table["lam"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(4 + 1.4 * len(lams) * 2, max(3.5, 1.2 + 0.9 * len(alphas))))
    for ax, (name, label) in zip(axes, PANELS):
        grid = table.pivot(index="alpha", columns="lam", values=f"{name}_mean").loc[alphas, lams] * 100
        spread = table.pivot(index="alpha", columns="lam", values=f"{name}_std").loc[alphas, lams] * 100
        image = ax.imshow(grid.to_numpy(), cmap="viridis", origin="lower", aspect="auto")
        for i in range(len(alphas)):
            for k in range(len(lams)):
                std = spread.iat[i, k]
                ax.text(k, i, f"{grid.iat[i, k]:.1f}" + (f"\n$\\pm${std:.1f}" if std == std else ""), ha="center", va="center",
                        fontsize=7,
                        bbox={"facecolor": "white", "alpha": 0.6, "linewidth": 0, "pad": 1})
        ax.set_xticks(range(len(lams)), [f"{v:g}" for v in lams])
        ax.set_yticks(range(len(alphas)), [f"{v:g}" for v in alphas])
        ax.set(xlabel="lam (minimum shrink)", ylabel="alpha (gradient EMA)", title=label)
        fig.colorbar(image, ax=ax)
    fig.suptitle(figure6.wrapped(title, 130), fontsize=9)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = figure6.parse_args(__doc__, argv, full=FULL, quick=QUICK, methods=False, extra=add_grid_flags)
    from dashsim.nn import Dash

    variants = [Dash(alpha=a, lam=lam) for a in args.alphas for lam in args.lams]
    table = cells(figure6.probed_metrics(args, "figure17", variants=variants))
    _common.write_table(args, "figure17", table, plot(table, f"Figure 17, DASH alpha x lam: {figure6.setting(args)}"))


if __name__ == "__main__":
    main()
