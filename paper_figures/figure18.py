"""Figure 18 of the DASH paper: Shrink & Perturb's noise scale sigma, swept at a fixed shrink lam.

The main protocol (paper Section 5) with the DASH paper's S&P (``w <- lam * w + N(0, sigma^2)`` on
every Linear/Conv weight and bias) for each sigma; left: the final and the experiment-averaged
test accuracy, right: the optimizer steps averaged over experiments; mean +- std over seeds
(:func:`dashsim.nn.summarize`). sigma = 0 is "shrink only".

Full mode: ResNet-18 on Fashion-MNIST, J=50, seeds 0-4, lam 0.3, sigma in {0, 1e-4, 1e-3, 1e-2,
1e-1} (a GPU job); CPU-sized: e.g. ``--model mlp --J 10 --subset 10000 --max-epochs 30 --seeds 0 1``.
``--quick``: digits, MLP of width 32, 300 images, J=3, at most 20 epochs, seed 0, sigma in {0, 0.01, 0.1}.
Writes ``figure18.png``, ``.pdf`` and ``figure18.csv`` (the plotted means and stds, and ``n_capped``:
the (seed, experiment) runs of a sigma that stopped at the epoch cap, circled); ``--replot`` redraws
from the CSV.
"""

from __future__ import annotations

from pathlib import Path

from dashsim.figures import add_config_flags, mode_flag, parse_args, read_table
from dashsim.nn.figures import add_incremental_flags, finish, probed_tasks, run_all, setting_line

OUT = Path(__file__).resolve().parent / "out"  # default output folder

QUANTITIES = ("final_test_accuracy", "avg_test_accuracy", "avg_steps")
LABELS = {"final_test_accuracy": "final", "avg_test_accuracy": "average over experiments",
          "avg_steps": "average over experiments"}


def add_flags(parser) -> None:
    from dashsim.nn import ShrinkPerturb

    add_incremental_flags(parser, methods=None, quick={"seeds": (0,)})
    mode_flag(parser, "--sigmas", type=float, nargs="+", full=(0.0, 1e-4, 1e-3, 1e-2, 1e-1), quick=(0.0, 1e-2, 1e-1),
              help="S&P noise scales")
    add_config_flags(parser, ShrinkPerturb, ["lam"], title="S&P")


def points(metrics):
    """The plotted numbers: per sigma the seed mean and std of final/average test accuracy and average steps."""
    from dashsim.nn import summarize

    stats = summarize(metrics, by=("sigma",)).reset_index()
    columns = ["sigma"] + [f"{q}_{s}" for q in QUANTITIES for s in ("mean", "std")] + ["n_seeds"]
    out = stats[columns].sort_values("sigma", ignore_index=True)
    if "converged" in metrics.columns:
        capped = (~metrics["converged"].astype(bool)).groupby(metrics["sigma"]).sum()
        out["n_capped"] = [int(capped.get(s, 0)) for s in out["sigma"]]
    return out


def plot(table, title):
    import matplotlib.pyplot as plt
    import pandas as pd

    from dashsim import style
    from dashsim.figures import fit_title

    # Tidy: one row per (sigma, quantity) with value_mean / value_std; sigma on an even grid (0 has no log).
    position = {s: k for k, s in enumerate(table["sigma"])}
    long = pd.concat([pd.DataFrame({"position": table["sigma"].map(position), "quantity": LABELS[q],
                                    "value_mean": table[f"{q}_mean"], "value_std": table[f"{q}_std"],
                                    **({"n_capped": table["n_capped"]} if "n_capped" in table.columns else {}),
                                    "panel": "steps" if q == "avg_steps" else "accuracy"}) for q in QUANTITIES],
                     ignore_index=True)
    looks = {"final": {"color": style.method_style("sp")["color"], "linestyle": "-"},
             "average over experiments": {"color": style.method_style("sp")["color"], "linestyle": "--"}}
    with style.theme():
        fig, (ax_acc, ax_steps) = plt.subplots(1, 2, figsize=(10, 4))
        for ax, panel, scale in ((ax_acc, "accuracy", 100.0), (ax_steps, "steps", 1.0)):
            part = long[long["panel"] == panel]
            order = list(dict.fromkeys(part["quantity"]))
            style.seed_lineplot(ax, part, "position", "value", hue="quantity", order=order, styles=looks, scale=scale,
                                marker="o", markersize=5)
            if "n_capped" in part.columns:
                style.mark_capped(ax, part, "position", "value", hue="quantity", order=order, styles=looks, scale=scale)
            ax.set_xticks(range(len(position)), [f"{s:g}" for s in position])
            ax.set_xlabel("S&P noise scale sigma")
            ax.legend()
        ax_acc.set_ylabel("test accuracy (%)")
        ax_steps.set_ylabel("optimizer steps per experiment")
        fit_title(fig, title, fontsize=9)
        fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = parse_args(__doc__, argv, add_flags, default_out=OUT)
    from dashsim.nn import ShrinkPerturb

    if args.replot:
        table = read_table(args, "figure18")
    else:
        variants = [ShrinkPerturb(lam=args.lam, sigma=sigma) for sigma in args.sigmas]
        table = points(run_all(args, probed_tasks(args, "figure18", variants=variants)))
    title = f"Figure 18, S&P sigma sweep (lam={args.lam:g}): {setting_line(args, f'J={args.J}')}"
    finish(args, "figure18", table, plot(table, title))


if __name__ == "__main__":
    main()
