"""``dashsim train``: run (or resume) the main incremental protocol from the command line.

Every flag is derived from :class:`~dashsim.nn.train.TrainConfig`, e.g.::

    dashsim train --data fashion-mnist --model resnet18 --method dash --seeds 0 1 2
    dashsim train --data digits --model mlp --method sp --method-args lam=0.5 sigma=0.001 --J 5

Re-running the same command continues an interrupted run from its folder (``--out``, by default
``runs/<data>_<model>_<method>_J<J>``).
"""

from __future__ import annotations

import argparse
import logging
import sys

from .._config import add_dataclass_arguments, dataclass_from_args
from .. import runs

logger = logging.getLogger(__name__)

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` sub-command."""
    from .train import TrainConfig

    parser = subparsers.add_parser(
        "train",
        help="run the incremental-training protocol (resumable)",
        description="Train with J incremental chunks, applying a warm-starting method between experiments; "
        "writes config.json, metrics.csv, environment.json and checkpoint.pt to the run folder (--out) and resumes from them.",
    )
    add_dataclass_arguments(parser, TrainConfig)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(func=run, _parser=parser)


def run(args: argparse.Namespace) -> int:
    """Build the config from ``args``, run :func:`~dashsim.nn.protocols.run_incremental`, print the summary."""
    from .protocols import run_incremental, summarize
    from .train import NonFiniteLossError, TrainConfig

    try:
        config = dataclass_from_args(TrainConfig, args)
    except ValueError as err:
        args._parser.error(str(err))  # exits with status 2 and the usage line
    try:
        metrics = run_incremental(config, progress=not args.no_progress)
    except (NonFiniteLossError, runs.ConfigMismatchError, FileNotFoundError) as err:
        sys.stderr.write(f"dashsim train: error: {err}\n")
        return 1
    summary = summarize(metrics)
    sys.stdout.write(f"run folder: {config.resolved_out}\n")
    sys.stdout.write(summary.T.to_string() + "\n")
    return 0
