"""Every fixed-composition instance up to a size bound, checked against every claim of the theory.

An instance is a fixed composition (a count ``n_A`` for every class c and combination ``A ⊂ S_c``),
a threshold gamma and a tau. :class:`Bound` fixes the classes C <= ``num_classes``, the features
per class K <= ``num_features``, the counts ``min_count <= n_A <= max_count`` and the horizon J.
For each composition every tau in 1..K and every integer gamma in 1..s_max+1 is checked, s_max
being the largest count of any feature: counts are integers, so a real gamma in (m-1, m] gives the
same runs as m, and every gamma above s_max learns nothing, as s_max+1 does.

Symmetry: permuting the features inside a class, or the classes, maps an instance meeting
Assumption 3.3(i) to one with the same verdict on every claim (ties between classes go to the
smaller index, but learning in one class never changes another's counts). So one representative per
orbit is checked (per class the smallest count vector over the K! feature permutations; classes as
a multiset) and stands for the orbit's size. Instances breaking 3.3(i) (ties inside a class, which
the feature order then breaks) are counted but their claims are not tallied. Tests compare this
against a plain enumeration of every instance.

Work is split into chunks of the enumeration, each checked by one call of the batched kernel
:func:`dashsim.sim._exhaustive_kernels.check_instances`, over any executor with a
``concurrent.futures``-like ``map``; chunks are merged in order, so the result does not depend on
the executor.

References: Shin, Oh, Cho, Yun, "DASH", NeurIPS 2024, Assumptions 3.1 and 3.3, Theorems 3.4 and
3.6, Lemmas D.1-D.3.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import _exhaustive_kernels as _ek
from .synthetic import Composition
from .theory import CLAIMS

__all__ = ["Bound", "ExhaustiveResult", "class_orbits", "compositions", "exhaustive_check", "check_tables",
           "STATUS_NAMES", "instance_code"]

# Status bits -> which assumptions an instance breaks ("valid" when none).
STATUS_NAMES: dict[int, str] = {
    s: "valid" if s == 0 else "breaks " + " + ".join(
        name for bit, name in ((_ek.BROKEN_3_1, "3.1"), (_ek.BROKEN_3_3_I, "3.3(i)"), (_ek.BROKEN_3_3_II, "3.3(ii)"))
        if s & bit)
    for s in range(8)
}
# Claims whose "at" is an experiment J (it orders their counterexamples); the Lemmas' is not.
_AT_IS_J = frozenset(range(0, 13))
_MAX_CLASS_VECTORS = 1 << 22  # count vectors per class enumerated in memory
_MAX_COMPOSITIONS = 50_000_000
_KEEP = 3  # smallest counterexamples kept per claim and restriction


@dataclasses.dataclass(frozen=True)
class Bound:
    """The instances enumerated: every table within these sizes, every tau and gamma."""

    num_classes: int = 2  # C: classes 1..num_classes
    num_features: int = 3  # K: features per class 1..num_features
    max_count: int = 2  # largest n_A of any combination A
    max_chunks: int = 12  # J: the horizon, experiments 1..J
    min_count: int = 1  # smallest n_A (0 lets combinations be missing, breaking Assumption 3.1)
    min_tau: int = 1  # smallest tau enumerated (taus min_tau..K; 2 leaves out the degenerate tau = 1)

    def __post_init__(self):
        for field, lo, hi in (("num_classes", 1, 4), ("num_features", 1, 4), ("max_count", 1, 64),
                              ("max_chunks", 2, 256), ("min_count", 0, 64), ("min_tau", 1, 4)):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
                raise ValueError(f"Bound.{field} must be an integer in [{lo}, {hi}]; got {value!r}")
        if self.min_tau > self.num_features:
            raise ValueError(f"Bound.min_tau must be <= num_features = {self.num_features}; got {self.min_tau}")
        if self.min_count > self.max_count:
            raise ValueError(f"Bound.min_count must be <= max_count = {self.max_count}; got {self.min_count}")
        for K in range(1, self.num_features + 1):
            if self.n_values ** (2**K) > _MAX_CLASS_VECTORS:
                raise ValueError(f"Bound: {self.n_values}^(2^{K}) count vectors per class exceed "
                                 f"{_MAX_CLASS_VECTORS}; lower num_features or max_count - min_count")
        for C, K in self.shapes():
            n = math.comb(len(class_orbits(K, self.min_count, self.max_count)[0]) + C - 1, C)
            if n > _MAX_COMPOSITIONS:
                raise ValueError(f"Bound: C={C}, K={K} has {n:,} compositions up to symmetry, over "
                                 f"{_MAX_COMPOSITIONS:,}; lower num_classes, num_features or max_count")

    @property
    def n_values(self) -> int:
        """How many values each n_A takes."""
        return self.max_count - self.min_count + 1

    def shapes(self) -> list[tuple[int, int]]:
        """Every (C, K) within the bound, smallest first."""
        return [(C, K) for C in range(1, self.num_classes + 1) for K in range(self.min_tau, self.num_features + 1)]


@functools.lru_cache(maxsize=32)
def class_orbits(K: int, min_count: int, max_count: int) -> tuple[np.ndarray, np.ndarray]:
    """One class's count vectors up to permutations of its K features.

    Every vector ``v`` (``v[a]`` = n_A for the combination with bit k set when feature k is in A)
    with entries in min_count..max_count; the representative of an orbit is its smallest vector,
    comparing ``v[0], v[1], ...`` in turn.

    Returns
    -------
    (representatives (R, 2^K) int64, orbit sizes (R,) int64), representatives in increasing order.
    """
    S, m = 2**K, max_count - min_count + 1
    index = np.arange(m**S, dtype=np.int64)
    weights = m ** np.arange(S - 1, -1, -1, dtype=np.int64)  # v[0] is the most significant digit
    digits = (index[:, None] // weights) % m
    codes = np.arange(S)
    best = index.copy()
    for perm in itertools.permutations(range(K)):
        # Feature k moves to perm[k]: combination a moves to the one with bit perm[k] for each bit k of a.
        moved = np.zeros(S, np.int64)
        for k in range(K):
            moved |= ((codes >> k) & 1) << perm[k]
        permuted = np.empty_like(digits)
        permuted[:, moved] = digits
        best = np.minimum(best, permuted @ weights)
    reps, sizes = np.unique(best, return_counts=True)
    return ((reps[:, None] // weights) % m + min_count).astype(np.int64), sizes.astype(np.int64)


@functools.lru_cache(maxsize=32)
def compositions(C: int, K: int, min_count: int, max_count: int) -> tuple[np.ndarray, np.ndarray]:
    """Every composition of C classes up to feature and class permutations.

    Returns
    -------
    (choice (M, C) int64: each class's representative in :func:`class_orbits`, non-decreasing;
    weight (M,) int64: the instances each stands for, the product of the class orbit sizes times the
    distinct orders of the classes, C! / prod(multiplicity!)).
    """
    reps, sizes = class_orbits(K, min_count, max_count)
    choice = np.array(list(itertools.combinations_with_replacement(range(len(reps)), C)), np.int64).reshape(-1, C)
    weight = np.prod(sizes[choice], axis=1)
    # C! / prod(multiplicity!): along a sorted row, the run lengths 1, 2, ..., r of a run multiply to r!.
    run = np.ones(len(choice), np.int64)
    repeats = np.ones(len(choice), np.int64)
    for c in range(1, C):
        run = np.where(choice[:, c] == choice[:, c - 1], run + 1, 1)
        repeats *= run
    orders = math.factorial(C) // repeats
    return choice, weight * orders


def instance_code(table: np.ndarray, gamma: int, tau: int) -> str:
    """Ready-to-run Python that rebuilds the instance and runs the reference checker on it."""
    C, S = table.shape
    K = S.bit_length() - 1
    rows = [(c, a, int(table[c, a])) for c in range(C) for a in range(S) if table[c, a] > 0]
    labels = [c for c, _, _ in rows]
    features = [[(a >> k) & 1 for k in range(K)] for _, a, _ in rows]
    counts = [n for _, _, n in rows]
    return (
        "import numpy as np\n"
        "from dashsim.sim.synthetic import Composition\n"
        "from dashsim.sim.theory import check_theorems\n\n"
        f"comp = Composition(labels=np.array({labels}), features=np.array({features}, dtype=bool),\n"
        f"                   counts=np.array({counts}), num_classes={C})\n"
        "report = check_theorems(comp, {J}, gamma=" + f"{gamma}, tau={tau})\n"
        "print(report.to_frame()[['name', 'lhs', 'rhs', 'holds', 'applicable', 'at']])\n"
    )


def check_tables(tables: np.ndarray, gammas: Sequence[int], taus: Sequence[int], max_chunks: int,
                 comp: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """Check every claim on explicit instances with the batched kernel.

    Parameters
    ----------
    tables : (M, C, 2^K) int64
        ``tables[i, c, a]`` = n_A for class c and combination a (bit k: feature k of class c).
    gammas, taus : (B,) int
        Each instance's gamma (>= 1) and tau (1..K).
    max_chunks : int >= 2
        The horizon J.
    comp : (B,) int or None
        Each instance's table (default: instance b uses table b).

    Returns
    -------
    dict of arrays: ``status`` (B,) assumption bits (see :data:`STATUS_NAMES`); per claim of
    :data:`~dashsim.sim.theory.CLAIMS` (B, 16): ``applicable``, ``holds``, ``lhs``, ``rhs``, ``at``
    (-1 where :func:`~dashsim.sim.theory.check_theorems` reports None).
    """
    tables = np.ascontiguousarray(tables, dtype=np.int64)
    if tables.ndim != 3 or tables.shape[2] & (tables.shape[2] - 1) or tables.shape[2] < 2:
        raise ValueError(f"tables must have shape (M, C, 2^K) with K >= 1; got {tables.shape}")
    K = tables.shape[2].bit_length() - 1
    gammas = np.ascontiguousarray(gammas, dtype=np.int64)
    taus = np.ascontiguousarray(taus, dtype=np.int64)
    comp = np.arange(len(tables), dtype=np.int64) if comp is None else np.ascontiguousarray(comp, dtype=np.int64)
    B = len(gammas)
    if taus.shape != (B,) or comp.shape != (B,):
        raise ValueError(f"gammas, taus and comp must have one entry per instance; got {B}, {taus.shape}, {comp.shape}")
    if B and (gammas.min() < 1 or taus.min() < 1 or taus.max() > K or comp.min() < 0 or comp.max() >= len(tables)):
        raise ValueError(f"need gamma >= 1, tau in [1, K={K}] and comp in [0, {len(tables)})")
    if tables.size and tables.min() < 0:
        raise ValueError("tables (n_A) must be >= 0")
    if B and (tables.sum(axis=(1, 2))[comp] < 1).any():
        raise ValueError("every instance's table needs n = sum n_A >= 1")
    if not isinstance(max_chunks, (int, np.integer)) or max_chunks < 2:
        raise ValueError(f"max_chunks must be an integer >= 2; got {max_chunks!r}")
    n = _ek.N_CLAIMS
    out = dict(status=np.zeros(B, np.int64), applicable=np.zeros((B, n), bool), holds=np.zeros((B, n), bool),
               lhs=np.zeros((B, n)), rhs=np.zeros((B, n)), at=np.zeros((B, n), np.int64))
    _ek.check_instances(tables, comp, gammas, taus, K, int(max_chunks), out["status"], out["applicable"],
                        out["holds"], out["lhs"], out["rhs"], out["at"])
    return out


# An extra claim for the checker: (name, fn(tables (B, C, 2^K), gammas (B,), taus (B,)) -> holds (B,) bool).
ExtraClaim = tuple[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]]


@dataclasses.dataclass
class _Part:
    """The tallies of a run of chunks (merged in enumeration order)."""

    n_claims: int
    instances: dict[int, list[int]] = dataclasses.field(default_factory=dict)  # status -> [representatives, weight]
    applicable: np.ndarray = None  # (2, n_claims): representatives, represented (status 0 only)
    held: np.ndarray = None
    broken_failed: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)  # status -> (2, n_claims) failed
    broken_applicable: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)
    smallest: dict[tuple[int, bool], list[tuple]] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.applicable is None:
            self.applicable = np.zeros((2, self.n_claims), np.int64)
            self.held = np.zeros((2, self.n_claims), np.int64)

    def merge(self, other: _Part) -> None:
        for s, (r, w) in other.instances.items():
            mine = self.instances.setdefault(s, [0, 0])
            mine[0] += r
            mine[1] += w
        self.applicable += other.applicable
        self.held += other.held
        for s in other.broken_failed:
            self.broken_failed.setdefault(s, np.zeros((2, self.n_claims), np.int64))
            self.broken_applicable.setdefault(s, np.zeros((2, self.n_claims), np.int64))
            self.broken_failed[s] += other.broken_failed[s]
            self.broken_applicable[s] += other.broken_applicable[s]
        for key, found in other.smallest.items():
            self.smallest[key] = sorted(self.smallest.get(key, []) + found, key=lambda f: f[0])[:_KEEP]


def _expand(tables: np.ndarray, K: int, min_tau: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Every tau in min_tau..K and gamma in 1..s_max+1 of each table, table-major.
    member = (np.arange(2**K)[:, None] >> np.arange(K)) & 1  # (S, K)
    s_max = (tables @ member).max(axis=(1, 2))
    per_tau = s_max + 1
    reps = per_tau * (K - min_tau + 1)
    comp = np.repeat(np.arange(len(tables)), reps)
    start = np.cumsum(reps) - reps
    local = np.arange(len(comp)) - np.repeat(start, reps)
    per = np.repeat(per_tau, reps)
    return comp, local % per + 1, local // per + min_tau


def _check_chunk(task: tuple) -> _Part:
    (C, K, start, stop, bound, extra) = task
    reps, _ = class_orbits(K, bound.min_count, bound.max_count)
    choice, weight = compositions(C, K, bound.min_count, bound.max_count)
    tables = reps[choice[start:stop]]  # (M, C, S)
    weight = weight[start:stop]
    if bound.min_count == 0:
        # A table with no point at all is no instance (n >= 1).
        keep = tables.sum(axis=(1, 2)) > 0
        tables, weight, position = tables[keep], weight[keep], start + np.flatnonzero(keep)
    else:
        position = start + np.arange(len(tables))
    comp, gammas, taus = _expand(tables, K, bound.min_tau)
    out = check_tables(tables, gammas, taus, bound.max_chunks, comp)
    holds, applicable, at = out["holds"], out["applicable"], out["at"]
    if extra:
        ok = np.stack([np.asarray(fn(tables[comp], gammas, taus), bool) for _, fn in extra], axis=1)
        holds = np.concatenate([holds, ok], axis=1)
        applicable = np.concatenate([applicable, np.ones_like(ok)], axis=1)
        at = np.concatenate([at, np.full(ok.shape, -1)], axis=1)
    n_claims = holds.shape[1]
    part = _Part(n_claims)
    status, w = out["status"], weight[comp]
    for s in np.unique(status):
        rows = status == s
        part.instances[int(s)] = [int(rows.sum()), int(w[rows].sum())]
        if s & _ek.BROKEN_3_3_I:
            continue  # ties inside a class: the representative does not speak for its orbit
        app_s, fail_s = applicable[rows], applicable[rows] & ~holds[rows]
        tally_app = np.stack([app_s.sum(axis=0), (app_s * w[rows, None]).sum(axis=0)])
        tally_fail = np.stack([fail_s.sum(axis=0), (fail_s * w[rows, None]).sum(axis=0)])
        if s == 0:
            part.applicable += tally_app
            part.held += tally_app - tally_fail
        else:
            part.broken_applicable[int(s)] = tally_app
            part.broken_failed[int(s)] = tally_fail
    n = tables.sum(axis=(1, 2))[comp]
    failing = (status == 0)[:, None] & applicable & ~holds
    for ci in np.flatnonzero(failing.any(axis=0)):
        rows = np.flatnonzero(failing[:, ci])
        j_key = at[rows, ci] if int(ci) in _AT_IS_J else np.full(len(rows), bound.max_chunks)
        nondegenerate = (C >= 2) & (taus[rows] >= 2)
        for restricted in (False, True):
            sel = nondegenerate if restricted else np.ones(len(rows), bool)
            if not sel.any():
                continue
            r, jk = rows[sel], j_key[sel]
            # Smallest by n, then C, K, the failing J, then tau, gamma and the enumeration position.
            order = np.lexsort((position[comp[r]], gammas[r], taus[r], jk, n[r]))[:_KEEP]
            part.smallest[(int(ci), restricted)] = [
                ((int(n[r[i]]), C, K, int(jk[i]), int(taus[r[i]]), int(gammas[r[i]]), int(position[comp[r[i]]])),
                 dict(claim=int(ci), C=C, K=K, n=int(n[r[i]]), tau=int(taus[r[i]]), gamma=int(gammas[r[i]]),
                      J=int(jk[i]), table=tables[comp[r[i]]].tolist(), represents=int(w[r[i]]),
                      lhs=float(out["lhs"][r[i], ci]) if ci < _ek.N_CLAIMS else math.nan,
                      rhs=float(out["rhs"][r[i], ci]) if ci < _ek.N_CLAIMS else math.nan,
                      at=int(at[r[i], ci])))
                for i in order]
    return part


class _LocalExecutor:
    """In-process ``map`` (the default executor)."""

    def map(self, fn, iterable):
        return map(fn, iterable)


@dataclasses.dataclass
class ExhaustiveResult:
    """What :func:`exhaustive_check` found: instance counts by assumption, claim tallies, smallest failures."""

    bound: Bound
    claim_names: tuple[str, ...]  # CLAIMS names, then any extra claims
    references: tuple[str, ...]
    instances: dict[str, tuple[int, int]]  # status name -> (representatives checked, instances represented)
    applicable: np.ndarray  # (2, n_claims) valid instances where the claim applied: representatives, represented
    held: np.ndarray  # (2, n_claims) ... and held
    broken: dict[str, tuple[np.ndarray, np.ndarray]]  # status name -> (applicable, failed), each (2, n_claims)
    smallest: dict[tuple[int, bool], list[dict]]  # (claim index, C >= 2 and tau >= 2) -> smallest failures
    seconds: float

    @property
    def n_checked(self) -> int:
        """Representatives checked (every tau and gamma counted)."""
        return sum(r for r, _ in self.instances.values())

    @property
    def n_represented(self) -> int:
        """Instances they stand for."""
        return sum(w for _, w in self.instances.values())

    def claims_table(self) -> pd.DataFrame:
        """Valid instances: claim x (checked, held, failed over representatives; the same over represented)."""
        return pd.DataFrame({
            "claim": self.claim_names,
            "reference": self.references,
            "checked": self.applicable[0],
            "held": self.held[0],
            "failed": self.applicable[0] - self.held[0],
            "represented checked": self.applicable[1],
            "represented failed": self.applicable[1] - self.held[1],
        })

    def assumptions_table(self) -> pd.DataFrame:
        """Instances by which assumptions they break: representatives and instances represented."""
        names = sorted(self.instances, key=lambda s: (s != "valid", s))
        return pd.DataFrame({"instances": names, "representatives": [self.instances[s][0] for s in names],
                             "represented": [self.instances[s][1] for s in names]})

    def broken_table(self) -> pd.DataFrame:
        """Instances breaking 3.1 and/or 3.3(ii) (not 3.3(i)): claim x status, 'failed/checked' representatives."""
        table = {"claim": self.claim_names}
        for name, (app, failed) in sorted(self.broken.items()):
            table[name] = [f"{f}/{a}" for f, a in zip(failed[0], app[0])]
        return pd.DataFrame(table)

    def counterexamples_table(self, restricted: bool = False) -> pd.DataFrame:
        """The smallest failing valid instances per claim (all, or only C >= 2 and tau >= 2)."""
        rows = []
        for (ci, r), found in sorted(self.smallest.items()):
            if r != restricted:
                continue
            for f in found:
                rows.append(dict(claim=self.claim_names[ci], n=f["n"], C=f["C"], K=f["K"], J=f["J"], tau=f["tau"],
                                 gamma=f["gamma"], lhs=f["lhs"], rhs=f["rhs"],
                                 n_A=";".join(" ".join(map(str, row)) for row in f["table"]),
                                 represents=f["represents"]))
        return pd.DataFrame(rows, columns=["claim", "n", "C", "K", "J", "tau", "gamma", "lhs", "rhs", "n_A",
                                           "represents"])

    def code(self, claim: int, restricted: bool = False, rank: int = 0) -> str:
        """Ready-to-run Python rebuilding one of the smallest failing instances of ``claim``."""
        f = self.smallest[(claim, restricted)][rank]
        return instance_code(np.asarray(f["table"]), f["gamma"], f["tau"]).replace("{J}", str(self.bound.max_chunks))

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-ready types."""
        def clean(x):
            return None if isinstance(x, float) and math.isnan(x) else x

        return {
            "bound": dataclasses.asdict(self.bound),
            "seconds": self.seconds,
            "instances": {k: {"representatives": r, "represented": w} for k, (r, w) in self.instances.items()},
            "claims": [dict(claim=name, reference=ref, checked=int(self.applicable[0, i]), held=int(self.held[0, i]),
                            failed=int(self.applicable[0, i] - self.held[0, i]),
                            represented_checked=int(self.applicable[1, i]),
                            represented_failed=int(self.applicable[1, i] - self.held[1, i]))
                       for i, (name, ref) in enumerate(zip(self.claim_names, self.references))],
            "broken": {k: [dict(claim=name, checked=int(a[0, i]), failed=int(f[0, i]))
                           for i, name in enumerate(self.claim_names)] for k, (a, f) in self.broken.items()},
            "counterexamples": [
                dict({k: clean(v) for k, v in f.items()}, claim=self.claim_names[ci], nondegenerate_only=r,
                     code=instance_code(np.asarray(f["table"]), f["gamma"], f["tau"]).replace(
                         "{J}", str(self.bound.max_chunks)))
                for (ci, r), found in sorted(self.smallest.items()) for f in found],
        }


