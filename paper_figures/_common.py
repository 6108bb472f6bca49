"""Shared plumbing of the figure scripts: output folder, the --quick flag, writing PNG + CSV.

Each script computes with results cached in ``<out>/cache`` (the simulator scripts through
:mod:`dashsim.sim.settings`, the torch ones through ``_training``'s run folders), so plotting again is
instant and an interrupted run resumes; this file holds only what every script would otherwise repeat.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # scripts never open windows

ROOT = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("dashsim") is None:
    # Run from a checkout that was not pip-installed: use the package next to this folder.
    sys.path.insert(0, str(ROOT))

OUT = Path(__file__).resolve().parent / "out"
CACHE = OUT / "cache"


def parse_args(description: str, argv=None, *, data: bool = False) -> argparse.Namespace:
    """The flags every figure script shares; ``data=True`` adds ``--data``/``--data-root`` for torch scripts.

    A torch script's ``--data`` defaults to Fashion-MNIST in full mode and to scikit-learn's digits
    with ``--quick`` (always present, so quick mode runs on any machine, CI included).
    """
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer seeds and experiments: seconds, for smoke tests")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default: {OUT})")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    if data:
        parser.add_argument("--data", default=None, help="data set (default: fashion-mnist; digits with --quick)")
        parser.add_argument("--data-root", default=None, help="folder of a local copy of the data set")
        parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    args = parser.parse_args(argv)
    if data and args.data is None:
        args.data = "digits" if args.quick else "fashion-mnist"
    args.out.mkdir(parents=True, exist_ok=True)
    args.cache = args.out / "cache"
    args.start = time.perf_counter()
    return args


def write_outputs(args: argparse.Namespace, name: str, summary, figure, by=()) -> None:
    """Save ``name``.png and ``name``.csv (exactly the plotted numbers) into the output folder."""
    from dashsim.sim.plotting import plotted_table

    write_table(args, name, plotted_table(summary, by), figure)


def run_dir(args: argparse.Namespace, name: str, config: dict) -> str:
    """The cached run folder of one configuration: ``<out>/cache/<name>/<hash of config>``.

    The folder name is a hash of the settings, so quick and full runs (or two sweep points) never
    share a folder, and re-running a script resumes or reuses exactly the runs it needs.
    """
    digest = hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return str(args.cache / name / digest)


def write_table(args: argparse.Namespace, name: str, table, figure) -> None:
    """Save ``name``.png and ``name``.csv, where ``table`` (a DataFrame) holds exactly the plotted numbers."""
    png, csv = args.out / f"{name}.png", args.out / f"{name}.csv"
    figure.savefig(png, dpi=120)
    table.to_csv(csv, index=False)
    print(f"wrote {png} and {csv} in {time.perf_counter() - args.start:.1f} s")


def sweep_figure(name: str, param: str, values, description: str, argv=None) -> None:
    """Compute (cached) and plot Figure 3's quantities for each ``param`` value, one PNG + CSV.

    Full: the paper's setting with ``param`` swept, seeds 0-9. Quick: seeds 0-1 and J = 20.
    """
    import dataclasses

    from dashsim.sim.plotting import plot_sweep
    from dashsim.sim.settings import PaperSetting, run_sweep, summarize

    args = parse_args(description, argv)
    base = PaperSetting()
    if args.quick:
        base = dataclasses.replace(base, seeds=(0, 1), J=20)
    df = run_sweep(base, param, values, progress=not args.no_progress, cache_dir=args.cache)
    summary = summarize(df, by=[param])
    fixed = {"C": base.C, "K": base.K, "n": base.n_per_chunk, "J": base.J, "gamma": f"{base.gamma:g}", "tau": base.tau}
    fixed.pop(param, None)
    title = (f"{name.capitalize()}: {param} in {{{', '.join(f'{v:g}' for v in values)}}}; "
             + ", ".join(f"{k}={v}" for k, v in fixed.items())
             + f"; mean $\\pm$ std over {len(base.seeds)} seeds" + (" (quick)" if args.quick else ""))
    write_outputs(args, name.replace(" ", ""), summary, plot_sweep(summary, param, title=title), by=[param])
