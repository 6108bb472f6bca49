"""Data generators: the authors' legacy stream bit for bit, shapes, determinism, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from dashsim import legacy_test_set, sample_paper_data, sample_test_set


def _authors_stream(seed, C, K, n_per_chunk, J):
    """Literal transcription of the authors' notebook (global NumPy state, per-point scipy calls)."""
    np.random.seed(seed)
    probs, rows = [], []
    for _ in range(C):
        prob = np.sort(0.2 * np.random.rand(K))[::-1]
        probs.append(prob)
        rows.append([scipy.stats.bernoulli.rvs(prob) for _ in range(n_per_chunk * J // C)])
    return np.array(probs), np.array(rows)


@pytest.mark.parametrize("seed, C, K, n, J", [(0, 2, 50, 20, 3), (7, 3, 5, 9, 4), (123, 1, 1, 4, 2)])
def test_legacy_stream_is_bit_identical_to_per_point_scipy(seed, C, K, n, J):
    state = np.random.get_state()
    try:
        probs, rows = _authors_stream(seed, C, K, n, J)
    finally:
        np.random.set_state(state)
    data = sample_paper_data(C, K, n, J, seed=seed, legacy=True)
    np.testing.assert_array_equal(data.probs, probs)
    np.testing.assert_array_equal(data.features, rows.reshape(-1, K).astype(bool))
    per_class = n // C
    # The t-th point of class c arrives in chunk t // (n/C).
    np.testing.assert_array_equal(data.labels, np.repeat(np.arange(C), per_class * J))
    np.testing.assert_array_equal(data.chunk, np.tile(np.arange(per_class * J) // per_class, C))


def test_legacy_leaves_global_state_alone_and_is_deterministic():
    np.random.seed(99)
    before = np.random.get_state()[1].copy()
    a = sample_paper_data(seed=0, legacy=True)
    b = sample_paper_data(seed=0, legacy=True)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    assert a.features.shape == (50_000, 50) and a.features.dtype == bool
    assert a.labels.dtype == np.int64 and a.chunk.dtype == np.int64 and a.probs.shape == (2, 50)
    np.testing.assert_array_equal(a.features, b.features)
    assert not np.array_equal(a.features, sample_paper_data(seed=1, legacy=True).features)


def test_sampled_data_layout_and_seeds():
    data = sample_paper_data(C=3, K=7, n_per_chunk=30, J=5, seed=4)
    assert data.features.shape == (150, 7)
    assert np.all(np.diff(data.probs, axis=1) <= 0) and data.probs.min() >= 0 and data.probs.max() <= 0.2
    counts = np.zeros((5, 3), dtype=int)
    np.add.at(counts, (data.chunk, data.labels), 1)
    assert np.all(counts == 10)
    again = sample_paper_data(C=3, K=7, n_per_chunk=30, J=5, seed=np.random.default_rng(4))
    np.testing.assert_array_equal(data.features, again.features)
    np.testing.assert_array_equal(data.probs, again.probs)


def test_sampled_feature_frequencies_follow_probs():
    data = sample_paper_data(C=2, K=6, n_per_chunk=2000, J=10, seed=0)
    for c in range(2):
        freq = data.features[data.labels == c].mean(axis=0)
        np.testing.assert_allclose(freq, data.probs[c], atol=0.01)


def test_test_sets():
    probs = np.array([[0.9, 0.1], [0.5, 0.0]])
    features, labels = sample_test_set(probs, 4000, seed=2)
    assert features.shape == (4000, 2) and np.bincount(labels).tolist() == [2000, 2000]
    np.testing.assert_allclose(features[labels == 0].mean(0), probs[0], atol=0.03)
    assert not features[labels == 1, 1].any()
    f1, l1 = legacy_test_set(2, 5, 10)
    f2, l2 = legacy_test_set(2, 5, 10)
    np.testing.assert_array_equal(f1, f2)
    # Literally the training procedure re-run under seed C*100 + 100.
    np.testing.assert_array_equal(f1, sample_paper_data(2, 5, 10, 1, seed=300, legacy=True).features)
    assert l1.tolist() == [0] * 5 + [1] * 5


def test_bad_input():
    with pytest.raises(ValueError, match="n_per_chunk must be divisible by C=3"):
        sample_paper_data(C=3, n_per_chunk=10)
    with pytest.raises(ValueError, match="K must be an integer >= 1"):
        sample_paper_data(K=0)
    with pytest.raises(TypeError, match="legacy=True needs an int seed"):
        sample_paper_data(seed=np.random.default_rng(0), legacy=True)
    with pytest.raises(ValueError, match=r"probs must be probabilities in \[0, 1\]"):
        sample_test_set(np.array([[1.5]]), 3, seed=0)
    with pytest.raises(ValueError, match="n_test must be divisible by C=2"):
        legacy_test_set(2, 3, 5)
