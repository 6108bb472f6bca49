"""Simulator of the DASH paper's discrete feature-learning framework (validating public wrappers).

The model (Shin et al., NeurIPS 2024, Section 3 and Appendix A; restated in
``shared/spec/framework.md``): a run ``TrainingProcess(L, M, T, gamma, tau)`` greedily learns the
unlearned feature contained in the most non-zero-gradient points while that count is ``>= gamma``
(ties: smallest flat index ``c*K + k``), drops points with ``tau`` learned features of their class,
and memorizes what is left. Between experiments a *rule* decides the state the next one starts
from: cold (forget all), warm (keep all), ideal (keep features, forget memorized points), or any
user-written rule such as :class:`ShrinkPerturbRule`.

The work runs in the numba kernels of :mod:`dashsim.sim._kernels`; this module checks input, converts
dtypes, builds the point/feature indices and shapes the results.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from . import _kernels
from .._validate import (as_binary_matrix, as_int_vector, check_int, check_int64_total, check_labels, check_memory,
                         check_real)
from .synthetic import Composition

__all__ = [
    "ProcessResult",
    "SimulationResult",
    "SimulationData",
    "BetweenExperimentRule",
    "ColdRule",
    "WarmRule",
    "IdealRule",
    "ShrinkPerturbRule",
    "BUILTIN_RULES",
    "training_process",
    "simulate",
    "simulate_composition",
]


# ----------------------------------------------------------------------------------------------
# Result types
# ----------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ProcessResult:
    """Outcome of one ``TrainingProcess(L, M, T, gamma, tau)`` run."""

    learned: np.ndarray  # (C, K) bool: L after the run
    memorized: np.ndarray  # (n,) bool: M restricted to T after the run
    order: np.ndarray  # (n_new,) int64: flat indices c*K + k learned in this run, in order
    n_nonzero: int  # |N| at the start of the run (weighted): the training-time proxy


@dataclasses.dataclass(frozen=True)
class SimulationResult:
    """Every method's state after each of the J experiments; axis 0 follows ``methods``."""

    methods: tuple[str, ...]  # method names, index 0 = methods[0]
    learned: np.ndarray  # (n_methods, J, C, K) bool: L^(j) after experiment j (axis 1 = j - 1)
    n_nonzero: np.ndarray  # (n_methods, J) int64: |N^(j,0)|, non-zero-gradient points at the start
    n_memorized: np.ndarray  # (n_methods, J) int64: |M^(j)| after experiment j
    order: np.ndarray  # (n_methods, J, C*K) int32: flat indices learned during j, -1 padded

    @property
    def n_learned(self) -> np.ndarray:
        """(n_methods, J) int64: |L^(j)|."""
        return self.learned.sum(axis=(2, 3), dtype=np.int64)

    @property
    def training_time(self) -> np.ndarray:
        """(n_methods, J) int64: T_m^(J) = sum_{j <= J} |N_m^(j,0)| (paper, Section 3.2)."""
        return np.cumsum(self.n_nonzero, axis=1)

    def to_frame(self):
        """Tidy pandas DataFrame: one row per (method, experiment)."""
        import pandas as pd

        n_methods, J = self.n_nonzero.shape
        return pd.DataFrame(
            {
                "method": np.repeat(np.array(self.methods, dtype=object), J),
                "experiment": np.tile(np.arange(1, J + 1), n_methods),
                "n_learned": self.n_learned.ravel(),
                "n_nonzero": self.n_nonzero.ravel(),
                "n_memorized": self.n_memorized.ravel(),
            }
        )


@dataclasses.dataclass(frozen=True)
class SimulationData:
    """The data a between-experiment rule may look at (points in the caller's order)."""

    features: np.ndarray  # (n, K) bool: which of class labels[i]'s K features point i has
    labels: np.ndarray  # (n,) int64 in [0, C)
    chunk: np.ndarray  # (n,) int64 in [0, J): experiment (minus one) at which the point arrives
    weights: np.ndarray  # (n,) int64: multiplicity of each point
    num_classes: int  # C


