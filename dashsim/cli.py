"""The ``dashsim`` command: one sub-command per capability.

Each sub-command lives next to the code it runs and registers itself through a
``register(subparsers)`` function listed in ``_SUBCOMMANDS``; ``main`` only dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# (module, attribute): each module exposes ``register(subparsers)`` adding one sub-command whose
# parser sets ``func`` to a callable taking the parsed namespace and returning an exit code.
_SUBCOMMANDS: tuple[str, ...] = ("dashsim.sim.cli", "dashsim.nn.train_cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dashsim",
        description="Warm-starting research toolkit: the DASH paper's framework simulator and DASH in torch.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in _SUBCOMMANDS:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
