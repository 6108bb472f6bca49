"""dashsim.sim.theory against hand-computed values and a direct loop transcription of the definitions."""

import itertools
import math

import numpy as np
import pytest

import dashsim
from dashsim.sim import theory

# One class, K = 2 features a (k=0) and b (k=1), every combination present:
#   n_∅ = 1, n_{a} = 2, n_{b} = 1, n_{ab} = 100  (n = 104), tau = 2, gamma = 102.
# Counts n h(v; ∅): a = 2 + 100 = 102 >= gamma, b = 1 + 100 = 101 < gamma, so G = {a}.
_F = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=bool)
_N = np.array([1, 2, 1, 100])


def _one_class():
    return dashsim.Composition(labels=np.zeros(4, np.int64), features=_F, counts=_N, num_classes=1)


def _two_classes():
    """Two classes, each n_∅ = 1, n_{a} = 2, n_{b} = 1, n_{ab} = 20 (n = 48); run with gamma = 22, tau = 2.

    Counts n h(v; ∅): a = 22 >= gamma > b = 21 in both classes, so G = {a} per class. Every
    assumption holds, and it is the smallest such instance with C >= 2, tau >= 2 on which
    T_warm < T_ideal fails: once everything is learned, ideal pays only the 8 points with fewer
    than tau features, j * 8 per experiment, and 1 + sum_{j=3}^{J} (j/6 - 1) = 0 at J = 5.
    """
    F = _F
    n = np.array([1, 2, 1, 20])
    return dashsim.Composition(labels=np.repeat([0, 1], 4), features=np.vstack([F, F]),
                               counts=np.concatenate([n, n]), num_classes=2)


def h_twin(comp, learned, tau):
    """n h(v; L) by a loop over rows, straight from the definition."""
    C, K = comp.num_classes, comp.features.shape[1]
    out = np.zeros((C, K), dtype=np.int64)
    for c, A, n_A in zip(comp.labels, comp.features, comp.counts):
        in_l = sum(1 for k in range(K) if A[k] and learned[c][k])
        for k in range(K):
            if A[k] and in_l < tau:
                out[c, k] += n_A
    return out


def assumptions_twin(comp, gamma, tau):
    """(3.1, 3.3(i), 3.3(ii)) by brute force over itertools subsets."""
    C, K = comp.num_classes, comp.features.shape[1]
    table = {}
    for c, A, n_A in zip(comp.labels, comp.features, comp.counts):
        key = (int(c), tuple(bool(x) for x in A))
        table[key] = table.get(key, 0) + int(n_A)
    a31 = all(table.get((c, A), 0) >= 1 for c in range(C) for A in itertools.product([False, True], repeat=K))
    a33i = True
    for c in range(C):
        for bits in itertools.product([False, True], repeat=K):
            learned = np.zeros((C, K), bool)
            learned[c] = bits
            cnt = h_twin(comp, learned, tau)[c]
            free = [cnt[k] for k in range(K) if not bits[k]]
            if len(set(free)) < len(free):
                a33i = False
    cnt0 = h_twin(comp, np.zeros((C, K), bool), tau)
    a33ii = True
    for c in range(C):
        s = sorted(cnt0[c], reverse=True)
        if (tau >= 2 and s[tau - 2] < gamma) or s[tau - 1] >= gamma:
            a33ii = False
    return a31, a33i, a33ii


def test_h_by_hand():
    comp = _one_class()
    none, a, ab = np.array([[0, 0]], bool), np.array([[1, 0]], bool), np.array([[1, 1]], bool)
    assert theory.h_counts(comp, none, 2).tolist() == [[102, 101]]
    # With L = {a} the point {a, b} has one learned feature, still < tau = 2.
    assert theory.h_counts(comp, a, 2).tolist() == [[102, 101]]
    assert theory.h_counts(comp, ab, 2).tolist() == [[2, 1]]
    # tau = 1: a point is well-classified as soon as it holds one learned feature.
    assert theory.h_counts(comp, a, 1).tolist() == [[0, 1]]
    np.testing.assert_allclose(theory.h(comp, none, 2), [[102 / 104, 101 / 104]])


