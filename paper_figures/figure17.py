"""Figure 17 of the DASH paper: DASH's sensitivity to alpha (gradient EMA) and lam (minimum shrink), as heatmaps.

The main protocol (paper Section 5) with DASH for every (alpha, lam) of a grid; left: the final
test accuracy (after experiment J), right: the test accuracy averaged over the J experiments; each
cell the mean (+- std) over seeds (:func:`dashsim.nn.summarize`).

Full mode: ResNet-18 on Fashion-MNIST, J=50, seeds 0-4, alpha and lam in {0.1, 0.3, 0.5, 0.7, 0.9}
(a GPU job); CPU-sized: e.g. ``--model mlp --J 10 --subset 10000 --max-epochs 30 --seeds 0``.
``--quick``: digits, MLP of width 32, 300 images, J=3, at most 20 epochs, seed 0, a 2 x 2 grid.
Writes ``figure17.png``, ``.pdf`` and ``figure17.csv`` (the plotted cells, and ``n_capped``: the
(seed, experiment) runs of a cell that stopped at the epoch cap, written in the cell's corner as
"cap N" where N > 0); ``--replot`` redraws from the CSV.
"""

from __future__ import annotations

from pathlib import Path

from dashsim.figures import mode_flag, parse_args, read_table
from dashsim.nn.figures import add_incremental_flags, finish, probed_tasks, run_all, setting_line

OUT = Path(__file__).resolve().parent / "out"  # default output folder

GRID = (0.1, 0.3, 0.5, 0.7, 0.9)
PANELS = (("final_test_accuracy", "final test accuracy (%)"),
          ("avg_test_accuracy", "test accuracy averaged over experiments (%)"))


def add_flags(parser) -> None:
    add_incremental_flags(parser, methods=None, quick={"seeds": (0,)})
    mode_flag(parser, "--alphas", type=float, nargs="+", full=GRID, quick=(0.3, 0.9), help="DASH alpha values")
    mode_flag(parser, "--lams", type=float, nargs="+", full=GRID, quick=(0.3, 0.9), help="DASH lam values")


def cells(metrics):
    """The plotted numbers: per (alpha, lam) the seed mean and std of the final and the average test accuracy."""
    from dashsim import style
    from dashsim.nn import summarize

    stats = summarize(metrics, by=("alpha", "lam")).reset_index()
    columns = ["alpha", "lam"] + [f"{name}_{s}" for name, _ in PANELS for s in ("mean", "std")] + ["n_seeds"]
    out = stats[columns].sort_values(["alpha", "lam"], ignore_index=True)
    return style.with_capped_counts(out, metrics, ["alpha", "lam"])


def plot(table, title):
    import matplotlib.pyplot as plt
    from matplotlib import patheffects

    from dashsim import style
    from dashsim.figures import fit_title

    alphas, lams = sorted(table["alpha"].unique()), sorted(table["lam"].unique())
    shown = table.assign(**{f"{name}_pct": 100 * table[f"{name}_mean"] for name, _ in PANELS})
    with style.theme():
        fig, axes = plt.subplots(1, 2, figsize=(3 + 1.3 * len(lams) * 2, max(3.5, 1.4 + 0.75 * len(alphas))))
        for ax, (name, label) in zip(axes, PANELS):
            style.heatmap(ax, shown, x="lam", y="alpha", value=f"{name}_pct", label=label)
            ax.set(xlabel="lam (minimum shrink)", ylabel="alpha (gradient EMA)", title=label)
            if "n_capped" in table.columns:
                grid = table.pivot(index="alpha", columns="lam", values="n_capped").sort_index(ascending=False)
                for i, alpha in enumerate(grid.index):
                    for k, lam in enumerate(grid.columns):
                        if grid.loc[alpha, lam] > 0:  # legible on every colour of the map: white, outlined
                            ax.text(k + 0.95, i + 0.2, f"cap {int(grid.loc[alpha, lam])}", ha="right", va="center",
                                    fontsize=7, color="white",
                                    path_effects=[patheffects.withStroke(linewidth=1.5, foreground="black")])
        note = ("; cap N = N experiments (x seeds) of the cell stopped at the epoch cap" if "n_capped" in table.columns
                and (table["n_capped"] > 0).any() else "")
        fit_title(fig, title + note, fontsize=9)
        fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = parse_args(__doc__, argv, add_flags, default_out=OUT)
    from dashsim.nn import Dash

    if args.replot:
        table = read_table(args, "figure17")
    else:
        variants = [Dash(alpha=a, lam=lam) for a in args.alphas for lam in args.lams]
        table = cells(run_all(args, probed_tasks(args, "figure17", variants=variants)))
    finish(args, "figure17", table, plot(table, f"Figure 17, DASH alpha x lam: {setting_line(args, f'J={args.J}')}"))


if __name__ == "__main__":
    main()
