"""The theory's claims checked over many instances: tallies per claim, and the smallest failures, shrunk.

A source of :class:`~dashsim.sim.instances.Instance` objects feeds :func:`tally`, which runs
:func:`~dashsim.sim.theory.check_theorems` on each for J = 1..``max_chunks`` and counts, per claim of
:data:`~dashsim.sim.theory.CLAIMS`, the instances where the claim applies and where it holds, keeping
the smallest failing instance (by n, rows, C, K). :func:`random_checks` is the random source of
``experiments/theorem_checks.py`` (valid instances, a dense corner, and instances breaking each
assumption), split into blocks over worker processes; any other source (an exhaustive enumeration,
say) goes through the same :func:`tally`. :func:`counterexamples` shrinks the smallest failures
greedily (:func:`shrink`) while the claim still fails and describes them (:func:`describe`).

References: Shin, Oh, Cho, Yun, "DASH", NeurIPS 2024, Assumptions 3.1 and 3.3, Theorems 3.4 and
3.6, Lemmas D.1-D.3.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .accuracy import accuracy_composition
from .instances import BREAKS, Instance, random_instance
from .simulator import simulate_composition
from .synthetic import Composition
from .theory import CLAIM_NAMES, CLAIMS, TheoremReport, check_assumptions, check_theorems

__all__ = ["KINDS", "ClaimTally", "draw_instance", "tally", "random_checks", "claims_table", "broken_table",
           "shrink", "describe", "counterexamples"]

# Instance kinds of the random source: valid ones, a dense corner of valid ones, and one per broken assumption.
KINDS: tuple[str, ...] = ("valid", "dense") + BREAKS
# "dense": valid instances with C >= 2, tau in 2..3 and most features present in most points, a
# corner the default draw rarely visits (it is where ideal's per-experiment cost falls below warm's).
_DENSE = dict(num_classes=(2, 3), tau=(2, 3), num_features=(2, 6), cut=(0.85, 0.96))
# Broken instances keep C >= 2 and tau >= 2, so a failure there is due to the broken assumption
# and not to the degenerate cases C = 1 (accuracy is always 1) or tau = 1 (G is empty).
_BROKEN = dict(num_classes=(2, 3), tau=(2, 8))
_BLOCK = 250  # instances per worker task


def _size(inst: Instance) -> tuple[int, int, int, int]:
    comp = inst.composition
    return (comp.n_per_chunk, len(comp.labels), comp.num_classes, comp.features.shape[1])


def draw_instance(kind: str, seed: int, index: int) -> Instance:
    """Instance ``index`` of ``kind``, drawn from ``numpy.random.default_rng([seed, KINDS.index(kind), index])``.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`: "valid" (Assumptions 3.1 and 3.3 hold), "dense" (valid, C 2..3,
        tau 2..3, K 2..6, features mostly present) or an entry of :data:`BREAKS` (that assumption
        broken, C 2..3, tau >= 2).
    seed, index : int
        Together with ``kind`` they fix the instance, so any block of indices can be drawn anywhere.

    Returns
    -------
    Instance
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    rng = np.random.default_rng([seed, KINDS.index(kind), index])
    if kind == "valid":
        return random_instance(rng)
    if kind == "dense":
        return random_instance(rng, **_DENSE)
    return random_instance(rng, breaks=kind, **_BROKEN)


@dataclasses.dataclass
class ClaimTally:
    """Per claim of :data:`~dashsim.sim.theory.CLAIMS` (same order): how often it applied, held, failed."""

    n_instances: int = 0  # instances checked
    applicable: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(len(CLAIMS), np.int64))
    held: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(len(CLAIMS), np.int64))
    # (claim index, C >= 2 and tau >= 2) -> the smallest failing instance (by n, rows, C, K; first on ties)
    smallest: dict[tuple[int, bool], Instance] = dataclasses.field(default_factory=dict)

    @property
    def failed(self) -> np.ndarray:
        """(n_claims,) int64: instances where the claim applied and did not hold."""
        return self.applicable - self.held

    def add(self, inst: Instance, report: TheoremReport) -> None:
        """Count one checked instance."""
        self.n_instances += 1
        nondegenerate = inst.composition.num_classes >= 2 and inst.tau >= 2
        for ci, claim in enumerate(report.claims):
            self.applicable[ci] += claim.applicable
            self.held[ci] += claim.applicable and claim.holds
            if claim.applicable and not claim.holds:
                for key in {(ci, False), (ci, nondegenerate)}:
                    self._keep_smaller(key, inst)

    def merge(self, other: ClaimTally) -> None:
        """Add the counts of ``other`` (instances checked after this tally's ones)."""
        self.n_instances += other.n_instances
        self.applicable += other.applicable
        self.held += other.held
        for key, inst in other.smallest.items():
            self._keep_smaller(key, inst)

    def _keep_smaller(self, key: tuple[int, bool], inst: Instance) -> None:
        if key not in self.smallest or _size(inst) < _size(self.smallest[key]):
            self.smallest[key] = inst


def tally(instances: Iterable[Instance], max_chunks: int) -> ClaimTally:
    """Check every claim on each instance for J = 1..``max_chunks``; see :class:`ClaimTally`.

    Parameters
    ----------
    instances : iterable of Instance
        Any source: :func:`draw_instance` over a range, an enumeration, a hand-made list.
    max_chunks : int >= 1
        The horizon J of :func:`~dashsim.sim.theory.check_theorems`.

    Returns
    -------
    ClaimTally
    """
    result = ClaimTally()
    for inst in instances:
        result.add(inst, check_theorems(inst.composition, max_chunks, gamma=inst.gamma, tau=inst.tau))
    return result


def _tally_block(task: tuple[str, int, int, int, int]) -> tuple[str, ClaimTally]:
    kind, seed, start, stop, max_chunks = task
    return kind, tally((draw_instance(kind, seed, i) for i in range(start, stop)), max_chunks)


def random_checks(kinds: Sequence[str], n_instances: int, seed: int, max_chunks: int,
                  workers: int = 1, *, executor: Any = None) -> dict[str, ClaimTally]:
    """Tally ``n_instances`` random instances of each kind (:func:`draw_instance`), in blocks over workers.

    Parameters
    ----------
    kinds : sequence of str
        Entries of :data:`KINDS`.
    n_instances : int >= 1
        Instances per kind: indices 0..n_instances-1.
    seed : int
        Seed of every draw.
    max_chunks : int
        The horizon J.
    workers : int
        Worker processes (1: in this process) when no ``executor`` is given. The result does not depend on it.
    executor : object with ``map(fn, items)``, optional
        Runs the blocks instead (:func:`dashsim.sweep.make_executor`: local, processes or a Ray
        cluster); the result does not depend on it either.

    Returns
    -------
    dict of kind -> ClaimTally
    """
    tasks = [(kind, seed, s, min(s + _BLOCK, n_instances), max_chunks) for kind in kinds
             for s in range(0, n_instances, _BLOCK)]
    # Compile (or load from numba's cache) once here so forked workers inherit the kernels.
    tally([draw_instance("valid", 0, 0)], 2)
    if executor is not None:
        parts = list(executor.map(_tally_block, tasks))
    elif workers > 1:
        from ..sweep.executors import ProcessExecutor

        with ProcessExecutor(workers) as pool:
            parts = pool.map(_tally_block, tasks)
    else:
        parts = [_tally_block(t) for t in tasks]
    tallies: dict[str, ClaimTally] = {}
    for kind, part in parts:
        tallies.setdefault(kind, ClaimTally()).merge(part)
    return tallies


def claims_table(tallies: dict[str, ClaimTally], kind: str = "valid") -> pd.DataFrame:
    """One kind's instances: claim x (reference, instances, checked, held, failed)."""
    t = tallies[kind]
    return pd.DataFrame({
        "claim": CLAIM_NAMES,
        "reference": [ref for _, ref in CLAIMS],
        "instances": t.n_instances,
        "checked": t.applicable,
        "held": t.held,
        "failed": t.failed,
    })


def broken_table(tallies: dict[str, ClaimTally]) -> pd.DataFrame:
    """Instances breaking one assumption: claim x broken assumption, ``'failed/checked'``."""
    table = {"claim": CLAIM_NAMES}
    for kind in BREAKS:
        if kind in tallies:
            t = tallies[kind]
            table[f"breaks {kind}"] = [f"{f}/{a}" for f, a in zip(t.failed, t.applicable)]
    return pd.DataFrame(table)


# --------------------------------------------------------------------------------------------
# shrinking a counterexample
# --------------------------------------------------------------------------------------------
def _gamma_window(comp: Composition, tau: int) -> tuple[int, int] | None:
    # The integer gammas meeting Assumption 3.3(ii): above every class's tau-th count, at most
    # every class's (tau-1)-th count.
    C, K = comp.num_classes, comp.features.shape[1]
    s = np.zeros((C, K), np.int64)
    np.add.at(s, comp.labels, comp.features * comp.counts[:, None])
    s = -np.sort(-s, axis=1)
    lo = int(s[:, tau - 1].max()) + 1
    hi = int(s[:, tau - 2].min()) if tau >= 2 else 3 * lo
    return (lo, hi) if lo <= hi else None


def _fails(comp: Composition, gamma: int, tau: int, claim: str, max_chunks: int) -> bool:
    if not check_assumptions(comp, gamma=gamma, tau=tau).all_hold:
        return False
    rep = check_theorems(comp, max_chunks, gamma=gamma, tau=tau)
    return any(c.name == claim for c in rep.failed())


def _make(labels, features, counts, C) -> Composition:
    # Rows with the same (label, features) merge, their counts added.
    key = labels * (1 << features.shape[1]) + features @ (1 << np.arange(features.shape[1]))
    uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
    merged = np.zeros(len(uniq), np.int64)
    np.add.at(merged, inv.ravel(), counts)
    return Composition(labels=labels[first], features=features[first], counts=merged, num_classes=C)


def _candidates(comp: Composition, tau: int, min_classes: int, min_tau: int) -> Iterator[tuple[Composition, int]]:
    """Smaller neighbours of (comp, tau), biggest reductions first."""
    labels, features, counts, C = comp.labels, comp.features, comp.counts, comp.num_classes
    K = features.shape[1]
    if C > min_classes:
        for c in range(C):
            keep = labels != c
            yield _make(np.where(labels[keep] > c, labels[keep] - 1, labels[keep]), features[keep], counts[keep],
                        C - 1), tau
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


def _key(comp: Composition, tau: int) -> tuple[int, int, int, int, int]:
    return (comp.n_per_chunk, len(comp.labels), comp.num_classes, comp.features.shape[1], tau)


def shrink(inst: Instance, claim: str, max_chunks: int, *, min_classes: int = 1, min_tau: int = 1,
           budget_s: float = 20.0) -> tuple[Composition, int, int]:
    """Greedy shrink: keep taking a strictly smaller valid neighbour on which ``claim`` still fails.

    Neighbours drop a class, a feature of each class, lower tau, or lower counts (biggest
    reductions first); each is tried with a few gammas meeting Assumption 3.3(ii). "Smaller" is the
    order on (n, rows, C, K, tau). Stops when no neighbour fails or after ``budget_s`` seconds.

    Parameters
    ----------
    inst : Instance
        A valid instance on which ``claim`` fails.
    claim : str
        An entry of :data:`~dashsim.sim.theory.CLAIM_NAMES`.
    max_chunks : int
        The horizon J.
    min_classes, min_tau : int
        Lower bounds kept while shrinking (2 and 2 keep the instance non-degenerate).
    budget_s : float
        Wall-clock budget in seconds.

    Returns
    -------
    (composition, gamma, tau) of the smallest failing instance reached.
    """
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


def describe(comp: Composition, gamma: int, tau: int, claim: str, max_chunks: int) -> str:
    """The instance, its theory quantities and the failing claim's numbers, as plain text.

    Lists the rows (class, A, n_A), G, delta and gamma/(delta n), then per method the training
    time T^(J), the test accuracy and |L^(J)| for the first J (at least 8, up to the last failure).
    """
    rep = check_theorems(comp, max_chunks, gamma=gamma, tau=tau)
    res = simulate_composition(comp, max_chunks, gamma=gamma, tau=tau)
    acc = accuracy_composition(res.learned, comp, tau)
    K = comp.features.shape[1]
    rows = [f"  class {int(c)}  A = {{{','.join(str(k) for k in range(K) if a[k])}}}  n_A = {int(n)}"
            for c, a, n in zip(comp.labels, comp.features, comp.counts)]
    c = next(x for x in rep.claims if x.name == claim)
    last_failed = c.failed_at[-1] if c.failed_at and isinstance(c.failed_at[-1], int) else 0
    shown = min(max_chunks, max(8, last_failed))
    where = "first failing pair" if c.reference == "Lemma D.1" else f"at J = {c.at}"
    lines = [
        f"claim: {claim} ({c.reference}); failed at {list(c.failed_at)}; {where}: lhs = {c.lhs:g}, rhs = {c.rhs:g}",
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


def counterexamples(tallies: dict[str, ClaimTally], max_chunks: int, *, kinds: Sequence[str] = ("valid", "dense"),
                    shrink_seconds: float = 10.0) -> list[dict[str, Any]]:
    """The smallest failing valid instance of every claim that failed, shrunk and described.

    For each claim failing on an instance of ``kinds`` and each restriction (any C and tau; C >= 2
    and tau >= 2), the smallest failing instance over those kinds is shrunk (:func:`shrink`, at most
    ``shrink_seconds``; 0 keeps it as found) and described (:func:`describe`).

    Parameters
    ----------
    tallies : dict of kind -> ClaimTally
        As returned by :func:`random_checks` (kinds missing from it are skipped).
    max_chunks : int
        The horizon J the tallies were checked with.
    kinds : sequence of str
        The kinds whose instances meet every assumption.
    shrink_seconds : float
        Budget of each shrink.

    Returns
    -------
    list of dict
        One per (claim, restriction): ``claim, restriction, gamma, tau, num_classes, labels, features,
        counts, description`` (JSON-ready), claims in :data:`~dashsim.sim.theory.CLAIMS` order.
    """
    kinds = [k for k in kinds if k in tallies]
    found = []
    for ci, name in enumerate(CLAIM_NAMES):
        if not any(tallies[k].failed[ci] > 0 for k in kinds):
            continue
        for nondegenerate in (False, True):
            candidates = [tallies[k].smallest[(ci, nondegenerate)] for k in kinds
                          if (ci, nondegenerate) in tallies[k].smallest]
            if not candidates:
                continue
            inst = min(candidates, key=_size)
            label = "with C >= 2 and tau >= 2" if nondegenerate else "any C, tau"
            if shrink_seconds > 0:
                comp, gamma, tau = shrink(inst, name, max_chunks, min_classes=2 if nondegenerate else 1,
                                          min_tau=2 if nondegenerate else 1, budget_s=shrink_seconds)
            else:
                comp, gamma, tau = inst.composition, inst.gamma, inst.tau
            found.append({"claim": name, "restriction": label, "gamma": gamma, "tau": tau,
                          "num_classes": comp.num_classes, "labels": comp.labels.tolist(),
                          "features": comp.features.astype(int).tolist(), "counts": comp.counts.tolist(),
                          "description": describe(comp, gamma, tau, name, max_chunks)})
    return found