# ----------------------------------------------------------------------------------------------
# Between-experiment rules
# ----------------------------------------------------------------------------------------------
@runtime_checkable
class BetweenExperimentRule(Protocol):
    """Maps the state after experiment j-1 to the state experiment j starts from.

    ``rule(learned, memorized, j, data, rng) -> (learned, memorized)`` with ``learned`` (C, K) bool
    (L^(j-1)), ``memorized`` (n,) bool (M^(j-1), points in ``data``'s order; points not yet
    arrived are False), ``j`` the 1-based experiment about to start (2..J; experiment 1 always
    starts from L = M = ∅), ``data`` a :class:`SimulationData`, ``rng`` a ``numpy.random.Generator``
    seeded from the rule's ``seed`` attribute (if any) at the start of each ``simulate`` call. The
    rule must not modify its inputs. ``name`` labels the method in results.
    """

    name: str

    def __call__(self, learned: np.ndarray, memorized: np.ndarray, j: int, data: SimulationData,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]: ...


@dataclasses.dataclass(frozen=True)
class ColdRule:
    """Cold start: ``L = ∅, M = ∅`` before every experiment."""

    name: str = "cold"
    kernel_mode: int = _kernels.MODE_COLD

    def __call__(self, learned, memorized, j, data, rng):
        return np.zeros_like(learned), np.zeros_like(memorized)


@dataclasses.dataclass(frozen=True)
class WarmRule:
    """Warm start: ``L`` and ``M`` carried over from experiment j-1."""

    name: str = "warm"
    kernel_mode: int = _kernels.MODE_WARM

    def __call__(self, learned, memorized, j, data, rng):
        return learned.copy(), memorized.copy()


@dataclasses.dataclass(frozen=True)
class IdealRule:
    """Ideal start: keep ``L``, forget the memorized set (``M = ∅``)."""

    name: str = "ideal"
    kernel_mode: int = _kernels.MODE_IDEAL

    def __call__(self, learned, memorized, j, data, rng):
        return learned.copy(), np.zeros_like(memorized)


@dataclasses.dataclass(frozen=True)
class ShrinkPerturbRule:
    """A Shrink & Perturb-like rule: warm start that forgets at random.

    Each memorized point is forgotten independently with probability ``forget_memorized`` and each
    learned feature with probability ``forget_feature``:
    ``M' = {x in M : U_x >= p_m}``, ``L' = {v in L : U_v >= p_f}`` with ``U ~ U(0, 1)`` i.i.d. drawn
    from ``rng`` (so ``p_m = p_f = 0`` is warm; ``p_m = 1, p_f = 0`` is ideal; both 1 is cold).

    Parameters
    ----------
    forget_memorized : float in [0, 1], ``p_m``.
    forget_feature : float in [0, 1], ``p_f``.
    seed : int or None, seeds the generator ``simulate`` hands to the rule.

    References
    ----------
    Ash & Adams, "On warm-starting neural network training" (NeurIPS 2020) for Shrink & Perturb;
    Shin et al. (NeurIPS 2024), Section 3, for the framework it acts on.
    """

    forget_memorized: float = 0.5
    forget_feature: float = 0.1
    seed: int | None = None
    name: str = "shrink_perturb"

    def __post_init__(self):
        for field in ("forget_memorized", "forget_feature"):
            value = getattr(self, field)
            if not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"ShrinkPerturbRule.{field} must be a probability in [0, 1]; got {value!r}")

    def __call__(self, learned, memorized, j, data, rng):
        keep_features = rng.random(learned.shape) >= self.forget_feature
        keep_memorized = rng.random(memorized.shape) >= self.forget_memorized
        return learned & keep_features, memorized & keep_memorized


BUILTIN_RULES: dict[str, Any] = {"cold": ColdRule(), "warm": WarmRule(), "ideal": IdealRule()}


