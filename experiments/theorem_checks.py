"""Check Theorems 3.4 and 3.6 and Lemmas D.1-D.3 on thousands of random fixed-composition instances.

Instances meeting Assumptions 3.1 and 3.3 come from :func:`dashsim.sim.instances.random_instance`;
each runs cold, warm and ideal for J = 1..--max-chunks through :func:`dashsim.sim.theory.check_theorems`.
Printed (and saved as CSV under --out): a table of claims x (instances checked, held, failed), the
same for instances breaking each assumption, and, for every claim that failed on a valid instance,
the smallest failing instance the shrinker reaches (overall, and with C >= 2 and tau >= 2).

    python3 experiments/theorem_checks.py --instances 10000 --seed 0
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import json
import os
import sys
import time
from pathlib import Path

# Parallelism comes from worker processes; BLAS threads on top of them only fight over the cores
# (measured: 3x slower on the 2-core machine). Must be set before numpy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
import pandas as pd

import dashsim
from dashsim.sim.instances import BREAKS, Instance, random_instance
from dashsim.sim.theory import CLAIMS, CLAIM_NAMES, check_assumptions, check_theorems

KINDS = ("valid", "dense") + BREAKS
# "dense": valid instances with C >= 2, tau in 2..3 and most features present in most points, a
# corner the default draw rarely visits (it is where ideal's per-experiment cost falls below warm's).
_DENSE = dict(num_classes=(2, 3), tau=(2, 3), num_features=(2, 6), cut=(0.85, 0.96))
# Broken instances keep C >= 2 and tau >= 2, so a failure there is due to the broken assumption
# and not to the degenerate cases C = 1 (accuracy is always 1) or tau = 1 (G is empty).
_BROKEN = dict(num_classes=(2, 3), tau=(2, 8))
_BLOCK = 250


def _size(inst: Instance) -> tuple[int, int, int, int]:
    comp = inst.composition
    return (comp.n_per_chunk, len(comp.labels), comp.num_classes, comp.features.shape[1])


def _check_block(task: tuple[int, int, int, int, int]) -> dict:
    """Check instances start..stop-1 of one kind; keep per claim the smallest failing instances."""
    seed, kind_index, start, stop, max_chunks = task
    kind = KINDS[kind_index]
    applicable = np.zeros(len(CLAIM_NAMES), np.int64)
    held = np.zeros(len(CLAIM_NAMES), np.int64)
    smallest: dict[tuple[int, bool], Instance] = {}
    for i in range(start, stop):
        rng = np.random.default_rng([seed, kind_index, i])
        if kind == "dense":
            inst = random_instance(rng, **_DENSE)
        else:
            inst = random_instance(rng) if kind == "valid" else random_instance(rng, breaks=kind, **_BROKEN)
        rep = check_theorems(inst.composition, max_chunks, gamma=inst.gamma, tau=inst.tau)
        for ci, claim in enumerate(rep.claims):
            applicable[ci] += claim.applicable
            held[ci] += claim.applicable and claim.holds
            if claim.applicable and not claim.holds:
                nondegenerate = inst.composition.num_classes >= 2 and inst.tau >= 2
                for key in {(ci, False), (ci, nondegenerate)}:
                    if key not in smallest or _size(inst) < _size(smallest[key]):
                        smallest[key] = inst
    return {"kind": kind, "applicable": applicable, "held": held, "smallest": smallest}


def run_checks(kinds: tuple[str, ...], n_instances: int, seed: int, max_chunks: int, workers: int) -> dict[str, dict]:
    """Check n_instances of each kind ("valid" or an entry of BREAKS), in blocks over workers."""
    tasks = []
    for kind in kinds:
        k = KINDS.index(kind)
        tasks += [(seed, k, s, min(s + _BLOCK, n_instances), max_chunks) for s in range(0, n_instances, _BLOCK)]
    # Compile (or load from numba's cache) once here so forked workers inherit the kernels.
    warm = random_instance(np.random.default_rng(0))
    check_theorems(warm.composition, 2, gamma=warm.gamma, tau=warm.tau)
    if workers > 1:
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(_check_block, tasks))
    else:
        parts = [_check_block(t) for t in tasks]
    merged: dict[str, dict] = {}
    for part in parts:
        m = merged.setdefault(part["kind"], {"n": 0, "applicable": 0, "held": 0, "smallest": {}})
        m["applicable"] = m["applicable"] + part["applicable"]
        m["held"] = m["held"] + part["held"]
        for key, inst in part["smallest"].items():
            if key not in m["smallest"] or _size(inst) < _size(m["smallest"][key]):
                m["smallest"][key] = inst
    for kind in merged:
        merged[kind]["n"] = n_instances
    return merged


def claims_table(merged: dict[str, dict], kind: str = "valid") -> pd.DataFrame:
    """Valid instances of one kind: claim x (instances, checked, held, failed)."""
    m = merged[kind]
    return pd.DataFrame({
        "claim": CLAIM_NAMES,
        "reference": [ref for _, ref in CLAIMS],
        "instances": m["n"],
        "checked": m["applicable"],
        "held": m["held"],
        "failed": m["applicable"] - m["held"],
    })


def broken_table(merged: dict[str, dict]) -> pd.DataFrame:
    """Broken instances: claim x broken assumption, 'failed/checked'."""
    table = {"claim": CLAIM_NAMES}
    for kind in BREAKS:
        if kind in merged:
            m = merged[kind]
            table[f"breaks {kind}"] = [f"{a - h}/{a}" for a, h in zip(m["applicable"], m["held"])]
    return pd.DataFrame(table)


# --------------------------------------------------------------------------------------------
# shrinking a counterexample
# --------------------------------------------------------------------------------------------
def _gamma_window(comp: "dashsim.Composition", tau: int) -> tuple[int, int] | None:
    C, K = comp.num_classes, comp.features.shape[1]
    s = np.zeros((C, K), np.int64)
    np.add.at(s, comp.labels, comp.features * comp.counts[:, None])
    s = -np.sort(-s, axis=1)
    lo = int(s[:, tau - 1].max()) + 1
    hi = int(s[:, tau - 2].min()) if tau >= 2 else 3 * lo
    return (lo, hi) if lo <= hi else None


def _fails(comp, gamma: int, tau: int, claim: str, max_chunks: int) -> bool:
    if not check_assumptions(comp, gamma=gamma, tau=tau).all_hold:
        return False
    rep = check_theorems(comp, max_chunks, gamma=gamma, tau=tau)
    return any(c.name == claim for c in rep.failed())


def _make(labels, features, counts, C) -> "dashsim.Composition":
    key = labels * (1 << features.shape[1]) + features @ (1 << np.arange(features.shape[1]))
    uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
    merged = np.zeros(len(uniq), np.int64)
    np.add.at(merged, inv.ravel(), counts)
    return dashsim.Composition(labels=labels[first], features=features[first], counts=merged, num_classes=C)


def _candidates(comp, tau: int, min_classes: int, min_tau: int):
    """Smaller neighbours of (comp, tau), biggest reductions first."""
    labels, features, counts, C = comp.labels, comp.features, comp.counts, comp.num_classes
    K = features.shape[1]
    if C > min_classes:
        for c in range(C):
            keep = labels != c
            yield _make(np.where(labels[keep] > c, labels[keep] - 1, labels[keep]), features[keep], counts[keep], C - 1), tau
    if K > 1:
        # Features are numbered per class, so each class may drop a different one (K^C choices).
        choices = itertools.product(range(K), repeat=C) if K**C <= 4096 else ((k,) * C for k in range(K))
        for drop in choices:
            keep = np.ones_like(features)
            keep[np.arange(len(labels)), np.asarray(drop)[labels]] = False
            projected = features[keep].reshape(len(labels), K - 1)
            for t in {min(tau, K - 1), tau - 1}:
                if max(min_tau, 1) <= t <= K - 1:
                    yield _make(labels, projected, counts, C), t
    if tau > min_tau:
        yield comp, tau - 1
    if counts.max() > 1:
        yield _make(labels, features, np.maximum(1, (counts + 1) // 2), C), tau
        yield _make(labels, features, np.maximum(1, (3 * counts + 3) // 4), C), tau
    # The same combination in every class at once: keeps classes aligned under one gamma.
    codes = features @ (1 << np.arange(K))
    for code in np.unique(codes):
        rows = codes == code
        if counts[rows].min() > 1:
            for c2 in (np.where(rows, counts - 1, counts), np.where(rows, np.maximum(1, counts // 2), counts)):
                yield _make(labels, features, c2, C), tau
    for r in np.argsort(-counts, kind="stable"):
        for new in {max(1, int(counts[r]) // 2), int(counts[r]) - 1}:
            if 1 <= new < counts[r]:
                c2 = counts.copy()
                c2[r] = new
                yield _make(labels, features, c2, C), tau


def _key(comp, tau: int) -> tuple[int, int, int, int, int]:
    return (comp.n_per_chunk, len(comp.labels), comp.num_classes, comp.features.shape[1], tau)


def shrink(inst: Instance, claim: str, max_chunks: int, *, min_classes: int = 1, min_tau: int = 1,
           budget_s: float = 20.0) -> tuple["dashsim.Composition", int, int]:
    """Greedy shrink: keep taking a smaller valid neighbour on which ``claim`` still fails."""
    comp, gamma, tau = inst.composition, inst.gamma, inst.tau
    deadline = time.perf_counter() + budget_s
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        for cand, t in _candidates(comp, tau, min_classes, min_tau):
            # Only strictly smaller neighbours, or the loop could cycle on equal-size ones.
            if _key(cand, t) >= _key(comp, tau):
                continue
            window = _gamma_window(cand, t)
            if window is None:
                continue
            lo, hi = window
            for g in dict.fromkeys((min(max(gamma, lo), hi), lo, hi, (lo + hi) // 2)):
                if _fails(cand, g, t, claim, max_chunks):
                    comp, gamma, tau, improved = cand, g, t, True
                    break
            if improved or time.perf_counter() > deadline:
                break
    return comp, gamma, tau


def describe(comp, gamma: int, tau: int, claim: str, max_chunks: int) -> str:
    """The instance, its theory quantities and the failing claim's numbers, as plain text."""
    rep = check_theorems(comp, max_chunks, gamma=gamma, tau=tau)
    res = dashsim.simulate_composition(comp, max_chunks, gamma=gamma, tau=tau)
    acc = dashsim.accuracy_composition(res.learned, comp, tau)
    K = comp.features.shape[1]
    rows = [f"  class {int(c)}  A = {{{','.join(str(k) for k in range(K) if a[k])}}}  n_A = {int(n)}"
            for c, a, n in zip(comp.labels, comp.features, comp.counts)]
    c = next(x for x in rep.claims if x.name == claim)
    shown = min(max_chunks, max(8, (c.failed_at[-1] if c.failed_at and isinstance(c.failed_at[-1], int) else 0)))
    lines = [
        f"claim: {claim} ({c.reference}); failed at {list(c.failed_at)}; "
        f"{'first failing pair' if c.reference == 'Lemma D.1' else f'at J = {c.at}'}: lhs = {c.lhs:g}, rhs = {c.rhs:g}",
        f"C = {comp.num_classes}, K = {K}, tau = {tau}, gamma = {gamma}, n = {comp.n_per_chunk}, "
        f"G = {np.flatnonzero(rep.G.ravel()).tolist()} (flat c*K+k), delta = {rep.delta:.6g}, "
        f"gamma/(delta n) = {rep.threshold:.6g}",
        *rows,
        "  J:       " + " ".join(f"{j:>7d}" for j in range(1, shown + 1)),
    ]
    for m, name in enumerate(res.methods):
        lines.append(f"  T_{name:<6} " + " ".join(f"{int(x):>7d}" for x in np.cumsum(res.n_nonzero[m])[:shown]))
    for m, name in enumerate(res.methods):
        lines.append(f"  ACC_{name:<4} " + " ".join(f"{x:>7.4f}" for x in acc[m, :shown]))
    for m, name in enumerate(res.methods):
        lines.append(f"  |L_{name}| " + " ".join(f"{int(x):>7d}" for x in res.n_learned[m, :shown]))
    other = [x.name for x in rep.failed() if x.name != claim]
    lines.append(f"  other claims failing on this instance: {other if other else 'none'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000, help="valid random instances to check")
    parser.add_argument("--dense-instances", type=int, default=2_000,
                        help="extra valid instances with C 2..3, tau 2..3, dense features")
    parser.add_argument("--broken-instances", type=int, default=500, help="instances per broken assumption")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-chunks", type=int, default=24, help="horizon J: experiments 1..J per instance")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--shrink-seconds", type=float, default=10.0, help="time budget per shrink (0: no shrinking)")
    parser.add_argument("--out", type=Path, default=Path("experiments/out/theorem_checks"))
    args = parser.parse_args(argv)
    if args.instances < 1 or args.broken_instances < 0 or args.max_chunks < 2 or args.workers < 1:
        parser.error("need --instances >= 1, --broken-instances >= 0, --max-chunks >= 2, --workers >= 1")

    t0 = time.perf_counter()
    merged = run_checks(("valid",), args.instances, args.seed, args.max_chunks, args.workers)
    t_valid = time.perf_counter() - t0
    if args.broken_instances:
        merged.update(run_checks(BREAKS, args.broken_instances, args.seed, args.max_chunks, args.workers))
    if args.dense_instances:
        merged.update(run_checks(("dense",), args.dense_instances, args.seed, args.max_chunks, args.workers))
    t_rest = time.perf_counter() - t0 - t_valid
    valid, broken = claims_table(merged), broken_table(merged)
    args.out.mkdir(parents=True, exist_ok=True)
    valid.to_csv(args.out / "valid_instances.csv", index=False)
    if args.dense_instances:
        dense = claims_table(merged, "dense")
        dense.to_csv(args.out / "dense_valid_instances.csv", index=False)
    broken.to_csv(args.out / "broken_instances.csv", index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 60):
        print(f"Valid instances (Assumptions 3.1 and 3.3 hold), J = 1..{args.max_chunks}, seed {args.seed}:")
        print(valid.to_string(index=False))
        if args.dense_instances:
            print("\nValid instances, dense corner (C 2..3, tau 2..3, K 2..6, features mostly present):")
            print(dense.to_string(index=False))
        print(f"\nInstances breaking one assumption ({args.broken_instances} each, C 2..3, tau >= 2), failed/checked:")
        print(broken.to_string(index=False))
    print(f"\nchecked {args.instances} valid instances in {t_valid:.1f} s, then "
          f"{len(BREAKS) * args.broken_instances} broken and {args.dense_instances} dense ones in {t_rest:.1f} s, "
          f"with {args.workers} worker(s)")

    report = []
    valid_kinds = [k for k in ("valid", "dense") if k in merged]
    failed_claims = [(ci, name) for ci, name in enumerate(CLAIM_NAMES)
                     if any(merged[k]["applicable"][ci] > merged[k]["held"][ci] for k in valid_kinds)]
    if failed_claims:
        print("\nClaims failing on valid instances: smallest failing instance found (shrunk):")
    for ci, name in failed_claims:
        for nondegenerate in (False, True):
            found = [merged[k]["smallest"][(ci, nondegenerate)] for k in valid_kinds
                     if (ci, nondegenerate) in merged[k]["smallest"]]
            inst = min(found, key=_size) if found else None
            if inst is None:
                continue
            label = "with C >= 2 and tau >= 2" if nondegenerate else "any C, tau"
            if args.shrink_seconds > 0:
                comp, gamma, tau = shrink(inst, name, args.max_chunks, min_classes=2 if nondegenerate else 1,
                                          min_tau=2 if nondegenerate else 1, budget_s=args.shrink_seconds)
            else:
                comp, gamma, tau = inst.composition, inst.gamma, inst.tau
            text = describe(comp, gamma, tau, name, args.max_chunks)
            print(f"\n[{name}] ({label})\n{text}")
            report.append({"claim": name, "restriction": label, "gamma": gamma, "tau": tau,
                           "num_classes": comp.num_classes, "labels": comp.labels.tolist(),
                           "features": comp.features.astype(int).tolist(), "counts": comp.counts.tolist(),
                           "description": text})
    (args.out / "counterexamples.json").write_text(json.dumps(report, indent=1))
    print(f"\nwrote {args.out}/valid_instances.csv, broken_instances.csv, counterexamples.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
