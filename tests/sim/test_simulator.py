"""The numba simulator against the plain NumPy transcription in tests/sim/sim_reference.py."""

from __future__ import annotations

import numpy as np
import pytest

import dashsim
from dashsim import Composition, ShrinkPerturbRule, simulate, simulate_composition, training_process
from sim_reference import reference_simulate, reference_training_process

FIELDS = ("learned", "n_nonzero", "n_memorized", "order")


def _random_instance(rng, max_n=24, weighted=False):
    C = int(rng.integers(1, 4))
    K = int(rng.integers(1, 7))
    J = int(rng.integers(1, 6))
    n = int(rng.integers(J, max_n + 1))
    density = rng.uniform(0.1, 0.9)
    features = rng.random((n, K)) < density
    if rng.random() < 0.5 and n > 1:
        # Duplicate rows make exact ties between features common.
        features[n // 2:] = features[: n - n // 2]
    labels = rng.integers(0, C, n)
    chunk = np.concatenate([np.arange(J), rng.integers(0, J, n - J)])
    rng.shuffle(chunk)
    gamma = float(rng.integers(1, 5)) if rng.random() < 0.8 else float(rng.uniform(0.5, 4))
    tau = int(rng.integers(1, K + 1))
    weights = rng.integers(0, 4, n) if weighted else np.ones(n, dtype=np.int64)
    return features, labels, chunk, C, gamma, tau, weights


@pytest.mark.parametrize("block", range(4))
def test_simulate_matches_reference(block):
    rng = np.random.default_rng(1000 + block)
    for _ in range(100):
        features, labels, chunk, C, gamma, tau, _ = _random_instance(rng)
        got = simulate(features, labels, chunk, gamma=gamma, tau=tau, num_classes=C)
        ref = reference_simulate(features, labels, chunk, gamma, tau, num_classes=C)
        assert got.methods == ("cold", "warm", "ideal")
        for field in FIELDS:
            np.testing.assert_array_equal(getattr(got, field), ref[field], err_msg=field)


def test_simulate_method_subsets_and_order():
    rng = np.random.default_rng(7)
    features, labels, chunk, C, gamma, tau, _ = _random_instance(rng, max_n=30)
    for methods in (("ideal",), ("warm", "cold"), ("cold", "cold", "ideal", "warm")):
        got = simulate(features, labels, chunk, gamma=gamma, tau=tau, methods=methods, num_classes=C)
        ref = reference_simulate(features, labels, chunk, gamma, tau, methods=methods, num_classes=C)
        assert got.methods == methods
        for field in FIELDS:
            np.testing.assert_array_equal(getattr(got, field), ref[field], err_msg=field)


def test_training_process_matches_reference_weighted():
    rng = np.random.default_rng(11)
    for _ in range(300):
        features, labels, _, C, gamma, tau, weights = _random_instance(rng, weighted=True)
        K = features.shape[1]
        learned = rng.random((C, K)) < 0.3
        memorized = rng.random(features.shape[0]) < 0.3
        got = training_process(features, labels, weights, learned=learned, memorized=memorized,
                               gamma=gamma, tau=tau)
        ref_l, ref_m, ref_order, ref_nz = reference_training_process(
            features, labels, weights, learned, memorized, gamma, tau)
        np.testing.assert_array_equal(got.learned, ref_l)
        np.testing.assert_array_equal(got.memorized, ref_m)
        np.testing.assert_array_equal(got.order, ref_order)
        assert got.n_nonzero == ref_nz


def test_tie_break_smallest_flat_index():
    # Features (0, 1) and (1, 0) both have count 2; flat index 1 < 2 wins.
    features = np.array([[0, 1], [0, 1], [1, 0], [1, 0]], dtype=bool)
    labels = np.array([0, 0, 1, 1])
    got = training_process(features, labels, np.ones(4, dtype=int), learned=np.zeros((2, 2), bool),
                           memorized=np.zeros(4, bool), gamma=2, tau=1)
    assert got.order.tolist() == [1, 2]
    assert got.n_nonzero == 4


def test_simulate_composition_matches_materialized():
    rng = np.random.default_rng(21)
    for _ in range(150):
        C = int(rng.integers(1, 4))
        K = int(rng.integers(1, 6))
        R = int(rng.integers(1, 8))
        comp = Composition(labels=rng.integers(0, C, R), features=rng.random((R, K)) < 0.5,
                           counts=rng.integers(0, 4, R), num_classes=C)
        J = int(rng.integers(1, 6))
        gamma = float(rng.integers(1, 8))
        tau = int(rng.integers(1, K + 1))
        got = simulate_composition(comp, J, gamma=gamma, tau=tau)
        # Weighted reference on one point per (chunk, row).
        features, labels, chunk, weights = comp.materialize_weighted(J)
        ref = reference_simulate(features, labels, chunk, gamma, tau, num_classes=C, weights=weights,
                                 num_chunks=J)
        for field in FIELDS:
            np.testing.assert_array_equal(getattr(got, field), ref[field], err_msg=field)
        if comp.n_per_chunk > 0:
            points = comp.materialize(J)
            direct = simulate(*points, gamma=gamma, tau=tau, num_classes=C)
            for field in FIELDS:
                np.testing.assert_array_equal(getattr(got, field), getattr(direct, field), err_msg=field)


class _Builtin:
    """Wraps a built-in rule so simulate takes the Python (custom-rule) path."""

    def __init__(self, name):
        self.name = name
        self.rule = dashsim.BUILTIN_RULES[name]

    def __call__(self, learned, memorized, j, data, rng):
        return self.rule(learned, memorized, j, data, rng)


def test_custom_rule_path_matches_builtin_kernels():
    rng = np.random.default_rng(31)
    for _ in range(60):
        features, labels, chunk, C, gamma, tau, _ = _random_instance(rng)
        fast = simulate(features, labels, chunk, gamma=gamma, tau=tau, num_classes=C)
        slow = simulate(features, labels, chunk, gamma=gamma, tau=tau, num_classes=C,
                        methods=[_Builtin("cold"), _Builtin("warm"), _Builtin("ideal")])
        for field in FIELDS:
            np.testing.assert_array_equal(getattr(fast, field), getattr(slow, field), err_msg=field)


def test_custom_rule_composition_path_matches_builtin():
    rng = np.random.default_rng(41)
    for _ in range(40):
        C, K, R = 2, 4, int(rng.integers(1, 6))
        comp = Composition(labels=rng.integers(0, C, R), features=rng.random((R, K)) < 0.6,
                           counts=rng.integers(1, 4, R), num_classes=C)
        J, gamma, tau = int(rng.integers(1, 5)), float(rng.integers(1, 6)), int(rng.integers(1, 3))
        fast = simulate_composition(comp, J, gamma=gamma, tau=tau)
        slow = simulate_composition(comp, J, gamma=gamma, tau=tau,
                                    methods=["cold", _Builtin("warm"), _Builtin("ideal")])
        for field in FIELDS:
            np.testing.assert_array_equal(getattr(fast, field), getattr(slow, field), err_msg=field)


def test_shrink_perturb_extremes_and_determinism():
    data = dashsim.sample_paper_data(C=2, K=10, n_per_chunk=40, J=6, seed=3)
    args = (data.features, data.labels, data.chunk)
    kw = dict(gamma=4, tau=2)
    base = simulate(*args, **kw)
    as_warm = simulate(*args, methods=[ShrinkPerturbRule(0.0, 0.0, seed=1)], **kw)
    as_ideal = simulate(*args, methods=[ShrinkPerturbRule(1.0, 0.0, seed=1)], **kw)
    as_cold = simulate(*args, methods=[ShrinkPerturbRule(1.0, 1.0, seed=1)], **kw)
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(as_cold, field)[0], getattr(base, field)[0])
        np.testing.assert_array_equal(getattr(as_warm, field)[0], getattr(base, field)[1])
        np.testing.assert_array_equal(getattr(as_ideal, field)[0], getattr(base, field)[2])
    rule = ShrinkPerturbRule(0.5, 0.3, seed=5)
    a = simulate(*args, methods=[rule], **kw)
    b = simulate(*args, methods=[rule], **kw)
    np.testing.assert_array_equal(a.learned, b.learned)
    assert a.methods == ("shrink_perturb",)


