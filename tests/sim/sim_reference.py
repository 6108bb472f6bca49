"""Plain NumPy transcription of the DASH framework (spec: shared/spec/framework.md), for tests.

Written for obviousness, not speed: every step of TrainingProcess(L, M, T, gamma, tau) is spelled
out as in the spec, and cold/warm/ideal re-run it on T_{1:j} for j = 1..J. The numba kernels in
``dashsim.sim._kernels`` must agree with this file on every input.
"""

from __future__ import annotations

import numpy as np


def reference_training_process(features, labels, weights, learned, memorized, gamma, tau):
    """One TrainingProcess run; returns (learned, memorized, order, n_nonzero).

    ``features`` (n, K) bool, ``labels`` (n,), ``weights`` (n,) multiplicities, ``learned`` (C, K),
    ``memorized`` (n,) bool. Counts and |N| are weighted sums.
    """
    features = np.asarray(features, dtype=bool)
    labels = np.asarray(labels)
    weights = np.asarray(weights, dtype=np.int64)
    learned = np.array(learned, dtype=bool, copy=True)
    memorized = np.array(memorized, dtype=bool, copy=True)
    C, K = learned.shape
    n = features.shape[0]

    def n_hits(i):
        # Only features of the point's own class count toward |V(x) ∩ L|.
        return int(np.sum(features[i] & learned[labels[i]]))

    # Step 1: N = points not well-classified and not memorized.
    in_n = [i for i in range(n) if n_hits(i) < tau and not memorized[i]]
    n_nonzero = int(sum(weights[i] for i in in_n))
    order = []
    while True:
        counts = np.zeros((C, K), dtype=np.int64)
        for i in in_n:
            counts[labels[i]] += weights[i] * features[i]
        flat = counts.ravel().copy()
        candidates = np.flatnonzero(~learned.ravel())
        if candidates.size == 0:
            break
        # Stable descending sort of the flattened counts: the smallest flat index wins ties.
        ranked = candidates[np.argsort(-flat[candidates], kind="stable")]
        best = int(ranked[0])
        if flat[best] >= gamma:
            learned.ravel()[best] = True
            order.append(best)
            in_n = [i for i in in_n if n_hits(i) < tau]
        else:
            break
    for i in in_n:
        memorized[i] = True
    return learned, memorized, np.array(order, dtype=np.int64), n_nonzero


def reference_simulate(features, labels, chunk, gamma, tau, methods=("cold", "warm", "ideal"),
                       num_classes=None, weights=None, num_chunks=None):
    """Run every method over J experiments; returns a dict of arrays shaped like SimulationResult."""
    features = np.asarray(features, dtype=bool)
    labels = np.asarray(labels)
    chunk = np.asarray(chunk)
    n, K = features.shape
    C = int(num_classes if num_classes is not None else labels.max() + 1)
    J = int(num_chunks if num_chunks is not None else chunk.max() + 1)
    weights = np.ones(n, dtype=np.int64) if weights is None else np.asarray(weights, dtype=np.int64)
    out = {
        "learned": np.zeros((len(methods), J, C, K), dtype=bool),
        "n_nonzero": np.zeros((len(methods), J), dtype=np.int64),
        "n_memorized": np.zeros((len(methods), J), dtype=np.int64),
        "order": np.full((len(methods), J, C * K), -1, dtype=np.int32),
    }
    for m, method in enumerate(methods):
        learned = np.zeros((C, K), dtype=bool)
        memorized = np.zeros(n, dtype=bool)
        for j in range(1, J + 1):
            if method == "cold":
                learned = np.zeros((C, K), dtype=bool)
                memorized = np.zeros(n, dtype=bool)
            elif method == "ideal":
                memorized = np.zeros(n, dtype=bool)
            elif method != "warm":
                raise ValueError(method)
            idx = np.flatnonzero(chunk < j)  # T_{1:j}
            new_l, new_m, order, n_nonzero = reference_training_process(
                features[idx], labels[idx], weights[idx], learned, memorized[idx], gamma, tau)
            learned = new_l
            memorized[idx] = new_m
            out["learned"][m, j - 1] = learned
            out["n_nonzero"][m, j - 1] = n_nonzero
            out["n_memorized"][m, j - 1] = int(np.sum(weights[memorized]))
            out["order"][m, j - 1, : order.size] = order
    return out