def test_G_delta_threshold_by_hand():
    comp = _one_class()
    assert theory.G(comp, gamma=102, tau=2).tolist() == [[True, False]]
    assert theory.delta(comp, gamma=102, tau=2) == pytest.approx(101 / 104)
    assert theory.threshold(comp, gamma=102, tau=2) == pytest.approx(102 / 101)
    # gamma above every count: nothing learned, delta = max h(v; ∅).
    assert theory.G(comp, gamma=500, tau=2).sum() == 0
    assert theory.delta(comp, gamma=500, tau=2) == pytest.approx(102 / 104)
    # Everything learned: delta is the max over an empty set, taken as 0, threshold infinite.
    assert theory.G(comp, gamma=1, tau=2).all()
    assert theory.delta(comp, gamma=1, tau=2) == 0.0
    assert math.isinf(theory.threshold(comp, gamma=1, tau=2))


def test_training_time_is_cumulative_n_nonzero():
    res = dashsim.simulate_composition(_one_class(), 5, gamma=102, tau=2)
    for m in res.methods:
        np.testing.assert_array_equal(theory.training_time(res, m), np.cumsum(res.n_nonzero[res.methods.index(m)]))
    # Hand values: warm sees only the new 104 points each experiment; ideal learns b at j = 2.
    assert theory.training_time(res, "warm").tolist() == [104, 208, 312, 416, 520]
    assert theory.training_time(res, "ideal").tolist() == [104, 312, 324, 340, 360]
    with pytest.raises(ValueError, match="method"):
        theory.training_time(res, "dash")


def _random_composition(rng, drop=0.0):
    C, K = int(rng.integers(1, 3)), int(rng.integers(1, 5))
    combos = np.array(list(itertools.product([0, 1], repeat=K)), bool)
    labels = np.repeat(np.arange(C), len(combos))
    features = np.tile(combos, (C, 1))
    counts = rng.integers(0 if drop else 1, 4, len(labels))
    keep = rng.random(len(labels)) >= drop
    keep[0] = True
    counts[0] = max(counts[0], 1)
    return dashsim.Composition(labels=labels[keep], features=features[keep], counts=counts[keep], num_classes=C)


def test_h_matches_twin_on_random_instances():
    rng = np.random.default_rng(0)
    for _ in range(200):
        comp = _random_composition(rng, drop=float(rng.choice([0.0, 0.3])))
        C, K = comp.num_classes, comp.features.shape[1]
        learned = rng.random((C, K)) < 0.4
        tau = int(rng.integers(1, K + 1))
        np.testing.assert_array_equal(theory.h_counts(comp, learned, tau), h_twin(comp, learned, tau))


def test_check_assumptions_matches_brute_force():
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(300):
        comp = _random_composition(rng, drop=float(rng.choice([0.0, 0.2])))
        K = comp.features.shape[1]
        tau = int(rng.integers(1, K + 1))
        gamma = int(rng.integers(1, 12))
        rep = theory.check_assumptions(comp, gamma=gamma, tau=tau)
        expected = assumptions_twin(comp, gamma, tau)
        assert (rep.a3_1, rep.a3_3_i, rep.a3_3_ii) == expected
        assert rep.all_hold == all(expected)
        assert len(rep.detail) >= sum(not e for e in expected)
        seen.add(expected)
    # The random draws must exercise both outcomes of every assumption.
    for i in range(3):
        assert {e[i] for e in seen} == {True, False}


def test_check_theorems_two_class_instance():
    """Meets every assumption; all claims hold except the two strict time claims of Theorem 3.6."""
    comp = _two_classes()
    assert theory.check_assumptions(comp, gamma=22, tau=2).all_hold
    rep = theory.check_theorems(comp, 8, gamma=22, tau=2)
    assert rep.n_per_chunk == 48 and rep.G.tolist() == [[True, False], [True, False]]
    assert rep.delta == pytest.approx(21 / 48) and rep.threshold == pytest.approx(22 / 21)
    by_name = {c.name: c for c in rep.claims}
    assert set(by_name) == set(theory.CLAIM_NAMES)
    assert {c.name for c in rep.failed()} == {"T_warm < T_ideal", "T_ideal < T_cold"}
    # T_ideal^(2) = T_cold^(2) = 3n: with tau-1 features per class learned nothing is well-classified.
    assert by_name["T_ideal < T_cold"].failed_at == (2,)
    assert (by_name["T_ideal < T_cold"].lhs, by_name["T_ideal < T_cold"].rhs) == (144, 144)
    # By hand: T_ideal = 48, 144, 168, 200, 240, 288, 344, 408 and T_warm = 48 J.
    res = dashsim.simulate_composition(comp, 8, gamma=22, tau=2)
    assert theory.training_time(res, "ideal").tolist() == [48, 144, 168, 200, 240, 288, 344, 408]
    assert by_name["T_warm < T_ideal"].failed_at == (5, 6)
    assert (by_name["T_warm < T_ideal"].lhs, by_name["T_warm < T_ideal"].rhs) == (240, 240)
    assert by_name["ACC_warm < ACC_cold if J > gamma/(delta n)"].holds
    assert by_name["ACC_warm < ACC_cold if J > gamma/(delta n)"].applicable
    frame = rep.to_frame()
    assert list(frame.columns) == ["name", "reference", "lhs", "rhs", "holds", "applicable", "at", "failed_at"]
    assert len(frame) == len(theory.CLAIM_NAMES) and frame["holds"].sum() == len(frame) - 2