# ----------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------
def _check_gamma_tau(gamma, tau, K: int) -> tuple[float, int]:
    gamma = check_real("gamma", gamma)
    if isinstance(tau, bool) or not isinstance(tau, numbers.Integral):
        raise TypeError(f"tau must be an integer in [1, K={K}]; got {tau!r}")
    if not 1 <= int(tau) <= K:
        raise ValueError(f"tau must be an integer in [1, K={K}]; got {tau}")
    return gamma, int(tau)


def _check_chunk(chunk: np.ndarray) -> int:
    if chunk.size == 0:
        raise ValueError("simulate needs at least one point (chunk is empty)")
    if chunk.min() < 0:
        raise ValueError(f"chunk ids must be in [0, J); found {chunk.min()}")
    J = int(chunk.max()) + 1
    if J > chunk.size:  # more experiments than points: some chunk is empty (and bincount would be huge)
        raise ValueError(f"chunk ids must cover every experiment 0..J-1 (J={J}) with at least one point each, but "
                         f"there are only {chunk.size} points (largest chunk id {J - 1})")
    present = np.bincount(chunk, minlength=J)
    if (present == 0).any():
        empty = np.flatnonzero(present == 0)
        raise ValueError(
            f"chunk ids must cover every experiment 0..J-1 (J={J}); experiment chunk(s) "
            f"{empty[:10].tolist()} have no points (empty chunks)")
    return J


def _resolve_methods(methods) -> list:
    if isinstance(methods, (str, bytes)) or not isinstance(methods, Sequence):
        methods = (methods,)
    if len(methods) == 0:
        raise ValueError(f"methods must name at least one rule; known: {sorted(BUILTIN_RULES)}")
    rules = []
    for method in methods:
        if isinstance(method, str):
            if method not in BUILTIN_RULES:
                raise ValueError(f"unknown method {method!r}; known methods: {sorted(BUILTIN_RULES)} "
                                 "or a rule object (see BetweenExperimentRule)")
            rules.append(BUILTIN_RULES[method])
        elif callable(method):
            rules.append(method)
        else:
            raise TypeError(f"methods entries must be names {sorted(BUILTIN_RULES)} or callable rules; "
                            f"got {method!r}")
    return rules


def _rule_name(rule) -> str:
    return str(getattr(rule, "name", type(rule).__name__))


# ----------------------------------------------------------------------------------------------
# Public calls
# ----------------------------------------------------------------------------------------------
def training_process(features, labels, weights, *, learned, memorized, gamma, tau) -> ProcessResult:
    """One run of TrainingProcess(L, M, T, gamma, tau) on an explicit, weighted set of points.

    ``N = {x in T : |V(x) ∩ L| < tau, x ∉ M}``; repeatedly learn
    ``v* = argmax_{v ∉ L} sum_{x in N, v in V(x)} w_x`` (ties: smallest ``c*K + k``) while that count
    is ``>= gamma``, dropping points with ``|V(x) ∩ L| >= tau`` from N; finally ``M <- M ∪ N``.
    Here T = the rows of ``features``/``labels``, ``w_x`` = ``weights``, L = ``learned``,
    M = ``memorized``.

    Parameters
    ----------
    features : (n, K) binary, row i = which of class ``labels[i]``'s features point i has.
    labels : (n,) int in [0, C), C = ``learned.shape[0]``.
    weights : (n,) int >= 0, multiplicity of each point.
    learned : (C, K) bool, L at the start.
    memorized : (n,) bool, M restricted to T at the start.
    gamma : float > 0, the learning threshold.
    tau : int in [1, K], features needed to classify a point.

    Returns
    -------
    ProcessResult with L and M after the run, the learned order and the weighted |N| at the start.

    References
    ----------
    Shin et al., "DASH", NeurIPS 2024, Section 3.1 and Algorithm 1 (Appendix A).
    """
    learned = as_binary_matrix("learned", learned)
    C, K = learned.shape
    features = as_binary_matrix("features", features)
    n = features.shape[0]
    if features.shape[1] != K:
        raise ValueError(f"features must have K={K} columns (learned is {learned.shape}); got {features.shape[1]}")
    labels = as_int_vector("labels", labels, n)
    check_labels("labels", labels, C)
    weights = as_int_vector("weights", weights, n)
    if weights.size and weights.min() < 0:
        raise ValueError(f"weights must be integers >= 0; found {weights.min()}")
    check_int64_total("weights", weights)
    memorized = np.asarray(memorized)
    if memorized.shape != (n,):
        raise ValueError(f"memorized must have shape (n,)=({n},); got {memorized.shape}")
    memorized = as_binary_matrix("memorized", memorized[:, None])[:, 0]
    gamma, tau = _check_gamma_tau(gamma, tau, K)

    perm, index = _kernels.build_index(features, labels, np.zeros(n, dtype=np.int64), weights, 1, C)
    learned_flat = learned.ravel().copy()
    mem_w = np.where(memorized, weights, 0).astype(np.int64)[perm]
    order = np.full(C * K, -1, dtype=np.int32)
    s_below_tau = np.zeros(n, dtype=bool)
    n_nonzero, n_new = _kernels.process_from_state(index, 0, gamma, tau, learned_flat, mem_w, order, s_below_tau)
    # At the end every point with fewer than tau learned features is in M (weight-0 points too).
    below_tau = np.empty(n, dtype=bool)
    below_tau[perm] = s_below_tau
    return ProcessResult(learned=learned_flat.reshape(C, K), memorized=memorized | below_tau,
                         order=order[:n_new].astype(np.int64), n_nonzero=int(n_nonzero))


