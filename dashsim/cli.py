"""The ``dashsim`` command (also ``python -m dashsim``): one sub-command per capability.

Each sub-command lives next to the code it runs and registers itself through a
``register(subparsers)`` function listed in ``_SUBCOMMANDS``; ``main`` adds the options every
sub-command shares (``-v``, ``-q``, ``--threads``, accepted before or after the sub-command's name),
sets up logging and threads, and dispatches.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import sys
from typing import Iterator

from ._config import positive_int
from ._version import __version__

# Each module exposes ``register(subparsers)`` adding one sub-command whose parser sets ``func``
# to a callable taking the parsed namespace and returning an exit code.
_SUBCOMMANDS: tuple[str, ...] = ("dashsim.sim.cli", "dashsim.sim.theorems_cli", "dashsim.nn.train_cli",
                                 "dashsim.sweep.cli")


def _add_shared_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``-v``, ``-q`` and ``--threads``; on a sub-command they default to "not given" so the top level's stand."""
    unset = argparse.SUPPRESS
    group = parser.add_argument_group("output and threads (before or after the sub-command)")
    group.add_argument("-v", "--verbose", action="count", default=0 if top else unset,
                       help="more detail: -v also logs each step's details (debug)")
    group.add_argument("-q", "--quiet", action="count", default=0 if top else unset,
                       help="only warnings and errors: no progress, no announcements")
    group.add_argument("--threads", type=positive_int, default=1 if top else unset, metavar="N",
                       help="CPU threads for torch and numba (default: 1: CPU results then do not depend on the "
                            "machine's core count, and a shared machine is not oversubscribed; more pays only for "
                            "large models on an idle CPU)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dashsim",
        description="Warm-starting research toolkit: the DASH paper's framework simulator and DASH in torch.",
        epilog="Run 'dashsim COMMAND --help' for a command's flags. Examples: 'dashsim simulate' (the paper's "
               "Figure 3 in seconds); 'dashsim train --data digits --model mlp --J 5' (a small real-data run).",
    )
    parser.add_argument("--version", action="version", version=f"dashsim {__version__}")
    _add_shared_options(parser, top=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in _SUBCOMMANDS:
        importlib.import_module(module_name).register(subparsers)
    for sub in subparsers.choices.values():
        _add_shared_options(sub, top=False)
    return parser


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` CPU threads in torch and numba (those imported), then restore their counts.

    Restoring keeps ``main`` called from Python (a notebook, a test) from changing the caller's settings.
    """
    numba, torch = sys.modules.get("numba"), sys.modules.get("torch")
    before = (numba.get_num_threads() if numba is not None else None,
              torch.get_num_threads() if torch is not None else None)
    # numba first: starting numba's OpenMP pool resets the OpenMP thread count that torch shares.
    # numba's pool was sized when it loaded; it cannot grow past that size.
    if numba is not None:
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    if torch is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if numba is not None:
            numba.set_num_threads(before[0])
        if torch is not None:
            torch.set_num_threads(before[1])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Announcements (what runs, a resume) at INFO by default; -q keeps warnings only, -v adds debug.
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("dashsim").setLevel(level)
    if args.quiet:
        args.progress = False
    with threads(args.threads):
        return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
