"""Seeded random fixed-composition instances that satisfy, or deliberately break, the theory's assumptions.

Every instance lists all ``2^K`` feature combinations of every class (unless it is meant to break
Assumption 3.1) with counts ``n_A = 1 + Poisson(m * prod_k p_k^{a_k} (1 - p_k)^{1 - a_k})``: class
c's features are present with probabilities ``p_{c,k}``, ``tau - 1`` of them drawn above a common
cut ``q`` and the rest below it, so one gamma can sit between the (tau-1)-th and tau-th counts of
every class. ``gamma`` is then drawn inside that window and the instance is verified with
:func:`dashsim.sim.theory.check_assumptions`; a draw that misses is rejected and redrawn.

References: Shin et al. (2024), Assumptions 3.1 and 3.3.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .synthetic import Composition
from .theory import AssumptionReport, check_assumptions

__all__ = ["BREAKS", "Instance", "random_instance"]

# What an instance may be asked to break; None asks for an instance meeting every assumption.
BREAKS: tuple[str, ...] = ("3.1", "3.3(i)", "3.3(ii) too few above", "3.3(ii) none below")


@dataclasses.dataclass(frozen=True)
class Instance:
    """A fixed composition with the (gamma, tau) it is meant to be run with."""

    composition: Composition
    gamma: int  # learning threshold (paper: gamma)
    tau: int  # learned features a point needs to be well-classified (paper: tau)
    breaks: str | None  # the assumption broken on purpose (an entry of BREAKS), None when all hold
    assumptions: AssumptionReport  # the verified status of every assumption


def _range(value: int | tuple[int, int], name: str, low: int, high: int) -> tuple[int, int]:
    lo, hi = (value, value) if isinstance(value, (int, np.integer)) else value
    if not (low <= lo <= hi <= high):
        raise ValueError(f"{name} must be an int or a (min, max) pair within [{low}, {high}], got {value!r}")
    return int(lo), int(hi)


def _draw_counts(rng: np.random.Generator, num_classes: int, num_features: int, tau: int,
                 cut_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    codes = np.arange(2**num_features)
    combos = ((codes[:, None] >> np.arange(num_features)) & 1).astype(bool)  # (2^K, K)
    cut = rng.uniform(*cut_range)
    labels, features, counts = [], [], []
    scale = rng.integers(20, 400) * 2 ** (num_features - 2)
    for c in range(num_classes):
        p = np.concatenate([rng.uniform(cut, 0.97, tau - 1), rng.uniform(0.03, cut, num_features - tau + 1)])
        p = p[rng.permutation(num_features)]
        prob = np.where(combos, p, 1 - p).prod(axis=1)
        labels.append(np.full(len(combos), c))
        features.append(combos)
        counts.append(1 + rng.poisson(scale * prob))
    return np.concatenate(labels), np.concatenate(features), np.concatenate(counts).astype(np.int64)


def _sorted_feature_counts(labels: np.ndarray, features: np.ndarray, counts: np.ndarray,
                           num_classes: int) -> np.ndarray:
    out = np.zeros((num_classes, features.shape[1]), dtype=np.int64)
    np.add.at(out, labels, features * counts[:, None])
    return -np.sort(-out, axis=1)


def _draw_gamma(rng: np.random.Generator, s: np.ndarray, tau: int, breaks: str | None) -> int | None:
    """A gamma meeting 3.3(ii) for sorted counts ``s`` (C, K), or breaking it as asked; None if none exists."""
    top_tau = int(s[:, tau - 1].max())  # largest tau-th count over classes: gamma must exceed it
    if breaks == "3.3(ii) none below":
        return int(rng.integers(1, top_tau + 1)) if top_tau >= 1 else None
    if tau == 1:
        lo, hi = top_tau + 1, 3 * top_tau + 1
    else:
        lo, hi = top_tau + 1, int(s[:, tau - 2].min())
    if breaks == "3.3(ii) too few above":
        if tau == 1:
            return None
        # Above some class's (tau-1)-th count, but not so high that no class keeps tau-1 features.
        return int(rng.integers(hi + 1, int(s[:, tau - 2].max()) + 2))
    if lo > hi:
        return None
    return int(rng.integers(lo, hi + 1))


def random_instance(
    rng: np.random.Generator,
    *,
    breaks: str | None = None,
    num_classes: int | tuple[int, int] = (1, 3),
    num_features: int | tuple[int, int] = (3, 8),
    tau: int | tuple[int, int] | None = None,
    cut: tuple[float, float] = (0.2, 0.8),
    max_tries: int = 1000,
) -> Instance:
    """Draw a fixed-composition instance meeting Assumptions 3.1 and 3.3, or breaking exactly one.

    The composition has ``n_A`` points of each listed combination ``A ⊂ S_c`` per chunk; see the
    module docstring for how ``n_A`` and ``gamma`` are drawn. ``breaks`` picks the one assumption
    to break while the others still hold:

    * ``"3.1"``: some combinations are missing (rows dropped);
    * ``"3.3(i)"``: two features of class 0 are made symmetric (``n_A = n_{swap(A)}``), so they
      tie in ``h(v; L)`` for every swap-invariant L (L = ∅ included);
    * ``"3.3(ii) too few above"``: gamma above some class's (tau-1)-th count;
    * ``"3.3(ii) none below"``: gamma at most some class's tau-th count.

    Parameters
    ----------
    rng : numpy.random.Generator
        All randomness comes from it.
    breaks : str or None
        None, or one of :data:`BREAKS`.
    num_classes : int or (min, max)
        C, drawn uniformly in the range (1..3 by default).
    num_features : int or (min, max)
        K, drawn uniformly in the range (3..8 by default; at most 10).
    tau : int, (min, max) or None
        Drawn uniformly in the range clipped to 1..K (K is drawn at least min); None means 1..K.
    cut : (min, max)
        Range of the common cut q on presence probabilities (within (0.03, 0.97)): tau-1
        features per class are present with probability in (q, 0.97), the rest in (0.03, q). A
        high q makes most points hold many features.
    max_tries : int
        Rejection-sampling budget.

    Returns
    -------
    Instance, whose ``assumptions`` record the verified status.

    References
    ----------
    Shin et al. (2024), Assumptions 3.1 and 3.3.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if breaks is not None and breaks not in BREAKS:
        raise ValueError(f"breaks must be None or one of {BREAKS}, got {breaks!r}")
    c_lo, c_hi = _range(num_classes, "num_classes", 1, 64)
    k_lo, k_hi = _range(num_features, "num_features", 1, 10)
    if not (0.03 < cut[0] <= cut[1] < 0.97):
        raise ValueError(f"cut must be a (min, max) pair with 0.03 < min <= max < 0.97, got {cut!r}")
    t_lo, t_hi = (1, k_hi) if tau is None else _range(tau, "tau", 1, k_hi)
    for _ in range(max_tries):
        C = int(rng.integers(c_lo, c_hi + 1))
        K = int(rng.integers(max(k_lo, t_lo), k_hi + 1))
        t = int(rng.integers(t_lo, min(t_hi, K) + 1))
        if breaks == "3.3(ii) too few above" and t == 1:
            continue
        labels, features, counts = _draw_counts(rng, C, K, t, cut)
        if breaks == "3.1":
            keep = rng.random(len(labels)) > rng.uniform(0.05, 0.5)
            labels, features, counts = labels[keep], features[keep], counts[keep]
        elif breaks == "3.3(i)":
            counts = _symmetrize(rng, labels, features, counts, t)
        s = _sorted_feature_counts(labels, features, counts, C)
        gamma = _draw_gamma(rng, s, t, breaks)
        if gamma is None or gamma < 1:
            continue
        comp = Composition(labels=labels, features=features, counts=counts, num_classes=C)
        report = check_assumptions(comp, gamma=gamma, tau=t)
        wanted = {
            None: report.all_hold,
            "3.1": not report.a3_1 and report.a3_3_i and report.a3_3_ii,
            "3.3(i)": report.a3_1 and not report.a3_3_i and report.a3_3_ii,
            "3.3(ii) too few above": report.a3_1 and report.a3_3_i and not report.a3_3_ii,
            "3.3(ii) none below": report.a3_1 and report.a3_3_i and not report.a3_3_ii,
        }[breaks]
        if wanted:
            return Instance(comp, gamma, t, breaks, report)
    raise RuntimeError(f"no instance with breaks={breaks!r} found in max_tries={max_tries} draws")