def simulate(features, labels, chunk, *, gamma, tau, methods=("cold", "warm", "ideal"),
             num_classes=None) -> SimulationResult:
    """Run each method over J experiments; experiment j trains on T_{1:j} = {x : chunk(x) < j}.

    For each method m and j = 1..J: ``(L, M) <- rule_m(L^(j-1), M^(j-1))`` (L = M = ∅ for j = 1),
    then ``L^(j), M^(j) = TrainingProcess(L, M, T_{1:j}, gamma, tau)``; records L^(j), |N^(j,0)|,
    |M^(j)| and the order of learned features. Built-in methods run entirely in one numba call;
    rule objects are called in Python between experiments.

    Parameters
    ----------
    features : (n, K) binary, row i = which of class ``labels[i]``'s K features point i has.
    labels : (n,) int in [0, C).
    chunk : (n,) int in [0, J), the experiment (minus one) at which point i arrives; every chunk
        id in [0, J) needs at least one point.
    gamma : float > 0, learning threshold.
    tau : int in [1, K], features needed to classify a point.
    methods : names in ``BUILTIN_RULES`` ("cold", "warm", "ideal") or rule objects.
    num_classes : C (default ``labels.max() + 1``).

    Returns
    -------
    SimulationResult, axis 0 in the order of ``methods``.

    References
    ----------
    Shin et al., "DASH", NeurIPS 2024, Section 3.2 (cold, warm, ideal) and Appendix A.
    """
    features = as_binary_matrix("features", features)
    n, K = features.shape
    labels = as_int_vector("labels", labels, n)
    chunk = as_int_vector("chunk", chunk, n)
    C = check_labels("labels", labels, num_classes)
    J = _check_chunk(chunk)
    gamma, tau = _check_gamma_tau(gamma, tau, K)
    rules = _resolve_methods(methods)
    check_memory("labels/num_classes (C) and chunk (J)", _output_bytes(len(rules), J, C, K),
                 f"the results of {len(rules)} method(s) x J={J} experiments x C={C} classes x K={K} features")
    return _simulate_points(features, labels, chunk, np.ones(n, dtype=np.int64), C, J, gamma, tau,
                            rules)