def test_result_properties_and_frame():
    data = dashsim.sample_paper_data(C=2, K=8, n_per_chunk=20, J=4, seed=0)
    res = simulate(data.features, data.labels, data.chunk, gamma=3, tau=2)
    np.testing.assert_array_equal(res.n_learned, res.learned.sum(axis=(2, 3)))
    np.testing.assert_array_equal(res.training_time, np.cumsum(res.n_nonzero, axis=1))
    np.testing.assert_array_equal(res.n_nonzero[0], 20 * np.arange(1, 5))  # cold sees all of T_{1:j}
    frame = res.to_frame()
    assert list(frame.columns) == ["method", "experiment", "n_learned", "n_nonzero", "n_memorized"]
    assert len(frame) == 12 and frame["method"].iloc[4] == "warm"
    # The order lists exactly the features learned during each experiment.
    for m in range(3):
        prev = np.zeros(16, dtype=bool)
        for j in range(4):
            now = res.learned[m, j].ravel()
            learned_now = res.order[m, j][res.order[m, j] >= 0]
            if m > 0:
                assert set(learned_now.tolist()) == set(np.flatnonzero(now & ~prev).tolist())
            prev = now


def test_legacy_seed0_reference_numbers():
    data = dashsim.sample_paper_data(seed=0, legacy=True)
    res = simulate(data.features, data.labels, data.chunk, gamma=50, tau=3)
    assert res.n_learned[:, -1].tolist() == [91, 33, 91]
    assert res.n_nonzero[:, -1].tolist() == [50_000, 474, 6_054]
    acc = dashsim.accuracy_bernoulli(res.learned[:, -1], data.probs, 3)
    np.testing.assert_allclose(acc, [0.939, 0.758, 0.939], atol=0.003)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------
