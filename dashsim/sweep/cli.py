"""``dashsim sweep`` (run a sweep from a TOML spec on an executor) and ``dashsim runs`` (list and collect runs).

Examples::

    dashsim sweep lam.toml                                  # in this process
    dashsim sweep lam.toml --executor processes --workers 2
    dashsim sweep lam.toml --executor ray --address HEAD:6379 --gpus-per-run 0.25
    dashsim sweep lam.toml --collect                        # only gather: collected.csv and the seed means
    dashsim runs runs/lam                                   # what each run is, its status and final numbers
    dashsim runs runs/lam --collect all.csv                 # one tidy CSV, one row per (run, round)

Re-running a sweep skips its finished runs, resumes interrupted ones and runs new ones (an added
seed or grid value); a failed run is reported (exit status 1) and retried by the next invocation.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .._config import plain_text, positive_int

__all__ = ["register"]

_log = logging.getLogger(__name__)


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sweep`` and ``runs`` sub-commands."""
    from .executors import EXECUTORS

    sweep = subparsers.add_parser("sweep", help="run a sweep (grid of settings, methods, hyper-parameters and seeds) "
                                  "from a TOML spec on this process, local processes or Ray",
                                  description=plain_text(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    sweep.add_argument("spec", type=Path, help="the sweep's TOML file ([base], [grid], [grid.<method>], out)")
    sweep.add_argument("--executor", choices=EXECUTORS, default="local",
                       help="where runs execute (default: local, one after another in this process)")
    sweep.add_argument("--workers", type=positive_int, default=None, metavar="N",
                       help="worker processes (processes; default 2) or CPUs of a local Ray instance (ray; default: "
                            "all)")
    sweep.add_argument("--address", default=None, help="ray: address of a running cluster (auto, HOST:PORT, "
                       "ray://HOST:PORT); default: start a local instance")
    sweep.add_argument("--cpus-per-run", type=positive_int, default=1, metavar="N",
                       help="CPU threads of each run (and its Ray CPU request; default 1)")
    sweep.add_argument("--gpus-per-run", type=_non_negative, default=0.0, metavar="F",
                       help="ray: GPUs each run asks for; a fraction shares a GPU (0.25: four runs per GPU; default 0)")
    sweep.add_argument("--out", default=None, help="the sweep's folder (default: the spec's out, or runs/<spec name>)")
    sweep.add_argument("--collect", action="store_true",
                       help="run nothing: write <out>/collected.csv and print the means over seeds")
    sweep.add_argument("--list", action="store_true", help="run nothing: print the runs the spec defines")
    sweep.set_defaults(func=run_sweep_command, _parser=sweep)

    listing = subparsers.add_parser("runs", help="list run folders (settings, status, progress, final metrics), or "
                                    "gather them into one CSV",
                                    description="List the runs below FOLDER: what each is, its status (running, done, "
                                    "partial, failed, empty), its finished rounds and its final test accuracy; "
                                    "with --collect, write one tidy CSV (one row per run and round).")
    listing.add_argument("folder", nargs="?", default="runs", type=Path, help="a folder of run folders (default: runs)")
    listing.add_argument("--collect", type=Path, default=None, metavar="CSV",
                         help="write every run's settings and metrics into this CSV")
    listing.set_defaults(func=runs_command, _parser=listing)


def _print_table(frame) -> None:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_colwidth", 60):
        sys.stdout.write(frame.to_string(index=False) + "\n")


def _collect_and_print(folder: Path) -> int:
    from .collect import collect, summarize

    table = collect(folder)
    if table.empty:
        sys.stderr.write(f"dashsim sweep: no finished runs in {folder}\n")
        return 1
    table.to_csv(folder / "collected.csv", index=False)
    summary = summarize(table)
    shown = [c for c in summary.columns if summary[c].astype(str).nunique() > 1 or c.endswith(("_mean", "_std"))]
    sys.stdout.write(f"{folder / 'collected.csv'}: {len(table)} rows from {table['run'].nunique()} runs; "
                     "means and stds over seeds:\n")
    _print_table(summary[["n_seeds", *[c for c in shown if c != "n_seeds"]]])
    return 0


def run_sweep_command(args: argparse.Namespace) -> int:
    """Check the spec and the executor, run what is not finished, report, write the collected table."""
    from .executors import make_executor
    from .spec import SpecError, load_spec

    try:
        sweep = load_spec(args.spec, out=args.out)
    except FileNotFoundError:
        args._parser.error(f"no spec file {args.spec}")
    except SpecError as err:
        args._parser.error(str(err))
    out = Path(sweep.out)
    if args.list:
        _print_table(__import__("pandas").DataFrame([{"run": r.name, **r.varied, "seed": r.seed}
                                                     for r in sweep.runs()]))
        return 0
    if args.collect:
        if not out.is_dir():
            args._parser.error(f"no sweep folder {out}: run the sweep first")
        return _collect_and_print(out)
    from .training import prepare, run_sweep

    try:
        prepare(sweep, threads=args.cpus_per_run)  # every run checked before an executor starts
        executor = make_executor(args.executor, workers=args.workers, address=args.address,
                                 cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run)
    except (SpecError, ValueError) as err:
        args._parser.error(str(err))
    except (ConnectionError, ImportError) as err:
        sys.stderr.write(f"dashsim sweep: error: {err}\n")
        return 1
    with executor:
        report = run_sweep(sweep, executor, threads=args.cpus_per_run)
    counts = report["status"].value_counts()
    _log.info("sweep %s on %s: %s", out, args.executor, ", ".join(f"{n} {s}" for s, n in counts.items()))
    failed = report[report["status"] == "failed"]
    for _, row in report[report["note"] != ""].iterrows():
        sys.stderr.write(f"dashsim sweep: run {row['run']}: {row['note']}\n")
    for _, row in failed.iterrows():
        sys.stderr.write(f"dashsim sweep: run {row['run']} failed: {row['error']}\n")
    code = _collect_and_print(out)
    return 1 if len(failed) else code


def runs_command(args: argparse.Namespace) -> int:
    """Print the run listing of ``args.folder``; with ``--collect CSV`` also write the long table."""
    from .collect import collect, list_runs

    if not args.folder.is_dir():
        args._parser.error(f"no folder {args.folder}")
    listing = list_runs(args.folder)
    if listing.empty:
        sys.stdout.write(f"no runs in {args.folder}\n")
        return 0
    _print_table(listing)
    if args.collect is not None:
        table = collect(args.folder)
        args.collect.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.collect, index=False)
        sys.stdout.write(f"wrote {args.collect}: {len(table)} rows from {table['run'].nunique() if len(table) else 0} "
                         "runs\n")
    return 0