def test_check_theorems_one_class_accuracy_claims_fail():
    """With C = 1 every point is classified correctly (a guess is always right), so ACC never moves."""
    rep = theory.check_theorems(_one_class(), 4, gamma=102, tau=2)
    failed = {c.name for c in rep.failed()}
    assert "ACC_warm < ACC_cold if J > gamma/(delta n)" in failed
    assert "ACC(A) < ACC(B) for A ⊊ B, |A ∩ S_c| >= tau-1" in failed


def test_check_theorems_broken_assumption_breaks_warm_claim():
    # gamma = 21 reaches b's count too (3.3(ii) broken): experiment 1 learns both features, so
    # G = S and the theorem's "G proper subset of S" fails.
    comp = _two_classes()
    assert not theory.check_assumptions(comp, gamma=21, tau=2).a3_3_ii
    rep = theory.check_theorems(comp, 4, gamma=21, tau=2)
    assert "G proper subset of S" in {c.name for c in rep.failed()}
    assert not rep.all_hold


def test_bad_input():
    comp = _one_class()
    with pytest.raises(ValueError, match="tau"):
        theory.h(comp, np.zeros((1, 2), bool), 3)
    with pytest.raises(ValueError, match="learned"):
        theory.h(comp, np.zeros((2, 2), bool), 1)
    with pytest.raises(ValueError, match="gamma"):
        theory.G(comp, gamma=0, tau=1)
    with pytest.raises(ValueError, match="n_chunks"):
        theory.check_theorems(comp, 1, gamma=102, tau=2)
    with pytest.raises(TypeError, match="composition"):
        theory.h(object(), np.zeros((1, 2), bool), 1)
    with pytest.raises(ValueError, match="max_features"):
        theory.check_assumptions(comp, gamma=1, tau=1, max_features=1)


def test_lemma_d2_d3_checks_can_fail():
    """Doctored run orders: the D.2/D.3 checks must notice a swapped order and a lost feature."""
    comp = _two_classes()
    g = theory.G(comp, gamma=22, tau=2)
    good = np.full((3, 4), -1)
    good[0, :2] = [0, 2]  # experiment 1: a of class 0, a of class 1 (flat indices c*K + k)
    good[1, :4] = [0, 2, 1, 3]
    good[2, :4] = [0, 2, 1, 3]
    d2, d3 = theory._lemmas_d2_d3(comp, good, g, 3, 22, 2, 2, 2)
    assert d2.holds and d3.holds
    swapped = good.copy()
    swapped[2, :4] = [1, 0, 2, 3]  # class 0 learns b before a at J = 3
    d2, d3 = theory._lemmas_d2_d3(comp, swapped, g, 3, 22, 2, 2, 2)
    assert not d2.holds and not d3.holds and d2.failed_at == ("from ∅: 3 chunks",)
    lost = good.copy()
    lost[2, :4] = [0, 2, 1, -1]  # one feature fewer with more data: D.3 only
    d2, d3 = theory._lemmas_d2_d3(comp, lost, g, 3, 22, 2, 2, 2)
    assert d2.holds and not d3.holds


def test_positional_gamma_tau_as_in_the_brief():
    comp = _two_classes()
    assert theory.delta(comp, 22, 2) == theory.delta(comp, gamma=22, tau=2)
    assert theory.check_assumptions(comp, 22, 2).all_hold
