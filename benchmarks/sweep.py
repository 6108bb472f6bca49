"""Sweeps on the three executors side by side: the Figure 1 quick grid, Ray's start-up, and theorem-check instances.

Rows: the Figure 1 quick grid (digits, MLP of width 32, 450 images, J=3, at most 10 epochs, SGD;
cold, warm, S&P and DASH x seeds 0 and 1 = 8 runs) as one sweep into a fresh folder per executor,
with the collected tables checked identical to ``local``'s; the start-up of a local Ray instance;
``--instances`` random theorem-check instances (:func:`dashsim.sim.claims.random_checks`,
horizon ``--max-chunks``), checked identical too; and the exhaustive theorem check of every instance
with C <= 3, K <= 2, n_A <= 3, J <= 12 (:func:`dashsim.sim.exhaustive.exhaustive_check`: 363,954
orbit representatives checked, standing for 6.8 M instances), its JSON checked identical. Columns:
``local``, ``processes --workers N`` and ``ray`` (a local instance with N CPUs), wall time and
speed-up over ``local``. Run:

    python benchmarks/sweep.py [--workers 2] [--instances 2000] [--max-chunks 24]

Every process uses one torch/BLAS thread per run, so the speed-up is what the extra workers buy.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import tempfile  # noqa: E402
import time  # noqa: E402

import pandas as pd  # noqa: E402

from dashsim.sweep import TIMING_COLUMNS, Sweep, collect, make_executor, run_sweep  # noqa: E402

FIGURE1_QUICK = Sweep(base={"data": "digits", "model": "mlp", "width": 32, "J": 3, "subset": 450, "max_epochs": 10},
                      grid={"method": ["cold", "warm", "sp", "dash"], "seed": [0, 1]})


def _grid(executor, folder: str) -> tuple[float, pd.DataFrame]:
    started = time.perf_counter()
    report = run_sweep(FIGURE1_QUICK, executor, out=folder)
    seconds = time.perf_counter() - started
    if (report["status"] != "ran").any():
        raise RuntimeError(f"not every run ran:\n{report}")
    return seconds, collect(folder).drop(columns=list(TIMING_COLUMNS))


def _checks(executor, n: int, max_chunks: int) -> tuple[float, pd.DataFrame]:
    from dashsim.sim.claims import claims_table, random_checks

    started = time.perf_counter()
    tallies = random_checks(("valid",), n, 0, max_chunks, executor=executor)
    return time.perf_counter() - started, claims_table(tallies)


EXHAUSTIVE_BOUND = dict(num_classes=3, num_features=2, max_count=3, max_chunks=12)


def _exhaustive(executor) -> tuple[float, dict]:
    from dashsim.sim.exhaustive import Bound, exhaustive_check

    started = time.perf_counter()
    result = exhaustive_check(Bound(**EXHAUSTIVE_BOUND), executor=executor).to_dict()
    result.pop("seconds", None)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="processes and Ray CPUs (default 2)")
    parser.add_argument("--instances", type=int, default=2_000,
                        help="random theorem-check instances, checked one by one (default 2,000)")
    parser.add_argument("--max-chunks", type=int, default=24, help="their horizon J (default 24, the script's)")
    args = parser.parse_args()

    from dashsim.sim.claims import draw_instance, tally

    tally([draw_instance("valid", 0, 0)], 2)  # numba compiles (or loads its cache) before any timing
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        executors = [("local", dict()), (f"processes x{args.workers}", dict(workers=args.workers)),
                     (f"ray ({args.workers} CPUs)", dict(workers=args.workers))]
        for (label, kwargs), name in zip(executors, ("local", "processes", "ray")):
            row: dict[str, object] = {}
            started = time.perf_counter()
            try:
                executor = make_executor(name, **kwargs)
            except Exception as err:  # Ray's node can fail to start on a loaded machine: say so in the table
                results[label] = {"error": f"{type(err).__name__}: {err}"[:160]}
                continue
            row["start"] = time.perf_counter() - started
            with executor:
                row["grid"], row["grid_table"] = _grid(executor, os.path.join(tmp, name))
                row["checks"], row["checks_table"] = _checks(executor, args.instances, args.max_chunks)
                row["exhaustive"], row["exhaustive_json"] = _exhaustive(executor)
            results[label] = row

    base = results["local"]
    load = os.getloadavg()
    print(f"Sweep benchmark (2-core CPU dev machine: {os.cpu_count()} cores; load average at the end "
          f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}; other work on the machine inflates wall-clock times)")
    header = f"{'case':<52} | " + " | ".join(f"{label:>28}" for label in results)
    print(header)
    print("-" * len(header))

    def cells(key: str, fmt) -> str:
        out = []
        for row in results.values():
            out.append(f"{'-' if 'error' in row else fmt(row):>28}")
        return " | ".join(out)

    print(f"{'executor start-up (s)':<52} | " + cells("start", lambda r: f"{r['start']:.2f} s"))
    print(f"{'Figure 1 quick grid, 4 methods x 2 seeds: wall':<52} | "
          + cells("grid", lambda r: f"{r['grid']:.1f} s (x{base['grid'] / r['grid']:.2f})"))
    print(f"{'  collected table identical to local':<52} | "
          + cells("grid", lambda r: str(r["grid_table"].equals(base["grid_table"]))))
    print(f"{f'{args.instances:,} theorem-check instances (J<={args.max_chunks}): wall':<52} | "
          + cells("checks", lambda r: f"{r['checks']:.1f} s (x{base['checks'] / r['checks']:.2f})"))
    print(f"{'  claims table identical to local':<52} | "
          + cells("checks", lambda r: str(r["checks_table"].equals(base["checks_table"]))))
    print(f"{'exhaustive C<=3, K<=2, n_A<=3, J<=12 (363,954 checked)':<52} | "
          + cells("exhaustive", lambda r: f"{r['exhaustive']:.1f} s (x{base['exhaustive'] / r['exhaustive']:.2f})"))
    print(f"{'  result identical to local':<52} | "
          + cells("exhaustive", lambda r: str(r["exhaustive_json"] == base["exhaustive_json"])))
    for label, row in results.items():
        if "error" in row:
            print(f"{label}: did not start: {row['error']}")
    print("(x: speed-up over local; start-up: creating the executor, which for ray starts a local instance; the "
          "processes' workers start inside the first map, the grid, so their start-up is in its time)")


if __name__ == "__main__":
    main()
