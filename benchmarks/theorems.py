"""Theorem checking speed, side by side: random instances (the reference checker) vs the exhaustive batched mode.

Prints one table: instances checked per minute by :func:`dashsim.sim.claims.random_checks` (one
``check_theorems`` call per instance, valid random instances, J = 12) and by
:func:`dashsim.sim.exhaustive.exhaustive_check` on the bound C <= 2, K <= 3, 1 <= n_A <= 2, J = 12
(every tau and integer gamma), in this process and over a pool of worker processes; the orbit
reduction factor (instances represented per representative checked); the bound's wall time. The
numba kernels are compiled (or loaded from cache) before anything is timed. Run:

    python benchmarks/theorems.py [--random-instances 2000] [--workers 2] [--max-count 2]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from dashsim.sim.claims import random_checks  # noqa: E402
from dashsim.sim.exhaustive import Bound, exhaustive_check  # noqa: E402


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--random-instances", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-count", type=int, default=2)
    parser.add_argument("--J", type=int, default=12)
    args = parser.parse_args()
    bound = Bound(num_classes=2, num_features=3, max_count=args.max_count, max_chunks=args.J)
    random_checks(("valid",), 2, 0, args.J)  # compile / load the simulator's kernels
    exhaustive_check(Bound(1, 1, max_chunks=args.J))  # ... and the exhaustive one
    rows = []
    n = args.random_instances
    _, wall, cpu = _timed(lambda: random_checks(("valid",), n, 0, args.J, workers=1))
    rows.append(("random, reference checker, 1 process", n, n, wall, cpu))
    _, wall, _ = _timed(lambda: random_checks(("valid",), n, 0, args.J, workers=args.workers))
    rows.append((f"random, reference checker, {args.workers} processes", n, n, wall, None))
    result, wall, cpu = _timed(lambda: exhaustive_check(bound))
    rows.append(("exhaustive batched, 1 process", result.n_checked, result.n_represented, wall, cpu))
    with concurrent.futures.ProcessPoolExecutor(args.workers) as pool:
        list(pool.map(abs, range(args.workers)))  # start the workers before timing
        result2, wall, _ = _timed(lambda: exhaustive_check(bound, executor=pool, chunk_size=250))
    assert result2.to_dict()["claims"] == result.to_dict()["claims"]
    rows.append((f"exhaustive batched, {args.workers} processes", result2.n_checked, result2.n_represented, wall,
                 None))

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"Theorem checking, J = 1..{args.J} (2-core CPU dev machine; {os.cpu_count()} cores; load average at the "
          f"end {load}: other work on the machine inflates wall times)")
    print(f"exhaustive bound: C <= 2, K <= 3, {bound.min_count} <= n_A <= {bound.max_count}, every tau and integer "
          f"gamma; orbit reduction factor {result.n_represented / result.n_checked:.1f} "
          f"({result.n_represented:,} instances / {result.n_checked:,} representatives)")
    head = f"{'mode':<40} | {'checked':>10} | {'represented':>12} | {'wall s':>7} | {'CPU s':>7} | " \
           f"{'checked/min':>12} | {'represented/min':>15} | target 1,000,000/min"
    print(head)
    print("-" * len(head))
    for name, checked, represented, wall, cpu in rows:
        rate = checked / wall * 60
        target = "met" if name.startswith("exhaustive") and rate >= 1e6 else ("not met" if name.startswith(
            "exhaustive") else "-")
        print(f"{name:<40} | {checked:>10,} | {represented:>12,} | {wall:>7.2f} | "
              f"{'-' if cpu is None else f'{cpu:.2f}':>7} | {rate:>12,.0f} | {represented / wall * 60:>15,.0f} | "
              f"{target}")


if __name__ == "__main__":
    main()
