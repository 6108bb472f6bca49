"""Simulator speed: dashsim's numba kernels vs the plain NumPy twin, Figure 3, scaling, 1M points.

Prints one side-by-side table. Run from the repository root:

    python3 benchmarks/simulator.py            # everything (the 1M-point case takes minutes)
    python3 benchmarks/simulator.py --quick    # skip the 1M-point case

Compile time is measured in a fresh process with an empty numba cache; all other times are after
compilation (best of repeats unless said otherwise), as wall-clock and as this process's CPU
time (the latter is less disturbed when other jobs share the 2 cores). Peak memory is the max
resident set size of a fresh process that generates the data and runs the simulation. The
"target" column says whether issue 2's targets are met (judged on wall-clock time).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "sim"))

import dashsim  # noqa: E402
from sim_reference import reference_simulate  # noqa: E402

FIG3 = dict(C=2, K=50, n_per_chunk=1000, J=50)
GAMMA, TAU = 50, 3
PAPER_SEED0 = {"n_learned": [91, 33, 91], "n_nonzero": [50_000, 474, 6_054], "accuracy": [0.939, 0.758, 0.939]}


CPU = {}  # id of the last _best_of call -> best CPU seconds of this process


def _best_of(fn, repeats):
    """Best wall-clock seconds; the best CPU seconds go to CPU["last"] (less sensitive to load)."""
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    CPU["last"] = min(cpu)
    return min(times)


def _cold_pair_touches(data):
    """sum_j (point, present feature) pairs in T_{1:j}: the work a cold start cannot avoid."""
    per_chunk = np.bincount(data.chunk, weights=data.features.sum(axis=1))
    return int(np.cumsum(per_chunk).sum())


def _subprocess(code: str, env_extra: dict | None = None) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env_extra or {}))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def compile_seconds() -> float:
    code = (
        "import time, dashsim\n"
        "d = dashsim.sample_paper_data(C=2, K=6, n_per_chunk=10, J=3, seed=0)\n"
        "t = time.perf_counter()\n"
        "dashsim.simulate(d.features, d.labels, d.chunk, gamma=2, tau=2)\n"
        "print(time.perf_counter() - t)\n"
    )
    with tempfile.TemporaryDirectory() as cache:
        return float(_subprocess(code, {"NUMBA_CACHE_DIR": cache}))


def one_million(rows):
    code = (
        "import resource, time, dashsim\n"
        "t = time.perf_counter()\n"
        "d = dashsim.sample_paper_data(C=10, K=1000, n_per_chunk=10_000, J=100, seed=0)\n"
        "t_data = time.perf_counter() - t\n"
        "out = []\n"
        "for m in ('warm', 'ideal', 'cold'):\n"
        "    t, c = time.perf_counter(), time.process_time()\n"
        f"    r = dashsim.simulate(d.features, d.labels, d.chunk, gamma={GAMMA}, tau={TAU}, methods=(m,))\n"
        "    out.append(f'{m}={time.perf_counter() - t:.2f}s({time.process_time() - c:.2f}cpu)"
        "/{int(r.n_learned[0, -1])}')\n"
        "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20\n"
        "print(f'{t_data:.2f}', ' '.join(out), f'{rss:.2f}', int(d.features.sum()))\n"
    )
    t_data, warm, ideal, cold, rss, pairs = _subprocess(code).split()
    sim_total = sum(float(part.split("=")[1].split("s(")[0]) for part in (warm, ideal, cold))
    sim_cpu = sum(float(part.split("s(")[1].split("cpu")[0]) for part in (warm, ideal, cold))
    rows.append(("1M points (C=10,K=1000,n=10k,J=100)", f"{sim_total:.1f} s wall, {sim_cpu:.1f} s CPU",
                 "< 30 s", _met(sim_total < 30), f"{warm} {ideal} {cold} (wall(CPU)/final |L|); "
                 f"data {float(t_data):.1f} s; {int(pairs):,} pairs"))
    rss_bytes = float(rss) * 2**30
    rows.append(("1M points peak memory (max RSS)", f"{float(rss):.2f} GiB ({rss_bytes / 1e9:.2f} GB)",
                 "< 2 GB", _met(rss_bytes < 2e9), "features (n, K) bool alone are 0.93 GiB"))


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the one-million-point case")
    args = parser.parse_args(argv)
    rows = []  # (case, dashsim, reference or target, target met, note)

    rows.append(("numba compile (fresh cache, all kernels)", f"{compile_seconds():.1f} s", "-", "-",
                 "once per install"))

    # dashsim vs the NumPy twin on the same data.
    small = dashsim.sample_paper_data(C=2, K=50, n_per_chunk=1000, J=10, seed=0)
    args_small = (small.features, small.labels, small.chunk)
    dashsim.simulate(*args_small, gamma=GAMMA, tau=TAU)
    t_ours = _best_of(lambda: dashsim.simulate(*args_small, gamma=GAMMA, tau=TAU), 5)
    start = time.perf_counter()
    ref = reference_simulate(*args_small, GAMMA, TAU)
    t_ref = time.perf_counter() - start
    ours = dashsim.simulate(*args_small, gamma=GAMMA, tau=TAU)
    same = all(np.array_equal(getattr(ours, k), ref[k]) for k in ref)
    rows.append(("same data vs NumPy twin (Fig 3 setting, J=10)", f"{t_ours * 1e3:.1f} ms wall",
                 f"{t_ref:.1f} s (NumPy twin)", "-", f"x{t_ref / t_ours:,.0f}; identical results: {same}"))

    # Figure 3: 10 legacy seeds, 3 methods.
    per_seed, per_seed_cpu, t_data, t_acc = [], [], [], []
    seed0 = None
    for seed in range(10):
        start = time.perf_counter()
        data = dashsim.sample_paper_data(**FIG3, seed=seed, legacy=True)
        t_data.append(time.perf_counter() - start)
        fig_args = (data.features, data.labels, data.chunk)
        per_seed.append(_best_of(lambda: dashsim.simulate(*fig_args, gamma=GAMMA, tau=TAU), 3))
        per_seed_cpu.append(CPU["last"])
        res = dashsim.simulate(*fig_args, gamma=GAMMA, tau=TAU)
        start = time.perf_counter()
        acc = dashsim.accuracy_bernoulli(res.learned, data.probs, TAU)
        t_acc.append(time.perf_counter() - start)
        if seed == 0:
            seed0 = (res, acc)
    rows.append(("Figure 3: 3 methods, per seed (10 legacy seeds)",
                 f"{np.median(per_seed) * 1e3:.1f} ms wall, {np.median(per_seed_cpu) * 1e3:.1f} ms CPU (medians)",
                 "264 s authors; target <= 20 ms", _met(np.median(per_seed) <= 0.020),
                 f"data {np.median(t_data) * 1e3:.0f} ms/seed, "
                 f"exact accuracy (all J) {np.median(t_acc) * 1e3:.0f} ms/seed (authors 11 s)"))
    for method in ("cold", "warm", "ideal"):
        data = dashsim.sample_paper_data(**FIG3, seed=0, legacy=True)
        t = _best_of(lambda: dashsim.simulate(data.features, data.labels, data.chunk, gamma=GAMMA, tau=TAU,
                                               methods=(method,)), 3)
        rows.append((f"  Figure 3 seed 0, {method} only", f"{t * 1e3:.1f} ms wall, {CPU['last'] * 1e3:.1f} ms CPU",
                     "-", "-", "includes building the bitsets"))
    res, acc = seed0
    final_acc = acc[:, -1]
    rows.append(("seed 0 legacy: final |L| cold/warm/ideal", "/".join(map(str, res.n_learned[:, -1])),
                 "/".join(map(str, PAPER_SEED0["n_learned"])), "-",
                 f"match: {res.n_learned[:, -1].tolist() == PAPER_SEED0['n_learned']}"))
    rows.append(("seed 0 legacy: |N^(50,0)| cold/warm/ideal", "/".join(f"{v:,}" for v in res.n_nonzero[:, -1]),
                 "/".join(f"{v:,}" for v in PAPER_SEED0["n_nonzero"]), "-",
                 f"match: {res.n_nonzero[:, -1].tolist() == PAPER_SEED0['n_nonzero']}"))
    rows.append(("seed 0 legacy: test accuracy (exact)", "/".join(f"{v:.3f}" for v in final_acc),
                 "~" + "/".join(f"{v:.3f}" for v in PAPER_SEED0["accuracy"]), "-",
                 "authors: 10,000 sampled test points under seed 300"))

    # Scaling in the number of (point, present feature) pairs.
    ns_per_touch = []
    for n in (250, 500, 1000, 2000, 4000):
        data = dashsim.sample_paper_data(C=2, K=50, n_per_chunk=n, J=50, seed=0)
        touches = _cold_pair_touches(data)
        sc_args = (data.features, data.labels, data.chunk)
        dashsim.simulate(*sc_args, gamma=GAMMA * n / 1000, tau=TAU)
        t = _best_of(lambda: dashsim.simulate(*sc_args, gamma=GAMMA * n / 1000, tau=TAU), 3)
        cpu = CPU["last"]
        ns_per_touch.append(cpu / touches * 1e9)
        rows.append((f"scaling: n_per_chunk={n}, gamma={GAMMA * n / 1000:g}",
                     f"{t * 1e3:.1f} ms wall, {cpu * 1e3:.1f} ms CPU", "linear", "-",
                     f"{touches / 1e6:.1f} M cold pair touches, {ns_per_touch[-1]:.1f} ns CPU each"))
    spread = max(ns_per_touch) / min(ns_per_touch)
    rows.append(("scaling: CPU per pair touch, largest / smallest", f"{spread:.2f}", "linear (<= 1.5)",
                 _met(spread <= 1.5), "over the five sizes above"))

    if not args.quick:
        one_million(rows)

    header = ("case", "dashsim", "reference / target", "target", "note")
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    line = " | ".join(f"{{:<{w}}}" for w in widths)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"Simulator benchmark (2-core CPU dev machine; load average at the end {load}: other work on the "
          "machine inflates wall-clock times, CPU times less)")
    print(line.format(*header))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*row))

if __name__ == "__main__":
    main()
