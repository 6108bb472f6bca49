"""``dashsim theorems``: check Theorems 3.4 and 3.6 and Lemmas D.1-D.3 on every small instance, or on random ones.

``--exhaustive`` enumerates every fixed-composition instance within the bound (classes 1..--C,
features per class 1..--K, counts --min-count..--max-count, every tau from --min-tau and every
integer gamma, horizon --J) up to feature and class permutations (:mod:`dashsim.sim.exhaustive`)
and prints the instances by assumption, the claims table (checked / held / failed over representatives, and over the
instances they represent) and the smallest failing instances with the Python that rebuilds them.
Without it, random instances are drawn as ``experiments/theorem_checks.py`` does
(:func:`dashsim.sim.claims.random_checks`). ``--json`` prints the same as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import pandas as pd

from .._config import plain_text
from ..sweep.executors import EXECUTORS, make_executor

__all__ = ["register", "run"]

_BOUND_FLAGS = (("--C", "num_classes", "classes C: 1..C"), ("--K", "num_features", "features per class K: 1..K"),
                ("--max-count", "max_count", "largest n_A of a combination"),
                ("--min-count", "min_count", "smallest n_A (0: combinations may be missing, breaking 3.1)"),
                ("--J", "max_chunks", "horizon J: experiments 1..J"),
                ("--min-tau", "min_tau", "smallest tau (2: leave out the degenerate tau = 1)"))


def register(subparsers) -> None:
    """Add the ``theorems`` sub-command."""
    from .exhaustive import Bound

    parser = subparsers.add_parser(
        "theorems", help="check the theory's claims on every small instance (--exhaustive) or on random ones",
        description=plain_text(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exhaustive", action="store_true", help="enumerate every instance within the bound")
    defaults = {f.name: f.default for f in dataclasses.fields(Bound)}
    for flag, name, text in _BOUND_FLAGS:
        parser.add_argument(flag, dest=name, type=int, default=defaults[name],
                            help=f"{text} (default: {defaults[name]})")
    parser.add_argument("--instances", type=int, default=10_000, help="random mode: valid instances (default: 10000)")
    parser.add_argument("--seed", type=int, default=0, help="random mode: seed (default: 0)")
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="where chunks run: this process, --workers local processes, or Ray (default: local)")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes (processes) or CPUs of a local Ray instance (ray) (default: 2 / all)")
    parser.add_argument("--address", default=None, help="ray: a running cluster's address (default: start one here)")
    parser.add_argument("--chunk-size", type=int, default=2000, help="compositions per chunk (default: 2000)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.set_defaults(func=run)


def _error(text: str) -> int:
    print(f"dashsim theorems: error: {text}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Run the checks ``args`` ask for and print the tables (or JSON)."""
    from .exhaustive import Bound, exhaustive_check

    if args.workers is not None and args.workers < 1:
        return _error(f"--workers must be an integer >= 1; got {args.workers}")
    try:
        bound = Bound(**{name: getattr(args, name) for _, name, _ in _BOUND_FLAGS})
    except ValueError as err:
        return _error(str(err))
    if not args.exhaustive and args.instances < 1:
        return _error(f"--instances must be an integer >= 1; got {args.instances}")
    if args.chunk_size < 1:
        return _error(f"--chunk-size must be an integer >= 1; got {args.chunk_size}")
    try:
        pool = make_executor(args.executor, workers=args.workers if args.executor != "local" else None,
                             address=args.address)
    except (ValueError, ConnectionError, ImportError) as err:
        return _error(str(err))
    try:
        if args.exhaustive:
            return _exhaustive(bound, args, pool, exhaustive_check)
        return _random(bound, args, pool)
    except ValueError as err:
        return _error(str(err))
    finally:
        pool.close()


def _exhaustive(bound, args, pool, exhaustive_check) -> int:
    result = exhaustive_check(bound, executor=pool, chunk_size=args.chunk_size)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
        return 0
    b = bound
    lines = [f"Every instance with C <= {b.num_classes}, K <= {b.num_features}, {b.min_count} <= n_A <= {b.max_count}, "
             f"tau >= {b.min_tau}, every integer gamma, J = 1..{b.max_chunks}: {result.n_checked:,} representatives "
             f"for {result.n_represented:,} instances, {result.seconds:.1f} s "
             f"({result.n_checked / max(result.seconds, 1e-9) * 60:,.0f} checked per minute)", ""]
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 60):
        lines += [result.assumptions_table().to_string(index=False), "",
                  "Valid instances (Assumptions 3.1 and 3.3 hold):", result.claims_table().to_string(index=False)]
        if result.broken:
            lines += ["", "Instances breaking 3.1 and/or 3.3(ii), failed/checked representatives:",
                      result.broken_table().to_string(index=False)]
        for restricted, title in ((False, "all valid instances"), (True, "C >= 2 and tau >= 2")):
            table = result.counterexamples_table(restricted)
            if len(table):
                lines += ["", f"Smallest failing instances ({title}; n_A per class, combinations in binary order):",
                          table.to_string(index=False)]
    for ci, restricted in sorted(result.smallest):
        lines += ["", f"# {result.claim_names[ci]} ({'C >= 2, tau >= 2' if restricted else 'any'}): smallest",
                  result.code(ci, restricted)]
    print("\n".join(lines))
    return 0


def _random(bound, args, pool) -> int:
    from .claims import claims_table, random_checks

    start = time.perf_counter()
    tallies = random_checks(("valid",), args.instances, args.seed, bound.max_chunks, executor=pool)
    seconds = time.perf_counter() - start
    table = claims_table(tallies)
    if args.json:
        print(json.dumps({"instances": args.instances, "seed": args.seed, "max_chunks": bound.max_chunks,
                          "seconds": seconds, "claims": table.to_dict(orient="records")}, indent=1))
        return 0
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 60):
        print(f"{args.instances} random valid instances (seed {args.seed}), J = 1..{bound.max_chunks}, "
              f"{seconds:.1f} s:\n{table.to_string(index=False)}")
    return 0