def _simulate_points(features, labels, chunk, weights, C, J, gamma, tau, rules) -> SimulationResult:
    n, K = features.shape
    if n >= 2**31 or C * K >= 2**31:
        # Results hold flat feature indices as int32 (and 2**31 points would not fit in memory anyway).
        raise ValueError(f"simulate supports fewer than 2**31 points and C*K < 2**31; got n={n}, C*K={C * K}")
    # Sorted by class, then chunk, so that T_{1:j} is a prefix of each class's points; results are
    # per method, so only custom rules (which see points in the caller's order) map back.
    perm, index = _kernels.build_index(features, labels, chunk, np.ascontiguousarray(weights, dtype=np.int64), J, C)
    out = _empty_outputs(len(rules), J, C, K)
    data = None
    for r, rule in enumerate(rules):
        if type(rule) in (ColdRule, WarmRule, IdealRule):
            _run_builtin(rule.kernel_mode, index, gamma, tau, out, r)
            continue
        if data is None:
            data = SimulationData(features=features, labels=labels, chunk=chunk, weights=weights, num_classes=C)
        _run_custom_rule(rule, data, index, perm, gamma, tau, C, K, {key: value[r] for key, value in out.items()})
    return _result(rules, out, C, K)


def _run_builtin(mode, index, gamma, tau, out, r):
    # index: the kernels' Index (points sorted by class, then chunk); out: method r's rows are written.
    _kernels.simulate_builtin(mode, index, gamma, tau, out["learned"][r], out["n_nonzero"][r], out["n_memorized"][r],
                              out["order"][r])


def _output_bytes(n_methods: int, J: int, C: int, K: int) -> int:
    """Bytes a simulation needs beyond its input: :func:`_empty_outputs` (learned bool + order int32 per method,
    experiment and feature), the kernels' per-feature int64 scratch and the (class, chunk) index."""
    return n_methods * J * C * K * 5 + n_methods * J * 16 + C * K * 8 * 8 + C * J * 8 * 4


def _empty_outputs(n_methods, J, C, K):
    return {
        "learned": np.zeros((n_methods, J, C * K), dtype=np.bool_),
        "n_nonzero": np.zeros((n_methods, J), dtype=np.int64),
        "n_memorized": np.zeros((n_methods, J), dtype=np.int64),
        "order": np.full((n_methods, J, C * K), -1, dtype=np.int32),
    }


def _result(rules, out, C, K) -> SimulationResult:
    n_methods, J, _ = out["learned"].shape
    return SimulationResult(methods=tuple(_rule_name(rule) for rule in rules),
                            learned=out["learned"].reshape(n_methods, J, C, K),
                            n_nonzero=out["n_nonzero"], n_memorized=out["n_memorized"],
                            order=out["order"])


def _run_custom_rule(rule, data, index, perm, gamma, tau, C, K, out):
    s_weights = index.weights  # in the kernels' sorted order
    n = perm.shape[0]
    s_chunk = data.chunk[perm]
    rng = np.random.default_rng(getattr(rule, "seed", None))
    learned = np.zeros((C, K), dtype=bool)
    memorized = np.zeros(n, dtype=bool)  # caller's point order
    for j in range(1, index.cprefix.shape[0] + 1):
        if j > 1:
            learned, memorized = _apply_rule(rule, learned, memorized, j, data, rng, C, K, n)
        learned_flat = learned.ravel().copy()
        s_memorized = memorized[perm]
        mem_w = np.where(s_memorized, s_weights, 0).astype(np.int64)
        s_below_tau = np.zeros(n, dtype=bool)
        n_nonzero, _ = _kernels.process_from_state(index, j - 1, gamma, tau, learned_flat, mem_w, out["order"][j - 1],
                                                   s_below_tau)
        learned = learned_flat.reshape(C, K)
        # Sorted-order memorized flags back to the caller's order; weight-0 points still count as
        # members of M when left with non-zero gradient.
        memorized = np.empty(n, dtype=bool)
        memorized[perm] = s_memorized | s_below_tau
        out["learned"][j - 1] = learned_flat
        out["n_nonzero"][j - 1] = n_nonzero
        out["n_memorized"][j - 1] = int(mem_w[s_chunk < j].sum())