def _ok():
    features = np.array([[1, 0], [0, 1], [1, 1]])
    return features, np.array([0, 1, 0]), np.array([0, 1, 1])


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(features=np.array([[1, 0], [0, 2], [1, 1]])), ValueError, "features must be binary"),
        (dict(features=np.ones(3)), ValueError, "features must be a 2-D"),
        (dict(labels=np.array([0, 1])), ValueError, "labels must have one entry per point"),
        (dict(labels=np.array([0, -1, 0])), ValueError, r"labels must be in \[0, C\)"),
        (dict(labels=np.array([0.0, 1.0, 0.0])), TypeError, "labels must hold integers"),
        (dict(chunk=np.array([0, 2, 2])), ValueError, r"empty chunks"),
        (dict(chunk=np.array([0, -1, 1])), ValueError, r"chunk ids must be in \[0, J\)"),
        (dict(gamma=0), ValueError, "gamma must be a finite number > 0"),
        (dict(gamma=-1.5), ValueError, "gamma must be a finite number > 0"),
        (dict(tau=0), ValueError, r"tau must be an integer in \[1, K=2\]"),
        (dict(tau=3), ValueError, r"tau must be an integer in \[1, K=2\]"),
        (dict(tau=1.5), TypeError, r"tau must be an integer"),
        (dict(methods=("cold", "lukewarm")), ValueError,
         r"unknown method 'lukewarm'; known methods: \['cold', 'ideal', 'warm'\]"),
        (dict(methods=()), ValueError, "methods must name at least one rule"),
        (dict(num_classes=1), ValueError, r"labels must be in \[0, num_classes=1\)"),
    ],
)
def test_simulate_bad_input(change, error, match):
    features, labels, chunk = _ok()
    kw = dict(features=features, labels=labels, chunk=chunk, gamma=1, tau=1)
    kw.update(change)
    with pytest.raises(error, match=match):
        simulate(kw.pop("features"), kw.pop("labels"), kw.pop("chunk"), **kw)


def test_training_process_bad_input():
    f = np.array([[1, 0]])
    ok = dict(learned=np.zeros((1, 2), bool), memorized=np.zeros(1, bool), gamma=1, tau=1)
    with pytest.raises(ValueError, match="weights must be integers >= 0"):
        training_process(f, [0], [-1], **ok)
    with pytest.raises(ValueError, match="features must have K=2 columns"):
        training_process(np.ones((1, 3)), [0], [1], **ok)
    with pytest.raises(ValueError, match=r"memorized must have shape \(n,\)"):
        training_process(f, [0], [1], **{**ok, "memorized": np.zeros(2, bool)})


