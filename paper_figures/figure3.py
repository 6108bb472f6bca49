"""Figure 3: test accuracy, learned features and non-zero-gradient points vs experiment j.

Setting (the paper's, Section 3.3): C=2 classes, K=50 features per class, n=1000 points per
experiment, J=50 experiments, gamma=50, tau=3, exact test accuracy, the authors' legacy data
stream, mean +- std over seeds 0-9; cold / warm / ideal. ``--quick``: seeds 0-2 (J stays 50, so
seed 0's last experiment can still be compared with the paper's reference numbers). Every setting
is a flag (``--K``, ``--J``, ``--seeds``, ...); ``--replot`` redraws from the CSV.

Writes ``<out>/figure3.png``, ``.pdf`` and ``.csv`` (exactly the plotted means and stds), and prints
the last experiment next to the reference numbers of the authors' simulator (seed 0) when the
setting is the paper's.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dashsim.figures import parse_args, read_table, write_table
from dashsim.sim.figures import add_setting_flags, run_seeds, setting_from_args, setting_title
from dashsim.sim.plotting import plot_figure3, plotted_table
from dashsim.sim.settings import PaperSetting, summarize

OUT = Path(__file__).resolve().parent / "out"  # default output folder

# Authors' simulator, seed 0, legacy data, j = 50 (shared/spec/framework.md, "Reference numbers").
PAPER_SEED0_FINAL = {
    "cold": {"n_learned": 91, "n_nonzero": 50000, "test_accuracy": 0.939},
    "warm": {"n_learned": 33, "n_nonzero": 474, "test_accuracy": 0.758},
    "ideal": {"n_learned": 91, "n_nonzero": 6054, "test_accuracy": 0.939},
}


def compare_with_paper(df, s: PaperSetting) -> str:
    """The last experiment of seed 0 and the seed mean, next to the paper's seed-0 numbers."""
    last = df[df.experiment == df.experiment.max()]
    lines = [f"final experiment j = {int(last.experiment.iloc[0])} ({len(s.seeds)} seeds)",
             f"{'method':>6} | {'quantity':>13} | {'ours seed 0':>11} | {'ours mean':>10} | {'paper seed 0':>12}"]
    for method, ref in PAPER_SEED0_FINAL.items():
        rows = last[last.method == method]
        for q, paper in ref.items():
            seed0 = rows.loc[rows.seed == 0, q]
            ours0 = f"{seed0.iloc[0]:.5g}" if len(seed0) else "-"
            lines.append(f"{method:>6} | {q:>13} | {ours0:>11} | {rows[q].mean():>10.5g} | {paper:>12.5g}")
    return "\n".join(lines)


def main(argv=None) -> None:
    args = parse_args(__doc__, argv, lambda p: add_setting_flags(p, quick={"seeds": (0, 1, 2)}),
                      default_out=OUT)
    s = setting_from_args(args)
    df = None if args.replot else run_seeds(s, args.runner, progress=args.progress, cache_dir=args.cache)
    summary = read_table(args, "figure3") if args.replot else plotted_table(summarize(df))
    title = (f"Figure 3: {setting_title(s)}, mean $\\pm$ std over {len(s.seeds)} seeds"
             + (" (quick)" if args.quick else ""))
    write_table(args, "figure3", summary, plot_figure3(summary, title=title))
    paper = s.legacy and s.accuracy == "exact" and s == dataclasses.replace(PaperSetting(), seeds=s.seeds)
    if df is not None and paper:
        print(compare_with_paper(df, s))


if __name__ == "__main__":
    main()