def _apply_rule(rule, learned, memorized, j, data, rng, C, K, n):
    result = rule(learned.copy(), memorized.copy(), j, data, rng)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError(f"rule {_rule_name(rule)!r} must return (learned, memorized); got {type(result).__name__}")
    new_learned = np.asarray(result[0])
    new_memorized = np.asarray(result[1])
    if new_learned.shape != (C, K) or new_learned.dtype != np.bool_:
        raise ValueError(f"rule {_rule_name(rule)!r} must return learned as a ({C}, {K}) bool array; "
                         f"got {new_learned.dtype} {new_learned.shape}")
    if new_memorized.shape != (n,) or new_memorized.dtype != np.bool_:
        raise ValueError(f"rule {_rule_name(rule)!r} must return memorized as a ({n},) bool array; "
                         f"got {new_memorized.dtype} {new_memorized.shape}")
    return new_learned, new_memorized


def simulate_composition(composition: Composition, n_chunks, *, gamma, tau,
                         methods=("cold", "warm", "ideal")) -> SimulationResult:
    """Run each method on a fixed-composition dataset: every chunk holds ``counts[r]`` copies of row r.

    Same rule as :func:`simulate` with ``T_j`` = the composition's table, each row r present
    ``n_A = counts[r]`` times. All copies of a row share their features, so the built-in methods
    run on the R rows alone with weight ``j * n_A`` in experiment j (warm also tracks the memorized
    weight of each row); rule objects see one weighted point per (row, chunk), R * J in all.

    Parameters
    ----------
    composition : :class:`dashsim.Composition` (labels, features, counts, num_classes).
    n_chunks : int >= 1, J.
    gamma, tau, methods : as in :func:`simulate`.

    Returns
    -------
    SimulationResult; ``n_nonzero`` and ``n_memorized`` count points (weighted by n_A).

    References
    ----------
    Shin et al., "DASH", NeurIPS 2024, Assumption 3.1 and Theorems 3.4 and 3.6.
    """
    if not isinstance(composition, Composition):
        raise TypeError(f"composition must be a dashsim.Composition; got {type(composition).__name__}")
    J = check_int("n_chunks", n_chunks)
    C = composition.num_classes
    features = np.ascontiguousarray(composition.features, dtype=bool)
    labels = np.ascontiguousarray(composition.labels, dtype=np.int64)
    counts = np.ascontiguousarray(composition.counts, dtype=np.int64)
    R, K = features.shape
    gamma, tau = _check_gamma_tau(gamma, tau, K)
    rules = _resolve_methods(methods)
    # Experiment j weighs each row j * n_A: the largest total is J * sum(counts).
    check_int64_total("Composition.counts", counts, factor=J)
    check_memory("n_chunks", _output_bytes(len(rules), J, C, K),
                 f"the results of {len(rules)} method(s) x J={J} experiments x C={C} classes x K={K} features")
    builtin = [type(rule) in (ColdRule, WarmRule, IdealRule) for rule in rules]
    out = _empty_outputs(len(rules), J, C, K)
    if any(builtin):
        # One chunk holding the table; experiment j sees it with weight j * n_A.
        _, index = _kernels.build_index(features, labels, np.zeros(R, dtype=np.int64), counts, 1, C)
        index = index._replace(cprefix=np.repeat(index.cprefix, J, axis=0), mult=np.arange(1, J + 1, dtype=np.int64))
        for r, rule in enumerate(rules):
            if builtin[r]:
                _run_builtin(rule.kernel_mode, index, gamma, tau, out, r)
    if not all(builtin):
        custom = [rule for rule, is_builtin in zip(rules, builtin) if not is_builtin]
        p_features, p_labels, p_chunk, p_weights = composition.materialize_weighted(J)
        sub = _simulate_points(p_features, p_labels, p_chunk, p_weights, C, J, gamma, tau, custom)
        positions = [r for r, is_builtin in enumerate(builtin) if not is_builtin]
        for s, r in enumerate(positions):
            out["learned"][r] = sub.learned[s].reshape(J, C * K)
            out["n_nonzero"][r] = sub.n_nonzero[s]
            out["n_memorized"][r] = sub.n_memorized[s]
            out["order"][r] = sub.order[s]
    return _result(rules, out, C, K)