def test_composition_and_rule_bad_input():
    with pytest.raises(ValueError, match=r"Composition.counts \(n_A\) must be integers >= 0"):
        Composition(labels=[0], features=[[1, 0]], counts=[-1], num_classes=1)
    with pytest.raises(ValueError, match=r"Composition.labels must be in \[0, num_classes=1\)"):
        Composition(labels=[1], features=[[1, 0]], counts=[1], num_classes=1)
    with pytest.raises(ValueError, match="Composition.features must be binary"):
        Composition(labels=[0], features=[[3, 0]], counts=[1], num_classes=1)
    with pytest.raises(ValueError, match=r"Composition.labels must have shape \(R,\)"):
        Composition(labels=[0, 0], features=[[1, 0]], counts=[1], num_classes=1)
    comp = Composition(labels=[0], features=[[1, 0]], counts=[1], num_classes=1)
    with pytest.raises(ValueError, match="n_chunks must be an integer >= 1"):
        simulate_composition(comp, 0, gamma=1, tau=1)
    with pytest.raises(ValueError, match=r"ShrinkPerturbRule.forget_feature must be a probability in \[0, 1\]"):
        ShrinkPerturbRule(0.5, 1.5)

    def broken(learned, memorized, j, data, rng):
        return learned

    features, labels, chunk = _ok()
    with pytest.raises(TypeError, match="must return \\(learned, memorized\\)"):
        simulate(features, labels, chunk, gamma=1, tau=1, methods=[broken])


# ---------------------------------------------------------------------------------------------
# Bitset kernels at their edges: word boundaries, multi-word masks, many leaving points, many planes
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("K", [63, 64, 65, 130])
def test_simulate_matches_reference_across_word_boundaries(K):
    # Classes of 60-200 points span one to four 64-point words; K > 64 needs several mask words.
    rng = np.random.default_rng(K)
    for _ in range(3):
        C = int(rng.integers(1, 3))
        J = int(rng.integers(2, 4))
        n = int(rng.integers(60, 200))
        features = rng.random((n, K)) < rng.uniform(0.02, 0.3)
        labels = rng.integers(0, C, n)
        chunk = np.sort(np.concatenate([np.arange(J), rng.integers(0, J, n - J)]))
        gamma = float(rng.integers(2, 12))
        tau = int(rng.integers(1, 4))
        got = simulate(features, labels, chunk, gamma=gamma, tau=tau, num_classes=C)
        ref = reference_simulate(features, labels, chunk, gamma, tau, num_classes=C)
        for field in FIELDS:
            np.testing.assert_array_equal(getattr(got, field), ref[field], err_msg=field)


def test_more_than_255_points_leave_at_once():
    # tau = 1: learning the shared feature drops all 300 points at once, beyond the 2**8 - 1
    # points the bit-sliced counter sums before emptying; every other count must reach 0 exactly.
    rng = np.random.default_rng(5)
    n, K = 300, 70
    features = rng.random((n, K)) < 0.5
    features[:, 3] = True
    labels = np.zeros(n, dtype=np.int64)
    got = training_process(features, labels, np.ones(n, dtype=np.int64), learned=np.zeros((1, K), bool),
                           memorized=np.zeros(n, bool), gamma=1, tau=1)
    assert got.order.tolist() == [3]
    ref = reference_training_process(features, labels, np.ones(n), np.zeros((1, K), bool), np.zeros(n, bool), 1, 1)
    np.testing.assert_array_equal(got.learned, ref[0])
    np.testing.assert_array_equal(got.memorized, ref[1])


def test_large_tau_and_weights_match_reference():
    # tau up to 12 needs four count planes; weights of 0 and large multiplicities take the
    # feature-by-feature path instead of the unit-weight counter.
    rng = np.random.default_rng(9)
    for _ in range(20):
        C, K = int(rng.integers(1, 3)), int(rng.integers(12, 20))
        n = int(rng.integers(20, 90))
        features = rng.random((n, K)) < rng.uniform(0.3, 0.9)
        labels = rng.integers(0, C, n)
        weights = np.where(rng.random(n) < 0.2, 0, rng.integers(1, 1000, n))
        learned = rng.random((C, K)) < 0.2
        memorized = rng.random(n) < 0.2
        gamma = float(rng.integers(1, 3000))
        tau = int(rng.integers(4, 13))
        got = training_process(features, labels, weights, learned=learned, memorized=memorized, gamma=gamma,
                               tau=tau)
        ref_l, ref_m, ref_order, ref_nz = reference_training_process(features, labels, weights, learned,
                                                                     memorized, gamma, tau)
        np.testing.assert_array_equal(got.learned, ref_l)
        np.testing.assert_array_equal(got.memorized, ref_m)
        np.testing.assert_array_equal(got.order, ref_order)
        assert got.n_nonzero == ref_nz
