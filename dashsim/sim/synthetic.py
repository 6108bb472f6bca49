"""Data for the simulator: the paper's sampled Bernoulli data and fixed-composition tables.

Sampled data (Shin et al., NeurIPS 2024, Section 3.3 / Figure 3): class c's K features have
probabilities ``p[c, :] = sort(0.2 * U(0, 1)^K)`` (descending); each feature of a point is present
independently; every chunk holds ``n_per_chunk / C`` points of each class.

Fixed composition (Assumption 3.1): every chunk holds exactly ``n_A`` points of each listed
(class, feature combination) row.
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from .._validate import as_binary_matrix, check_int, check_labels

__all__ = [
    "PaperData",
    "Composition",
    "sample_paper_data",
    "sample_test_set",
    "legacy_test_set",
]


@dataclasses.dataclass(frozen=True)
class PaperData:
    """Sampled points of the paper's synthetic setting."""

    features: np.ndarray  # (n, K) bool: which of class labels[i]'s K features point i has
    labels: np.ndarray  # (n,) int64 in [0, C)
    chunk: np.ndarray  # (n,) int64 in [0, J): experiment (minus one) at which the point arrives
    probs: np.ndarray  # (C, K) float64: p[c, k], descending in k for each class


@dataclasses.dataclass(frozen=True)
class Composition:
    """A fixed-composition dataset: row r appears ``counts[r]`` times in EVERY chunk.

    Validated on construction: 1-D ``labels`` and ``counts`` of length R, ``features`` (R, K)
    binary, labels in [0, num_classes), counts >= 0.
    """

    labels: np.ndarray  # (R,) int64: class c of each row
    features: np.ndarray  # (R, K) bool: the feature combination A ⊂ S_c of each row
    counts: np.ndarray  # (R,) int64: n_A, points of that row in every chunk
    num_classes: int  # C

    def __post_init__(self):
        num_classes = check_int("Composition.num_classes", self.num_classes)
        features = as_binary_matrix("Composition.features", self.features, shape="(R, K)")
        R, K = features.shape
        if K < 1:
            raise ValueError("Composition.features needs K >= 1 columns")
        labels = np.asarray(self.labels)
        counts = np.asarray(self.counts)
        for name, arr in (("labels", labels), ("counts", counts)):
            if arr.shape != (R,):
                raise ValueError(f"Composition.{name} must have shape (R,)=({R},) to match features; "
                                 f"got {arr.shape}")
            if arr.size and not np.issubdtype(arr.dtype, np.integer):
                raise TypeError(f"Composition.{name} must hold integers; got dtype {arr.dtype}")
        check_labels("Composition.labels", labels, num_classes)
        if R and counts.min() < 0:
            raise ValueError(f"Composition.counts (n_A) must be integers >= 0; found {counts.min()}")
        object.__setattr__(self, "features", features.copy())  # never a view of the caller's array
        object.__setattr__(self, "labels", np.ascontiguousarray(labels, dtype=np.int64))
        object.__setattr__(self, "counts", np.ascontiguousarray(counts, dtype=np.int64))
        object.__setattr__(self, "num_classes", num_classes)

    @property
    def n_per_chunk(self) -> int:
        """n = sum_A n_A, points per chunk."""
        return int(self.counts.sum())

    @property
    def K(self) -> int:
        return int(self.features.shape[1])

    def materialize(self, n_chunks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Explicit points ``(features, labels, chunk)``: counts[r] copies of row r in each chunk."""
        features, labels, chunk, weights = self.materialize_weighted(n_chunks)
        repeat = np.repeat(np.arange(labels.shape[0]), weights)
        return features[repeat], labels[repeat], chunk[repeat]

    def materialize_weighted(self, n_chunks: int):
        """One weighted point per (chunk, row): ``(features, labels, chunk, weights)``, R * J rows."""
        J = check_int("n_chunks", n_chunks)
        R = self.labels.shape[0]
        return (np.tile(self.features, (J, 1)), np.tile(self.labels, J),
                np.repeat(np.arange(J, dtype=np.int64), R), np.tile(self.counts, J))


def _check_probs(probs) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probs must be a 2-D (C, K) array; got shape {probs.shape}")
    if not np.all((probs >= 0) & (probs <= 1)):
        raise ValueError("probs must be probabilities in [0, 1]")
    return probs


def _legacy_class_stream(rs: np.random.RandomState, K: int, n_points: int):
    """The authors' per-class draw: ``prob`` then one ``bernoulli.rvs(prob)`` per point.

    ``scipy.stats.bernoulli.rvs(prob)`` calls ``random_state.binomial(1, prob, size=(K,))``; one
    call with ``p`` broadcast to (n_points, K) consumes the generator in the same order (C order),
    which ``tests/test_synthetic.py`` checks bit for bit against literal per-point scipy calls.
    """
    prob = np.sort(0.2 * rs.rand(K))[::-1]
    draws = rs.binomial(1, np.broadcast_to(prob, (n_points, K)))
    return prob, draws.astype(bool)


def sample_paper_data(C=2, K=50, n_per_chunk=1000, J=50, *, seed=None, legacy=False) -> PaperData:
    """Sample the paper's synthetic data: J chunks of n_per_chunk points, n_per_chunk / C per class.

    ``p[c, :] = sort(0.2 * U(0,1)^K)`` descending; point x of class c has feature k with
    probability ``p[c, k]``, independently. Here C = ``C``, K = ``K``, n = ``n_per_chunk``,
    J = ``J``.

    With ``legacy=True`` the authors' stream is reproduced exactly (``seed`` must be an int): a
    private ``np.random.RandomState(seed)`` (the global state is untouched) draws, for each class c
    in order, ``prob = np.sort(0.2 * rand(K))[::-1]`` and then ``bernoulli.rvs(prob)`` for each of
    that class's ``n*J/C`` points. The t-th point (0-based) of class c arrives in chunk
    ``t // (n/C)``: the first n/C points of each class form experiment 1's chunk, and experiment j
    trains on the first ``n*j/C`` points of each class. Points are returned class by class, in
    draw order.

    Without ``legacy``, ``seed`` (None, int or ``numpy.random.Generator``) drives a Generator;
    points are returned chunk by chunk, classes in order within a chunk.

    Parameters
    ----------
    C, K, n_per_chunk, J : ints >= 1; ``n_per_chunk`` must be divisible by ``C``.
    seed : None, int or numpy.random.Generator (int only when ``legacy``).
    legacy : bool, reproduce the authors' published data stream.

    Returns
    -------
    PaperData (features, labels, chunk, probs).

    References
    ----------
    Shin et al., "DASH", NeurIPS 2024, Section 3.3 (Figure 3) and Appendix E.
    """
    C = check_int("C", C)
    K = check_int("K", K)
    n_per_chunk = check_int("n_per_chunk", n_per_chunk)
    J = check_int("J", J)
    if n_per_chunk % C:
        raise ValueError(f"n_per_chunk must be divisible by C={C} (equal points per class); got {n_per_chunk}")
    per_class = n_per_chunk // C
    if legacy:
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"legacy=True needs an int seed (the authors' np.random.seed); got {seed!r}")
        rs = np.random.RandomState(int(seed))
        probs = np.empty((C, K))
        features = np.empty((C * per_class * J, K), dtype=bool)
        for c in range(C):
            rows = slice(c * per_class * J, (c + 1) * per_class * J)
            probs[c], features[rows] = _legacy_class_stream(rs, K, per_class * J)
        labels = np.repeat(np.arange(C, dtype=np.int64), per_class * J)
        chunk = np.tile(np.arange(per_class * J, dtype=np.int64) // per_class, C)
        return PaperData(features=features, labels=labels, chunk=chunk, probs=probs)
    rng = np.random.default_rng(seed)
    probs = -np.sort(-0.2 * rng.random((C, K)), axis=1)
    labels = np.tile(np.repeat(np.arange(C, dtype=np.int64), per_class), J)
    chunk = np.repeat(np.arange(J, dtype=np.int64), n_per_chunk)
    features = np.empty((labels.shape[0], K), dtype=bool)
    for j in range(J):
        # One chunk at a time bounds the float scratch memory; the stream equals one big draw.
        rows = slice(j * n_per_chunk, (j + 1) * n_per_chunk)
        features[rows] = rng.random((n_per_chunk, K)) < probs[labels[rows]]
    return PaperData(features=features, labels=labels, chunk=chunk, probs=probs)


def sample_test_set(probs, n_test, *, seed=None) -> tuple[np.ndarray, np.ndarray]:
    """Test points for Bernoulli features ``probs``: ``n_test`` points, classes in turn (c = i mod C).

    Parameters
    ----------
    probs : (C, K) probabilities in [0, 1].
    n_test : int >= 1.
    seed : None, int or numpy.random.Generator.

    Returns
    -------
    (features (n_test, K) bool, labels (n_test,) int64).
    """
    probs = _check_probs(probs)
    n_test = check_int("n_test", n_test)
    rng = np.random.default_rng(seed)
    labels = np.arange(n_test, dtype=np.int64) % probs.shape[0]
    return rng.random((n_test, probs.shape[1])) < probs[labels], labels


def legacy_test_set(C, K, n_test) -> tuple[np.ndarray, np.ndarray]:
    """The authors' test set: the training procedure re-run under the fixed seed ``C*100 + 100``.

    Their notebook seeded NumPy with ``C*100 + 100`` for the test set of every run, whatever the
    training seed. We implement the literal reading, "the same procedure under that seed": for each
    class c, ``prob`` is REDRAWN (``np.sort(0.2*rand(K))[::-1]``) and then ``n_test / C`` points are
    drawn with ``bernoulli.rvs(prob)``. So the test probabilities generally differ from the training
    ones (a quirk we keep on purpose; use :func:`sample_test_set` with the training ``probs`` for
    a matched test set). Global NumPy state is untouched.

    Returns
    -------
    (features (n_test, K) bool, labels (n_test,) int64), class by class.
    """
    C = check_int("C", C)
    K = check_int("K", K)
    n_test = check_int("n_test", n_test)
    if n_test % C:
        raise ValueError(f"n_test must be divisible by C={C}; got {n_test}")
    rs = np.random.RandomState(C * 100 + 100)
    per_class = n_test // C
    features = np.concatenate([_legacy_class_stream(rs, K, per_class)[1] for _ in range(C)])
    return features, np.repeat(np.arange(C, dtype=np.int64), per_class)