def _symmetrize(rng: np.random.Generator, labels: np.ndarray, features: np.ndarray, counts: np.ndarray,
                tau: int) -> np.ndarray:
    """Make two features of class 0 interchangeable: ``n_A = n_{swap(A)}``."""
    K = features.shape[1]
    if K < 2:
        return counts
    freq = np.zeros(K, dtype=np.int64)
    rows = np.flatnonzero(labels == 0)
    np.add.at(freq, np.nonzero(features[rows])[1], np.repeat(counts[rows], features[rows].sum(axis=1)))
    ranked = np.argsort(-freq, kind="stable")
    # Both from the top tau-1 or both from the rest, so 3.3(ii)'s window can stay open.
    side = ranked[: tau - 1] if tau - 1 >= 2 and rng.random() < 0.5 else ranked[tau - 1:]
    if len(side) < 2:
        side = ranked[: tau - 1]
    if len(side) < 2:
        return counts
    a, b = rng.choice(side, size=2, replace=False)
    swapped = features[rows].copy()
    swapped[:, [a, b]] = swapped[:, [b, a]]
    codes = features[rows] @ (1 << np.arange(K))
    index = {int(code): int(r) for code, r in zip(codes, rows)}
    out = counts.copy()
    for r, code in zip(rows, swapped @ (1 << np.arange(K))):
        partner = index[int(code)]
        out[r] = out[partner] = max(counts[r], counts[partner])
    return out
