"""``dashsim simulate``: the paper's Figure 3 on the synthetic setting, as one self-describing run folder.

Writes into ``--out`` (default ``runs/figure3``): ``figure3.png`` and ``figure3.pdf`` (three panels,
mean +- std over seeds), ``figure3.csv`` (exactly the plotted numbers, :func:`dashsim.sim.plotting.plotted_table`),
``config.json`` (setting, methods, output files, versions, git commit) and ``cache/`` (one CSV per
finished seed, so an interrupted run resumes where it stopped). Every flag comes from
:class:`dashsim.sim.settings.PaperSetting`, so the defaults are the paper's.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from .._config import add_dataclass_arguments, add_progress_flag, config_to_dict, dataclass_from_args, plain_text
from .._validate import check_output_folder
from ..errors import CorruptFileError
from .settings import PaperSetting, environment, run_setting, summarize

__all__ = ["register", "run"]

_log = logging.getLogger(__name__)
METHODS = ("cold", "warm", "ideal")


def register(subparsers) -> None:
    """Add the ``simulate`` sub-command."""
    parser = subparsers.add_parser(
        "simulate",
        help="reproduce the paper's Figure 3 on synthetic data (PNG + PDF + CSV + config.json)",
        description=plain_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dataclass_arguments(parser, PaperSetting)
    parser.add_argument("--out", default="runs/figure3", help="run folder to write (default: runs/figure3)")
    add_progress_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the setting given by ``args``, write the run folder, print where it went."""
    try:
        setting = dataclass_from_args(PaperSetting, args)
        check_output_folder("--out", args.out)
    except (TypeError, ValueError) as err:
        # Same shape as argparse's own errors: exit status 2, message naming the field.
        print(f"dashsim simulate: error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        df = run_setting(setting, methods=METHODS, progress=args.progress, cache_dir=out / "cache")
    except CorruptFileError as err:
        print(f"dashsim simulate: error: {err}", file=sys.stderr)
        return 1
    summary = summarize(df)
    elapsed = time.perf_counter() - start
    # Imported here so `dashsim --help` does not pay for matplotlib.
    from .plotting import plot_figure3, plotted_table

    title = (f"C={setting.C}, K={setting.K}, n={setting.n_per_chunk}, J={setting.J}, gamma={setting.gamma:g}, "
             f"tau={setting.tau}, {len(setting.seeds)} seeds, accuracy={setting.accuracy}")
    plot_figure3(summary, out / "figure3.png", title=title)
    plotted_table(summary).to_csv(out / "figure3.csv", index=False)
    config = {
        "command": "dashsim simulate",
        "setting": config_to_dict(setting),
        "methods": list(METHODS),
        "outputs": ["figure3.png", "figure3.pdf", "figure3.csv"],
        "seconds": round(elapsed, 3),
        "environment": environment(),
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    last = summary[summary["experiment"] == summary["experiment"].max()]
    lines = [f"wrote {out / 'figure3.png'} (and .pdf), {out / 'figure3.csv'}, {out / 'config.json'} "
             f"({elapsed:.2f} s)",
             f"experiment {int(last['experiment'].iloc[0])}, mean over {len(setting.seeds)} seeds:"]
    for row in last.itertuples():
        lines.append(f"  {row.method:>6}: test accuracy {row.test_accuracy_mean:.4f}, "
                     f"learned {row.n_learned_mean:.1f}, |N| {row.n_nonzero_mean:.1f}, "
                     f"memorized {row.n_memorized_mean:.1f}")
    # The command's result for the person at the terminal (the library itself never prints).
    print("\n".join(lines))
    return 0
