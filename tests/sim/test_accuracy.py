"""Accuracy functions against brute-force enumeration, a direct formula and Monte Carlo."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dashsim import Composition, accuracy_bernoulli, accuracy_composition, accuracy_on


def _brute_force_bernoulli(learned, probs, tau):
    C, K = probs.shape
    total = 0.0
    for c in range(C):
        p_correct = 0.0
        for bits in itertools.product((0, 1), repeat=K):
            bits = np.array(bits, dtype=bool)
            prob = np.prod(np.where(bits, probs[c], 1 - probs[c]))
            if np.sum(bits & learned[c]) >= tau:
                p_correct += prob
        total += p_correct + (1 - p_correct) / C
    return total / C


def test_bernoulli_matches_enumeration():
    rng = np.random.default_rng(0)
    for _ in range(100):
        C, K = int(rng.integers(1, 4)), int(rng.integers(1, 7))
        probs = rng.random((C, K))
        probs[rng.random((C, K)) < 0.1] = 0.0
        probs[rng.random((C, K)) < 0.1] = 1.0
        learned = rng.random((C, K)) < 0.6
        tau = int(rng.integers(1, K + 1))
        assert accuracy_bernoulli(learned, probs, tau) == pytest.approx(
            _brute_force_bernoulli(learned, probs, tau), abs=1e-12)


def test_batch_dims():
    rng = np.random.default_rng(1)
    probs = rng.random((2, 4))
    learned = rng.random((3, 5, 2, 4)) < 0.5
    acc = accuracy_bernoulli(learned, probs, 2)
    assert acc.shape == (3, 5)
    assert acc[1, 2] == pytest.approx(accuracy_bernoulli(learned[1, 2], probs, 2))


def test_composition_formula():
    rng = np.random.default_rng(2)
    for _ in range(100):
        C, K, R = int(rng.integers(1, 4)), int(rng.integers(1, 6)), int(rng.integers(1, 8))
        comp = Composition(labels=rng.integers(0, C, R), features=rng.random((R, K)) < 0.5,
                           counts=rng.integers(1, 5, R), num_classes=C)
        learned = rng.random((4, C, K)) < 0.5
        tau = int(rng.integers(1, K + 1))
        got = accuracy_composition(learned, comp, tau)
        # Same number from the explicit points of one chunk.
        features, labels, _ = comp.materialize(1)
        np.testing.assert_allclose(got, accuracy_on(learned, features, labels, tau), atol=1e-12)
        for b in range(4):
            wrong = sum(comp.counts[r] for r in range(R)
                        if np.sum(comp.features[r] & learned[b, comp.labels[r]]) < tau)
            assert got[b] == pytest.approx(1 - (C - 1) / C * wrong / comp.n_per_chunk)


def test_accuracy_on_counts_guesses_as_one_over_c():
    learned = np.array([[True, True], [False, False]])
    features = np.array([[1, 1], [1, 0], [1, 1]], dtype=bool)
    labels = np.array([0, 0, 1])
    # point 0 correct; point 1 (1 hit < tau=2) guesses; point 2 guesses: (1 + 1/2 + 1/2) / 3.
    assert accuracy_on(learned, features, labels, 2) == pytest.approx(2 / 3)


def test_bernoulli_monte_carlo():
    rng = np.random.default_rng(3)
    probs = rng.random((3, 6)) * 0.6
    learned = rng.random((3, 6)) < 0.7
    labels = np.arange(60_000) % 3
    features = rng.random((60_000, 6)) < probs[labels]
    assert accuracy_bernoulli(learned, probs, 2) == pytest.approx(
        accuracy_on(learned, features, labels, 2), abs=0.01)


def test_bad_input():
    with pytest.raises(ValueError, match=r"probs must have shape \(C, K\)"):
        accuracy_bernoulli(np.zeros((2, 3), bool), np.zeros((2, 2)), 1)
    with pytest.raises(ValueError, match=r"probs must be probabilities in \[0, 1\]"):
        accuracy_bernoulli(np.zeros((1, 2), bool), np.array([[0.5, -0.1]]), 1)
    with pytest.raises(ValueError, match=r"tau must be an integer in \[1, K=2\]"):
        accuracy_bernoulli(np.zeros((1, 2), bool), np.zeros((1, 2)), 3)
    with pytest.raises(ValueError, match=r"labels must be in \[0, C=1\)"):
        accuracy_on(np.zeros((1, 2), bool), np.zeros((1, 2), bool), np.array([1]), 1)
    comp = Composition(labels=[0], features=[[1, 0, 1]], counts=[1], num_classes=1)
    with pytest.raises(ValueError, match=r"composition has \(C, K\)=\(1, 3\)"):
        accuracy_composition(np.zeros((1, 2), bool), comp, 1)