def exhaustive_check(bound: Bound, *, executor: Any = None, chunk_size: int = 2000,
                     extra_claims: Sequence[ExtraClaim] = ()) -> ExhaustiveResult:
    """Check every claim on every instance within ``bound``, one representative per symmetry orbit.

    Parameters
    ----------
    bound : Bound
        C, K, the range of n_A and the horizon J (all taus and integer gammas are enumerated).
    executor : object with ``map(fn, iterable)`` or None
        Runs the chunks (``concurrent.futures.ProcessPoolExecutor``, say); None runs them here.
        Results are merged in chunk order, so they do not depend on it.
    chunk_size : int >= 1
        Compositions per chunk (each chunk is one kernel call over all their taus and gammas).
    extra_claims : sequence of (name, fn)
        More claims, ``fn(tables (B, C, 2^K), gammas (B,), taus (B,)) -> holds (B,) bool``; they
        must be invariant under the symmetries and picklable for process executors.

    Returns
    -------
    ExhaustiveResult
    """
    if not isinstance(bound, Bound):
        raise TypeError(f"bound must be a dashsim.sim.exhaustive.Bound; got {type(bound).__name__}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1; got {chunk_size!r}")
    if executor is not None and not callable(getattr(executor, "map", None)):
        raise TypeError("executor must have a concurrent.futures-like map(fn, iterable)")
    extra = tuple(extra_claims)
    t0 = time.perf_counter()
    # Compile (or load from numba's cache) here, so that forked workers inherit the kernel.
    check_tables(np.ones((1, 1, 2), np.int64), [1], [1], 2)
    tasks = [(C, K, s, min(s + chunk_size, len(compositions(C, K, bound.min_count, bound.max_count)[0])), bound, extra)
             for C, K in bound.shapes()
             for s in range(0, len(compositions(C, K, bound.min_count, bound.max_count)[0]), chunk_size)]
    total = _Part(_ek.N_CLAIMS + len(extra))
    for part in (executor or _LocalExecutor()).map(_check_chunk, tasks):
        total.merge(part)
    names = tuple(name for name, _ in CLAIMS) + tuple(name for name, _ in extra)
    refs = tuple(ref for _, ref in CLAIMS) + ("extra",) * len(extra)
    return ExhaustiveResult(
        bound=bound, claim_names=names, references=refs,
        instances={STATUS_NAMES[s]: (r, w) for s, (r, w) in sorted(total.instances.items())},
        applicable=total.applicable, held=total.held,
        broken={STATUS_NAMES[s]: (total.broken_applicable[s], total.broken_failed[s]) for s in total.broken_failed},
        smallest={key: [f for _, f in found] for key, found in total.smallest.items()},
        seconds=time.perf_counter() - t0)


def composition_of(table: np.ndarray) -> Composition:
    """The :class:`~dashsim.sim.synthetic.Composition` of a (C, 2^K) table (rows with n_A >= 1)."""
    table = np.asarray(table, dtype=np.int64)
    C, S = table.shape
    K = S.bit_length() - 1
    c, a = np.nonzero(table > 0)
    return Composition(labels=c.astype(np.int64), features=((a[:, None] >> np.arange(K)) & 1).astype(bool),
                       counts=table[c, a], num_classes=C)
