"""Test accuracy of a learned set L in the DASH framework (exact and on a sampled test set).

A test point of class c is classified correctly if it has at least ``tau`` learned features of
class c; otherwise the model guesses and is right with probability 1/C (Shin et al., NeurIPS 2024,
Section 3.1). Every function accepts ``learned`` with any leading batch dimensions (..., C, K) and
returns an array of shape (...).
"""

from __future__ import annotations

import numbers

import numpy as np

from .synthetic import Composition

__all__ = ["accuracy_bernoulli", "accuracy_composition", "accuracy_on"]


def _check_learned(learned) -> np.ndarray:
    learned = np.asarray(learned)
    if learned.ndim < 2:
        raise ValueError(f"learned must have shape (..., C, K); got shape {learned.shape}")
    if learned.dtype != np.bool_:
        if not np.issubdtype(learned.dtype, np.number) or ((learned != 0) & (learned != 1)).any():
            raise ValueError("learned must be binary (bool or 0/1)")
        learned = learned != 0
    return learned


def _check_tau(tau, K: int) -> int:
    if isinstance(tau, bool) or not isinstance(tau, numbers.Integral):
        raise TypeError(f"tau must be an integer in [1, K={K}]; got {tau!r}")
    if not 1 <= tau <= K:
        raise ValueError(f"tau must be an integer in [1, K={K}]; got {tau}")
    return int(tau)


def accuracy_bernoulli(learned, probs, tau) -> np.ndarray:
    """Exact test accuracy for independent Bernoulli features and uniform classes.

    ``ACC(L) = (1/C) sum_c [P_c + (1 - P_c)/C]``, ``P_c = P(sum_{k : L[c,k]} B_{c,k} >= tau)``,
    ``B_{c,k} ~ Bern(p[c,k])`` independent: a Poisson-binomial tail, computed exactly by dynamic
    programming over k on the count distribution truncated at tau. Here L = ``learned``,
    p = ``probs``.

    Parameters
    ----------
    learned : (..., C, K) bool.
    probs : (C, K) probabilities in [0, 1].
    tau : int in [1, K].

    Returns
    -------
    (...) float64 accuracies.

    References
    ----------
    Shin et al., "DASH", NeurIPS 2024, Section 3.1 (test accuracy) and Section 3.3.
    """
    learned = _check_learned(learned)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != learned.shape[-2:]:
        raise ValueError(f"probs must have shape (C, K)={learned.shape[-2:]} to match learned; got {probs.shape}")
    if not np.all((probs >= 0) & (probs <= 1)):
        raise ValueError("probs must be probabilities in [0, 1]")
    C, K = probs.shape
    tau = _check_tau(tau, K)
    q = np.where(learned, probs, 0.0)  # an unlearned feature never counts
    # dist[..., c, s] = P(count = s) for s < tau; dist[..., c, tau] = P(count >= tau).
    dist = np.zeros(learned.shape[:-1] + (tau + 1,))
    dist[..., 0] = 1.0
    for k in range(K):
        qk = q[..., k, None]
        shifted = np.zeros_like(dist)
        shifted[..., 1:] = dist[..., :-1] * qk
        stay = dist * (1.0 - qk)
        stay[..., tau] = dist[..., tau]  # absorbing: already >= tau
        dist = stay + shifted
    p_correct = dist[..., tau]
    return np.mean(p_correct + (1.0 - p_correct) / C, axis=-1)


def accuracy_composition(learned, composition: Composition, tau) -> np.ndarray:
    """Exact test accuracy when test points follow a fixed composition.

    ``ACC(L) = 1 - (C-1)/C * (1/n) * sum_A n_A 1(|A ∩ L| < tau)``, with A the rows of
    ``composition`` (their class's features), ``n_A`` = ``composition.counts``, ``n = sum_A n_A``,
    L = ``learned``.

    Parameters
    ----------
    learned : (..., C, K) bool.
    composition : dashsim.Composition with the same C and K and n > 0.
    tau : int in [1, K].

    Returns
    -------
    (...) float64 accuracies.

    References
    ----------
    Shin et al., "DASH", NeurIPS 2024, Section 3.2 (Assumption 3.1) and Appendix D.
    """
    learned = _check_learned(learned)
    if not isinstance(composition, Composition):
        raise TypeError(f"composition must be a dashsim.Composition; got {type(composition).__name__}")
    C, K = learned.shape[-2:]
    if (composition.num_classes, composition.K) != (C, K):
        raise ValueError(f"composition has (C, K)=({composition.num_classes}, {composition.K}) but learned "
                         f"has (C, K)=({C}, {K})")
    tau = _check_tau(tau, K)
    n = composition.n_per_chunk
    if n <= 0:
        raise ValueError("composition must hold at least one point (counts.sum() > 0)")
    hits = np.sum(learned[..., composition.labels, :] & composition.features, axis=-1)
    wrong = np.sum(composition.counts * (hits < tau), axis=-1)
    return 1.0 - (C - 1) / C * wrong / n


def accuracy_on(learned, features, labels, tau) -> np.ndarray:
    """Test accuracy on a sampled test set, a guess counted as its expected value 1/C.

    ``ACC(L) = (1/m) sum_i [1(h_i >= tau) + 1(h_i < tau)/C]``,
    ``h_i = |V(x_i) ∩ L_{y_i}|`` with V(x_i) = ``features[i]``, y_i = ``labels[i]``, L = ``learned``.

    Parameters
    ----------
    learned : (..., C, K) bool.
    features : (m, K) binary test points.
    labels : (m,) int in [0, C).
    tau : int in [1, K].

    Returns
    -------
    (...) float64 accuracies.

    References
    ----------
    Shin et al., "DASH", NeurIPS 2024, Section 3.1.
    """
    learned = _check_learned(learned)
    C, K = learned.shape[-2:]
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[1] != K:
        raise ValueError(f"features must have shape (m, K={K}); got {features.shape}")
    if features.dtype != np.bool_:
        if ((features != 0) & (features != 1)).any():
            raise ValueError("features must be binary (values 0 or 1)")
        features = features != 0
    labels = np.asarray(labels)
    if labels.shape != (features.shape[0],):
        raise ValueError(f"labels must have shape (m,)=({features.shape[0]},); got {labels.shape}")
    if labels.size == 0:
        raise ValueError("the test set must hold at least one point")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must hold integers; got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= C:
        raise ValueError(f"labels must be in [0, C={C}); found {labels[(labels < 0) | (labels >= C)][0]}")
    tau = _check_tau(tau, K)
    hits = np.sum(learned[..., labels, :] & features, axis=-1)
    correct = hits >= tau
    return np.mean(correct + (~correct) / C, axis=-1)
