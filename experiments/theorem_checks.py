"""Check Theorems 3.4 and 3.6 and Lemmas D.1-D.3 on thousands of random fixed-composition instances.

Instances meeting Assumptions 3.1 and 3.3 come from :func:`dashsim.sim.instances.random_instance`;
each runs cold, warm and ideal for J = 1..--max-chunks through :func:`dashsim.sim.theory.check_theorems`.
The checking, tallying and shrinking live in :mod:`dashsim.sim.claims`; this script runs and prints.
Printed (and saved as CSV under --out): a table of claims x (instances checked, held, failed), the
same for instances breaking each assumption, and, for every claim that failed on a valid instance,
the smallest failing instance the shrinker reaches (overall, and with C >= 2 and tau >= 2).

    python3 experiments/theorem_checks.py --instances 10000 --seed 0
    python3 experiments/theorem_checks.py --instances 200000 --executor ray --address HEAD:6379

The instances are split into blocks run by an executor (:func:`dashsim.sweep.make_executor`:
``local``, ``processes`` with ``--workers``, or ``ray``); the tables do not depend on which.

Every instance up to a size bound instead (one representative per symmetry orbit, the smallest
failing instances as tables and Python; the same as ``dashsim theorems --exhaustive``):

    python3 experiments/theorem_checks.py --exhaustive --C 2 --K 3 --max-count 2 --J 12
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# Parallelism comes from worker processes; BLAS threads on top of them only fight over the cores
# (measured: 3x slower on the 2-core machine). Must be set before numpy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pandas as pd  # noqa: E402

from dashsim.sim.claims import broken_table, claims_table, counterexamples, random_checks  # noqa: E402
from dashsim.sim.instances import BREAKS  # noqa: E402
from dashsim.sweep import EXECUTORS, make_executor  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--exhaustive" in argv:
        from dashsim import cli

        return cli.main(["theorems", *argv])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000, help="valid random instances to check")
    parser.add_argument("--dense-instances", type=int, default=2_000,
                        help="extra valid instances with C 2..3, tau 2..3, dense features")
    parser.add_argument("--broken-instances", type=int, default=500, help="instances per broken assumption")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-chunks", type=int, default=24, help="horizon J: experiments 1..J per instance")
    parser.add_argument("--executor", choices=EXECUTORS, default=None,
                        help="where the blocks of instances run (default: processes, or local for --workers 1)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="worker processes (processes) or CPUs of a local Ray instance (ray)")
    parser.add_argument("--address", default=None, help="ray: a running cluster's address (default: start one here)")
    parser.add_argument("--shrink-seconds", type=float, default=10.0,
                        help="time budget per shrink (0: no shrinking)")
    parser.add_argument("--out", type=Path, default=Path("experiments/out/theorem_checks"))
    args = parser.parse_args(argv)
    if args.instances < 1 or args.broken_instances < 0 or args.max_chunks < 2 or args.workers < 1:
        parser.error("need --instances >= 1, --broken-instances >= 0, --max-chunks >= 2, --workers >= 1")

    try:
        if args.executor is None:
            args.executor = "local" if args.workers == 1 else "processes"
        executor = make_executor(args.executor, workers=args.workers, address=args.address)
    except (ValueError, ConnectionError, ImportError) as err:
        parser.error(str(err))
    with executor:
        t0 = time.perf_counter()
        tallies = random_checks(("valid",), args.instances, args.seed, args.max_chunks, executor=executor)
        t_valid = time.perf_counter() - t0
        if args.broken_instances:
            tallies.update(random_checks(BREAKS, args.broken_instances, args.seed, args.max_chunks, executor=executor))
        if args.dense_instances:
            tallies.update(random_checks(("dense",), args.dense_instances, args.seed, args.max_chunks,
                                         executor=executor))
        t_rest = time.perf_counter() - t0 - t_valid
    valid, broken = claims_table(tallies), broken_table(tallies)
    args.out.mkdir(parents=True, exist_ok=True)
    valid.to_csv(args.out / "valid_instances.csv", index=False)
    if args.dense_instances:
        dense = claims_table(tallies, "dense")
        dense.to_csv(args.out / "dense_valid_instances.csv", index=False)
    broken.to_csv(args.out / "broken_instances.csv", index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 60):
        print(f"Valid instances (Assumptions 3.1 and 3.3 hold), J = 1..{args.max_chunks}, seed {args.seed}:")
        print(valid.to_string(index=False))
        if args.dense_instances:
            print("\nValid instances, dense corner (C 2..3, tau 2..3, K 2..6, features mostly present):")
            print(dense.to_string(index=False))
        print(f"\nInstances breaking one assumption ({args.broken_instances} each, C 2..3, tau >= 2), "
              "failed/checked:")
        print(broken.to_string(index=False))
    print(f"\nchecked {args.instances} valid instances in {t_valid:.1f} s, then "
          f"{len(BREAKS) * args.broken_instances} broken and {args.dense_instances} dense ones in {t_rest:.1f} s, "
          f"on the {args.executor} executor ({args.workers} worker(s))")

    report = counterexamples(tallies, args.max_chunks, shrink_seconds=args.shrink_seconds)
    if report:
        print("\nClaims failing on valid instances: smallest failing instance found (shrunk):")
    for found in report:
        print(f"\n[{found['claim']}] ({found['restriction']})\n{found['description']}")
    (args.out / "counterexamples.json").write_text(json.dumps(report, indent=1))
    print(f"\nwrote {args.out}/valid_instances.csv, broken_instances.csv, counterexamples.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
