"""Figure 6 of the DASH paper: gradient norm at the start of an experiment vs the steps it then takes to converge.

The main protocol (paper Section 5) for cold, warm, S&P and DASH; at the start of experiment j
(after the method's step, before training) the probe :func:`dashsim.nn.diagnostics.gradient_norm_probe`
measures ``||grad L(T_{1:j})||`` in eval mode. One point per (method, seed, experiment): x = that
norm, y = the optimizer steps experiment j took to reach 99.9% train accuracy (log-log axes).

Full mode: the paper's model, J and seeds on the offline data (ResNet-18, J=50, all of Fashion-MNIST,
seeds 0-4; a GPU job). A
CPU-sized run, e.g. ``--model mlp --J 10 --subset 10000 --max-epochs 30 --seeds 0 1 2``.
``--quick``: digits, MLP of width 32, 300 images, J=3, at most 20 epochs, 2 seeds.

``figure7.py`` reads exactly these runs (same flags, same cache). Writes ``figure6.png``, ``.pdf``
and ``figure6.csv`` (the plotted points; experiments that stopped at the epoch cap, whose step
count is a lower bound, are open circles, as in every figure); ``--replot`` redraws from the CSV.
"""

from __future__ import annotations

from pathlib import Path

from dashsim.figures import parse_args, read_table
from dashsim.nn.figures import add_incremental_flags, finish, probed_tasks, run_all, setting_line

OUT = Path(__file__).resolve().parent / "out"  # default output folder


def plot(table, methods, title):
    """log-log scatter of steps against the gradient norm, one colour per method; capped experiments as open circles."""
    import matplotlib.pyplot as plt

    from dashsim import style
    from dashsim.figures import fit_title

    with style.theme():
        fig, ax = plt.subplots(figsize=(7, 4.8))
        for method, look in style.method_styles(methods).items():
            rows = table[table["method"] == method]
            done, capped = rows[rows["converged"].astype(bool)], rows[~rows["converged"].astype(bool)]
            ax.scatter(done["grad_norm"], done["steps"], s=16, alpha=0.75, color=look["color"], label=method)
            # Experiments that hit the epoch cap: their step count is a lower bound.
            if len(capped):
                ax.scatter(capped["grad_norm"], capped["steps"], s=30, alpha=0.9, facecolors="none",
                           edgecolors=look["color"], linewidths=style.CAP_MARKER["markeredgewidth"],
                           label=f"{method}: stopped at the epoch cap ({len(capped)})")
        ax.set(xscale="log", yscale="log",
               xlabel="gradient norm at the start of experiment j (eval mode, on $T_{1:j}$)",
               ylabel="optimizer steps in experiment j")
        ax.legend()
        fit_title(ax, title, fontsize=9)
        fig.tight_layout()
    return fig


def main(argv=None) -> None:
    from dashsim.nn.diagnostics import gradient_norm_probe

    args = parse_args(__doc__, argv, add_incremental_flags, default_out=OUT)
    if args.replot:
        table = read_table(args, "figure6")
    else:
        rows = run_all(args, probed_tasks(args, "figure6", probe=gradient_norm_probe))
        table = rows[["method", "seed", "experiment", "n_train", "grad_norm", "steps", "converged"]]
    finish(args, "figure6", table, plot(table, args.methods, f"Figure 6: {setting_line(args, f'J={args.J}')}"))


if __name__ == "__main__":
    main()
