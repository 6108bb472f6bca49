"""Quantities and claims of the DASH paper's theory on fixed-composition datasets.

On a fixed composition (Assumption 3.1) every chunk holds ``n_A`` points of each row ``A``; the
theory is stated through ``h(v; L)``, ``G = L^(1)``, ``delta`` and the training time ``T_m^(J)``.
:func:`check_theorems` runs the simulator once for the three methods and tests, claim by claim,
Theorems 3.4 and 3.6 and Lemmas D.1-D.3; :func:`check_assumptions` says which of Assumptions 3.1,
3.3(i) and 3.3(ii) an instance meets.

References: Shin, Oh, Cho, Yun, "DASH: Warm-Starting Neural Network Training in Stationary
Settings without Loss of Plasticity", NeurIPS 2024, Section 3 and Appendix D.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

from .._validate import check_memory
from .accuracy import accuracy_composition
from .simulator import simulate_composition, training_process

__all__ = [
    "CLAIMS",
    "CLAIM_NAMES",
    "AssumptionReport",
    "ClaimResult",
    "TheoremReport",
    "G",
    "check_assumptions",
    "check_theorems",
    "delta",
    "h",
    "h_counts",
    "threshold",
    "training_time",
]

_METHODS = ("cold", "warm", "ideal")


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def _check_composition(composition: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    for field in ("labels", "features", "counts", "num_classes"):
        if not hasattr(composition, field):
            raise TypeError(f"composition must be a dashsim.Composition (missing field '{field}')")
    labels = np.asarray(composition.labels, dtype=np.int64)
    features = np.asarray(composition.features, dtype=bool)
    counts = np.asarray(composition.counts, dtype=np.int64)
    num_classes = int(composition.num_classes)
    if features.ndim != 2 or labels.shape != (features.shape[0],) or counts.shape != labels.shape:
        raise ValueError(
            "composition: labels (R,), features (R, K) and counts (R,) must agree in R; got "
            f"{labels.shape}, {features.shape}, {counts.shape}"
        )
    if num_classes < 1 or (labels.size and (labels.min() < 0 or labels.max() >= num_classes)):
        raise ValueError(f"composition.labels must lie in [0, num_classes={num_classes})")
    if counts.size and counts.min() < 0:
        raise ValueError("composition.counts (n_A) must be >= 0")
    if counts.sum() <= 0:
        raise ValueError("composition.counts must sum to n_per_chunk >= 1")
    return labels, features, counts, num_classes


def _check_gamma_tau(gamma: float, tau: int, num_features: int) -> None:
    if not isinstance(gamma, (int, float, np.integer, np.floating)) or not gamma > 0:
        raise ValueError(f"gamma must be a number > 0, got {gamma!r}")
    if not isinstance(tau, (int, np.integer)) or not 1 <= tau <= num_features:
        raise ValueError(f"tau must be an integer in [1, K={num_features}], got {tau!r}")


def _check_learned(learned: Any, num_classes: int, num_features: int) -> np.ndarray:
    learned = np.asarray(learned)
    if learned.shape != (num_classes, num_features):
        raise ValueError(f"learned must have shape (C, K) = {(num_classes, num_features)}, got {learned.shape}")
    if learned.dtype != bool and not np.isin(learned, (0, 1)).all():
        raise ValueError("learned must be binary (0/1 or bool)")
    return learned.astype(bool)


# --------------------------------------------------------------------------------------------
# h, G, delta, threshold, T
# --------------------------------------------------------------------------------------------
def h_counts(composition: Any, learned: Any, tau: int) -> np.ndarray:
    """Per-chunk count of points that contain a feature and are not well-classified by ``learned``.

    ``n * h(v_{c,k}; L) = sum_{rows A of class c} n_A * 1(v_{c,k} in A and |A ∩ L| < tau)``, with
    ``n_A`` = ``composition.counts``, ``A`` = ``composition.features`` rows, ``L`` = ``learned``.

    Parameters
    ----------
    composition : dashsim.Composition
    learned : (C, K) bool
        The learned set L.
    tau : int
        Learned features a point needs to be well-classified.

    Returns
    -------
    (C, K) int64 array of counts (``n h``; divide by ``composition.n_per_chunk`` for ``h``).

    References
    ----------
    Shin et al. (2024), Section 3 (definition of h before Assumption 3.3).
    """
    labels, features, counts, num_classes = _check_composition(composition)
    _check_gamma_tau(1.0, tau, features.shape[1])
    learned = _check_learned(learned, num_classes, features.shape[1])
    # Only the point's own class's features count toward |A ∩ L|.
    n_learned_in_row = (features & learned[labels]).sum(axis=1)
    live = counts * (n_learned_in_row < tau)
    out = np.zeros((num_classes, features.shape[1]), dtype=np.int64)
    np.add.at(out, labels, features * live[:, None])
    return out


def h(composition: Any, learned: Any, tau: int) -> np.ndarray:
    """The fraction h(v; L) of a chunk's points that contain v and are not well-classified by L.

    ``h(v; L) = (1/n) sum_{c, A} n_A 1(v in A and |A ∩ L| < tau)``, with ``n`` =
    ``composition.n_per_chunk``, ``n_A`` = ``composition.counts``, ``L`` = ``learned``.

    Parameters
    ----------
    composition : dashsim.Composition
    learned : (C, K) bool
    tau : int

    Returns
    -------
    (C, K) float64 array, entry (c, k) = h(v_{c,k}; L).

    References
    ----------
    Shin et al. (2024), Section 3.
    """
    return h_counts(composition, learned, tau) / float(np.sum(composition.counts))


def G(composition: Any, gamma: float, tau: int) -> np.ndarray:
    """The set G = L^(1) learned by one training process on one chunk, from L = M = empty.

    ``G = TrainingProcess(∅, ∅, T_1, gamma, tau).L``; warm and cold agree on it.

    Parameters
    ----------
    composition : dashsim.Composition
        One chunk's rows ``A`` with multiplicities ``n_A``.
    gamma : float
        Learning threshold on a feature's count.
    tau : int
        Learned features a point needs to be well-classified.

    Returns
    -------
    (C, K) bool array.

    References
    ----------
    Shin et al. (2024), Theorem 3.4.
    """
    labels, features, counts, num_classes = _check_composition(composition)
    _check_gamma_tau(gamma, tau, features.shape[1])
    result = training_process(
        features,
        labels,
        counts,
        learned=np.zeros((num_classes, features.shape[1]), dtype=bool),
        memorized=np.zeros(labels.shape[0], dtype=bool),
        gamma=gamma,
        tau=tau,
    )
    return np.asarray(result.learned, dtype=bool)


def delta(composition: Any, gamma: float, tau: int) -> float:
    """The largest h over features outside G: ``delta = max_{v not in G} h(v; G)``.

    Returns 0.0 when G = S (the maximum over an empty set; the threshold is then infinite).

    Parameters
    ----------
    composition : dashsim.Composition
    gamma : float
    tau : int

    Returns
    -------
    float

    References
    ----------
    Shin et al. (2024), Theorem 3.4.
    """
    return _delta_count(composition, gamma, tau) / composition.n_per_chunk


def threshold(composition: Any, gamma: float, tau: int) -> float:
    """The horizon beyond which warm is strictly worse than cold: ``gamma / (delta * n)``.

    ``n`` = ``composition.n_per_chunk``; ``inf`` when ``delta = 0``.

    Returns
    -------
    float

    References
    ----------
    Shin et al. (2024), Theorem 3.4.
    """
    delta_n = _delta_count(composition, gamma, tau)
    return math.inf if delta_n == 0 else float(gamma) / delta_n


def _delta_count(composition: Any, gamma: float, tau: int) -> int:
    """``delta * n`` as the exact integer count ``max_{v not in G} n h(v; G)`` (0 when G = S)."""
    g = G(composition, gamma=gamma, tau=tau)
    outside = h_counts(composition, g, tau)[~g]
    return int(outside.max()) if outside.size else 0


def training_time(result: Any, method: str) -> np.ndarray:
    """Cumulative training time ``T_m^(J) = sum_{j <= J} |N_m^(j,0)|`` for J = 1..n_chunks.

    Parameters
    ----------
    result : dashsim.SimulationResult
    method : str
        One of ``result.methods`` (the m in T_m).

    Returns
    -------
    (n_chunks,) int64 array; entry J-1 is T_m^(J).

    References
    ----------
    Shin et al. (2024), Section 3 (training time).
    """
    if method not in result.methods:
        raise ValueError(f"method must be one of {result.methods}, got {method!r}")
    return np.cumsum(np.asarray(result.n_nonzero[result.methods.index(method)], dtype=np.int64))


# --------------------------------------------------------------------------------------------
# assumptions
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class AssumptionReport:
    """Which assumptions an instance meets, with the reason for each failure."""

    a3_1: bool  # Assumption 3.1: every combination A ⊂ S_c of every class has n_A >= 1
    a3_3_i: bool  # Assumption 3.3(i): no tie in h between two unlearned features of a class, any L
    a3_3_ii: bool  # Assumption 3.3(ii): per class tau-1 counts >= gamma, the tau-th < gamma
    detail: tuple[str, ...] = ()  # one line per failure

    @property
    def all_hold(self) -> bool:
        return self.a3_1 and self.a3_3_i and self.a3_3_ii


def _all_subsets(num_features: int) -> np.ndarray:
    codes = np.arange(2**num_features)
    return ((codes[:, None] >> np.arange(num_features)) & 1).astype(bool)


def check_assumptions(composition: Any, gamma: float, tau: int, *, max_features: int = 12) -> AssumptionReport:
    """Check Assumptions 3.1, 3.3(i) and 3.3(ii) for a fixed composition.

    What is checked, exactly:

    * 3.1: for every class c and every one of the ``2^K`` combinations ``A ⊂ S_c`` (the empty one
      included) the rows of that class and combination have total count ``n_A >= 1``.
    * 3.3(i): for every class c, every ``L_c ⊂ S_c`` (all ``2^K``) and every two distinct features
      ``v, w ∈ S_c \\ L_c``: ``n h(v; L_c) != n h(w; L_c)`` (exact integer counts). ``h(v; L)`` for
      ``v ∈ S_c`` depends on L only through ``L_c = L ∩ S_c``, so this covers every ``L ⊂ S``.
      Learned features are left out because the greedy never compares them, and with ``L = S``
      every h vanishes when tau = 1, so the literal "any two features" reading is unsatisfiable.
    * 3.3(ii): with ``s_c(i)`` the i-th largest per-chunk count ``n h(v; ∅)`` in class c:
      ``s_c(tau-1) >= gamma`` (when tau >= 2) and ``s_c(tau) < gamma`` for every class.

    Parameters
    ----------
    composition : dashsim.Composition
    gamma : float
    tau : int
    max_features : int
        Refuse K above this (the 3.3(i) check enumerates ``2^K`` subsets per class).

    Returns
    -------
    AssumptionReport

    References
    ----------
    Shin et al. (2024), Assumptions 3.1 and 3.3.
    """
    labels, features, counts, num_classes = _check_composition(composition)
    num_features = features.shape[1]
    _check_gamma_tau(gamma, tau, num_features)
    if num_features > max_features:
        raise ValueError(f"K = {num_features} exceeds max_features = {max_features} (2^K subsets are enumerated)")
    check_memory("max_features", num_classes * 2**num_features * 8 * 2,
                 f"the table of C={num_classes} classes x 2^K={2**num_features} feature subsets")
    detail: list[str] = []
    codes = features @ (1 << np.arange(num_features))
    table = np.zeros((num_classes, 2**num_features), dtype=np.int64)
    np.add.at(table, (labels, codes), counts)
    missing = np.argwhere(table < 1)
    a3_1 = missing.size == 0
    if not a3_1:
        c, code = missing[0]
        detail.append(f"3.1: {len(missing)} (class, combination) pairs have n_A = 0, "
                      f"e.g. class {c}, A = {_bits(code, num_features)}")

    subsets = _all_subsets(num_features)  # (2^K, K): every L_c
    a3_3_i = True
    for c in range(num_classes):
        rows = labels == c
        # float64 products go through BLAS and are exact: every value stays far below 2^53.
        f_c, n_c = features[rows].astype(np.float64), counts[rows].astype(np.float64)
        live = (f_c @ subsets.T.astype(np.float64)) < tau  # (rows, 2^K): not well-classified by L_c
        cnt = np.rint((f_c * n_c[:, None]).T @ live).astype(np.int64)  # (K, 2^K): n h(v; L_c)
        # Learned features get distinct negative sentinels so they never form a tie.
        masked = np.where(subsets.T, -1 - np.arange(num_features)[:, None], cnt)
        srt = np.sort(masked, axis=0)
        tie = (srt[1:] == srt[:-1]) & (srt[1:] >= 0)
        if tie.any():
            a3_3_i = False
            col = int(np.argwhere(tie.any(axis=0))[0, 0])
            value = srt[1:, col][tie[:, col]][0]
            pair = np.flatnonzero((masked[:, col] == value))[:2]
            detail.append(
                f"3.3(i): class {c}, L_c = {_bits(col, num_features)}: "
                f"features {pair[0]} and {pair[1]} tie at count {value}"
            )

    s = np.sort(h_counts(composition, np.zeros((num_classes, num_features), bool), tau), axis=1)[:, ::-1]
    above = s[:, tau - 2] >= gamma if tau >= 2 else np.ones(num_classes, bool)
    below = s[:, tau - 1] < gamma
    a3_3_ii = bool(above.all() and below.all())
    for c in np.flatnonzero(~above):
        detail.append(f"3.3(ii): class {c} has fewer than tau-1 = {tau - 1} features with count >= gamma = {gamma}")
    for c in np.flatnonzero(~below):
        detail.append(f"3.3(ii): class {c}'s tau-th = {tau}-th largest count {s[c, tau - 1]} is not < gamma = {gamma}")
    return AssumptionReport(bool(a3_1), bool(a3_3_i), a3_3_ii, tuple(detail))


def _bits(code: int, num_features: int) -> str:
    return "{" + ",".join(str(k) for k in range(num_features) if (int(code) >> k) & 1) + "}"


# --------------------------------------------------------------------------------------------
# theorem checks
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ClaimResult:
    """One claim of the theory on one instance: both sides at the reported J, and where it failed."""

    name: str  # short claim, e.g. "T_warm < T_cold"
    reference: str  # where the paper states it
    lhs: float  # left-hand side at J = at (the first failing J, else the last checked)
    rhs: float  # right-hand side at J = at
    holds: bool  # True when it holds everywhere it applies (vacuously when applicable is False)
    applicable: bool = True  # False when its premise never held (e.g. J never exceeds the threshold)
    at: int | None = None  # the J (or pair index) the two sides are taken at
    failed_at: tuple = ()  # every J (or description) where it failed


@dataclasses.dataclass(frozen=True)
class TheoremReport:
    """All claims of Theorems 3.4 and 3.6 and Lemmas D.1-D.3 on one instance and horizon."""

    claims: tuple[ClaimResult, ...]
    n_per_chunk: int  # n
    n_chunks: int  # the horizon J checked (J = 1..n_chunks)
    gamma: float
    tau: int
    G: np.ndarray  # (C, K) bool, L^(1)
    delta: float
    threshold: float  # gamma / (delta n)

    @property
    def all_hold(self) -> bool:
        return all(c.holds for c in self.claims)

    def failed(self) -> tuple[ClaimResult, ...]:
        return tuple(c for c in self.claims if not c.holds)

    def to_frame(self) -> pd.DataFrame:
        """One row per claim: name, reference, lhs, rhs, holds, applicable, at, failed_at."""
        return pd.DataFrame([dataclasses.asdict(c) for c in self.claims])


CLAIMS: tuple[tuple[str, str], ...] = (
    ("G nonempty", "Thm 3.4"),
    ("G proper subset of S", "Thm 3.4"),
    ("L_warm^(1) = L_cold^(1) = G", "Thm 3.4"),
    ("ACC_warm <= ACC_cold", "Thm 3.4"),
    ("T_warm < T_cold", "Thm 3.4"),
    ("ACC_warm < ACC_cold if J > gamma/(delta n)", "Thm 3.4"),
    ("L_warm^(J) = G", "Thm 3.4 proof"),
    ("T_warm <= J n", "Thm 3.4 proof"),
    ("T_cold = n J (J+1)/2", "Thm 3.4 proof"),
    ("L_cold = L_ideal", "Thm 3.6"),
    ("ACC_cold = ACC_ideal", "Thm 3.6"),
    ("T_warm < T_ideal", "Thm 3.6"),
    ("T_ideal < T_cold", "Thm 3.6"),
    ("ACC(A) < ACC(B) for A ⊊ B, |A ∩ S_c| >= tau-1", "Lemma D.1"),
    ("same i-th feature per class", "Lemma D.2"),
    ("more data: superset, same order", "Lemma D.3"),
)
CLAIM_NAMES: tuple[str, ...] = tuple(name for name, _ in CLAIMS)
_REFERENCE = dict(CLAIMS)


def _per_j(name: str, js: np.ndarray, lhs: np.ndarray, rhs: np.ndarray, ok: np.ndarray) -> ClaimResult:
    """Summarize a claim checked at the horizons ``js`` (empty ``js``: premise never met)."""
    if js.size == 0:
        return ClaimResult(name, _REFERENCE[name], math.nan, math.nan, True, False, None, ())
    bad = np.flatnonzero(~ok)
    i = int(bad[0]) if bad.size else js.size - 1
    return ClaimResult(
        name, _REFERENCE[name], float(lhs[i]), float(rhs[i]), not bad.size, True, int(js[i]),
        tuple(int(j) for j in js[bad]),
    )


def _rank_in_class(order: np.ndarray, num_features: int, num_classes: int) -> np.ndarray:
    """For each learned feature, how many features of its class were learned before it in ``order``."""
    onehot = (order[:, None] // num_features) == np.arange(num_classes)
    return (np.cumsum(onehot, axis=0) - 1)[onehot]


def check_theorems(composition: Any, n_chunks: int, *, gamma: float, tau: int) -> TheoremReport:
    """Run cold, warm and ideal for J = 1..n_chunks and test every claim of the theory.

    Accuracy is the fixed-composition one,
    ``ACC(L) = 1 - (C-1)/C * (1/n) sum_A n_A 1(|A ∩ L| < tau)`` (``dashsim.accuracy_composition``),
    and training time ``T_m^(J) = sum_{j<=J} |N_m^(j,0)|``. Claims "for all J >= 2" are tested at
    every J in 2..n_chunks; the strict accuracy claim at every such J with ``J > gamma/(delta n)``.
    Lemma D.1 is tested on the pairs ``(G, G ∪ {v})`` for every ``v ∉ G`` and on consecutive
    distinct cold learned sets; Lemmas D.2 and D.3 on every pair of cold runs (from ∅, no memory,
    on ``j`` and ``j' > j`` chunks) and on runs from ``G`` with no memory on 2, J//2 and J
    chunks (``dashsim.training_process``).

    Parameters
    ----------
    composition : dashsim.Composition
        Fixed composition: rows A with ``n_A`` points in every chunk.
    n_chunks : int
        Horizon J (>= 2).
    gamma : float
        Learning threshold.
    tau : int
        Learned features needed for a point to be well-classified.

    Returns
    -------
    TheoremReport

    References
    ----------
    Shin et al. (2024), Theorems 3.4 and 3.6, Lemmas D.1-D.3 (Appendix D).
    """
    labels, features, counts, num_classes = _check_composition(composition)
    num_features = features.shape[1]
    _check_gamma_tau(gamma, tau, num_features)
    if not isinstance(n_chunks, (int, np.integer)) or n_chunks < 2:
        raise ValueError(f"n_chunks must be an integer >= 2, got {n_chunks!r}")
    n = int(counts.sum())
    res = simulate_composition(composition, int(n_chunks), gamma=gamma, tau=tau, methods=_METHODS)
    cold, warm, ideal = 0, 1, 2
    learned = np.asarray(res.learned, dtype=bool)
    acc = np.asarray(accuracy_composition(learned, composition, tau), dtype=np.float64)
    T = np.cumsum(np.asarray(res.n_nonzero, dtype=np.int64), axis=1)
    g = G(composition, gamma=gamma, tau=tau)
    # delta * n is an integer count; dividing gamma by it avoids rounding in J > gamma/(delta n).
    outside = h_counts(composition, g, tau)[~g]
    delta_n = int(outside.max()) if outside.size else 0
    d = delta_n / n
    thr = math.inf if delta_n == 0 else float(gamma) / delta_n

    J_all = np.arange(1, n_chunks + 1)
    J2 = J_all[1:]
    s2 = slice(1, None)
    claims: list[ClaimResult] = []
    size_g, size_s = int(g.sum()), num_classes * num_features
    claims.append(ClaimResult("G nonempty", "Thm 3.4", size_g, 0, size_g > 0, True, 1, () if size_g > 0 else (1,)))
    claims.append(ClaimResult("G proper subset of S", "Thm 3.4", size_g, size_s, size_g < size_s, True, 1,
                              () if size_g < size_s else (1,)))
    same1 = bool((learned[warm, 0] == g).all() and (learned[cold, 0] == g).all())
    claims.append(ClaimResult("L_warm^(1) = L_cold^(1) = G", "Thm 3.4", int(learned[warm, 0].sum()),
                              int(learned[cold, 0].sum()), same1, True, 1, () if same1 else (1,)))
    claims.append(_per_j("ACC_warm <= ACC_cold", J2, acc[warm, s2], acc[cold, s2], acc[warm, s2] <= acc[cold, s2]))
    claims.append(_per_j("T_warm < T_cold", J2, T[warm, s2], T[cold, s2], T[warm, s2] < T[cold, s2]))
    beyond = (J_all > thr) & (J_all >= 2)
    claims.append(_per_j("ACC_warm < ACC_cold if J > gamma/(delta n)", J_all[beyond], acc[warm, beyond],
                         acc[cold, beyond], acc[warm, beyond] < acc[cold, beyond]))
    n_diff = (learned[warm] != g).sum(axis=(1, 2))
    claims.append(_per_j("L_warm^(J) = G", J_all, learned[warm].sum(axis=(1, 2)), np.full(n_chunks, size_g),
                         n_diff == 0))
    claims.append(_per_j("T_warm <= J n", J_all, T[warm], J_all * n, T[warm] <= J_all * n))
    cold_formula = n * J_all * (J_all + 1) // 2
    claims.append(_per_j("T_cold = n J (J+1)/2", J_all, T[cold], cold_formula, T[cold] == cold_formula))
    n_diff_ci = (learned[cold] != learned[ideal]).sum(axis=(1, 2))
    claims.append(_per_j("L_cold = L_ideal", J2, learned[cold, s2].sum(axis=(1, 2)),
                         learned[ideal, s2].sum(axis=(1, 2)), n_diff_ci[s2] == 0))
    claims.append(_per_j("ACC_cold = ACC_ideal", J2, acc[cold, s2], acc[ideal, s2], acc[cold, s2] == acc[ideal, s2]))
    claims.append(_per_j("T_warm < T_ideal", J2, T[warm, s2], T[ideal, s2], T[warm, s2] < T[ideal, s2]))
    claims.append(_per_j("T_ideal < T_cold", J2, T[ideal, s2], T[cold, s2], T[ideal, s2] < T[cold, s2]))
    claims.append(_lemma_d1(composition, g, learned[cold], tau, num_classes))
    d2, d3 = _lemmas_d2_d3(composition, res.order[cold], g, n_chunks, gamma, tau, num_features, num_classes)
    claims.extend((d2, d3))
    return TheoremReport(tuple(claims), n, int(n_chunks), gamma, int(tau), g, d, thr)


def _lemma_d1(composition: Any, g: np.ndarray, cold_learned: np.ndarray, tau: int, num_classes: int) -> ClaimResult:
    name = "ACC(A) < ACC(B) for A ⊊ B, |A ∩ S_c| >= tau-1"
    pairs: list[tuple[np.ndarray, np.ndarray, str]] = []
    for flat in np.flatnonzero(~g.ravel()):
        b = g.copy()
        b.ravel()[flat] = True
        pairs.append((g, b, f"G + feature {flat}"))
    for j in range(1, cold_learned.shape[0]):
        a, b = cold_learned[j - 1], cold_learned[j]
        if (b & ~a).any() and not (a & ~b).any():
            pairs.append((a, b, f"L_cold^({j}) < L_cold^({j + 1})"))
    pairs = [p for p in pairs if (p[0].sum(axis=1) >= tau - 1).all()]
    if not pairs:
        return ClaimResult(name, _REFERENCE[name], math.nan, math.nan, True, False)
    acc = np.asarray(accuracy_composition(np.stack([x for p in pairs for x in p[:2]]), composition, tau))
    acc_a, acc_b = acc[0::2], acc[1::2]
    ok = acc_a < acc_b
    bad = np.flatnonzero(~ok)
    i = int(bad[0]) if bad.size else len(pairs) - 1
    return ClaimResult(name, _REFERENCE[name], float(acc_a[i]), float(acc_b[i]), not bad.size, True, i,
                       tuple(pairs[k][2] for k in bad))


def _lemmas_d2_d3(composition: Any, cold_order: np.ndarray, g: np.ndarray, n_chunks: int, gamma: float, tau: int,
                  num_features: int, num_classes: int) -> tuple[ClaimResult, ClaimResult]:
    # Runs from a common L with no memory on j chunks: cold's own runs (L = ∅, every j) and fresh
    # runs from G on a few j (each is one more training process, and the script runs thousands).
    labels, features, counts, _ = _check_composition(composition)
    families = {"∅": (list(range(1, n_chunks + 1)), [np.asarray(o) for o in cold_order])}
    js = sorted({2, max(2, n_chunks // 2), n_chunks})
    from_g = [
        np.asarray(training_process(features, labels, counts * j, learned=g,
                                             memorized=np.zeros(len(labels), bool), gamma=gamma, tau=tau).order)
        for j in js
    ]
    families["G"] = (js, from_g)
    d2_fail, d3_fail, n_runs = [], [], 0
    for start, (chunks, orders) in families.items():
        seqs = [o[o >= 0] for o in orders]
        ranks = [_rank_in_class(q, num_features, num_classes) for q in seqs]
        # Pairwise agreement of the i-th feature per class <=> every run agrees with a reference
        # that, per class, is the longest sequence seen: feature -> its within-class rank there.
        reference = np.full(num_classes * num_features, -1)
        best_len = np.full(num_classes, -1)
        for q, r in zip(seqs, ranks):
            length = np.bincount(q // num_features, minlength=num_classes)
            for c in np.flatnonzero(length > best_len):
                mine = q[q // num_features == c]
                reference[c * num_features:(c + 1) * num_features] = -1
                reference[mine] = np.arange(len(mine))
                best_len[c] = length[c]
        for j, (q, r) in enumerate(zip(seqs, ranks)):
            n_runs += 1
            if not np.array_equal(reference[q], r):
                d2_fail.append(f"from {start}: {chunks[j]} chunks")
            # Being a prefix is transitive, so consecutive horizons suffice for D.3.
            if j + 1 < len(seqs):
                nxt = seqs[j + 1]
                if len(q) > len(nxt) or not np.array_equal(nxt[: len(q)], q):
                    d3_fail.append(f"from {start}: {chunks[j]} vs {chunks[j + 1]} chunks")
    d2 = ClaimResult("same i-th feature per class", "Lemma D.2", n_runs - len(d2_fail), n_runs, not d2_fail, True,
                     None, tuple(d2_fail))
    d3 = ClaimResult("more data: superset, same order", "Lemma D.3", n_runs - len(d3_fail), n_runs, not d3_fail,
                     True, None, tuple(d3_fail))
    return d2, d3
