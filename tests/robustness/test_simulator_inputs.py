"""The simulator under hostile input: overflowing counts, absurd sizes and corrupt sweep caches are refused or
recomputed, never a wrong answer or a hang; a property test over simulate's inputs."""

from __future__ import annotations

import logging

import hypothesis.extra.numpy as hnp
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import dashsim
from dashsim.errors import CorruptFileError, TooLargeError
from dashsim.sim import settings as sim_settings
from dashsim.sim.settings import PaperSetting, run_key, run_setting
from dashsim.sim.simulator import training_process

TINY = PaperSetting(C=2, K=6, n_per_chunk=20, J=3, gamma=3.0, tau=2, seeds=(0, 1))


def test_weights_that_overflow_int64_are_refused():
    features = np.ones((2, 3), dtype=bool)
    common = dict(learned=np.zeros((2, 3), dtype=bool), memorized=[0, 0], gamma=1, tau=1)
    with pytest.raises(ValueError, match="weights: the counts would reach"):
        training_process(features, [0, 1], [2**62, 2**62], **common)
    with pytest.raises(ValueError, match="weights: the counts would reach"):
        training_process(features, [0, 0], [2**61, 2**61], **common)
    # Just below the bound: exact counts (by hand: both points hold every feature of class 0, so with tau = 3
    # the three features are learned in index order, and |N| is the total weight).
    big = 2**60
    result = training_process(features, [0, 0], [big, big], **dict(common, tau=3))
    assert result.n_nonzero == 2 * big and result.order.tolist() == [0, 1, 2] and not result.learned[1].any()


def test_composition_counts_times_experiments_are_checked():
    comp = dashsim.Composition(features=np.ones((1, 2), dtype=bool), labels=np.array([0]), counts=np.array([2**60]),
                               num_classes=1)
    with pytest.raises(ValueError, match=r"Composition.counts: .* x 8"):
        dashsim.simulate_composition(comp, 8, gamma=1.0, tau=1)
    assert dashsim.simulate_composition(comp, 2, gamma=1.0, tau=1).n_nonzero.min() >= 0


def test_absurd_sizes_are_refused_before_any_allocation():
    features = np.zeros((4, 3), dtype=bool)
    with pytest.raises(TooLargeError, match=r"labels/num_classes \(C\).*would need about .* available"):
        dashsim.simulate(features, [0, 1, 0, 10**12], [0, 0, 1, 1], gamma=1, tau=1)
    with pytest.raises(ValueError, match="J=1000000001.* only 4 points"):
        dashsim.simulate(features, [0, 1, 0, 1], [0, 0, 1, 10**9], gamma=1, tau=1)
    with pytest.raises(TooLargeError, match="PaperSetting n_per_chunk x J x K"):
        PaperSetting(K=1_000_000, n_per_chunk=1_000_000, J=1000)
    comp = dashsim.Composition(features=np.ones((1, 2), dtype=bool), labels=np.array([0]), counts=np.array([1]),
                               num_classes=1)
    with pytest.raises(TooLargeError, match="n_chunks"):
        dashsim.simulate_composition(comp, 10**13, gamma=1.0, tau=1)


def _first_run(tmp_path):
    first = run_setting(TINY, progress=False, cache_dir=tmp_path)
    return first, tmp_path / run_key(TINY)


@pytest.mark.parametrize("damage", ["truncate", "empty", "edit value", "edit consistently", "drop column", "garbage"])
def test_a_corrupt_seed_csv_is_recomputed(tmp_path, damage, caplog, monkeypatch):
    first, run_dir = _first_run(tmp_path)
    path = run_dir / "seed_1.csv"
    text = path.read_text()
    if damage == "truncate":
        path.write_text(text[: len(text) // 2])
    elif damage == "empty":
        path.write_text("")
    elif damage == "edit value":
        frame = pd.read_csv(path)
        frame.loc[3, "n_learned"] += 1
        path.write_text(frame.to_csv(index=False, float_format="%.17g"))
    elif damage == "edit consistently":  # plausible values, no digest to betray them: the digest file too
        frame = pd.read_csv(path)
        frame.loc[3, "test_accuracy"] = 0.5
        path.write_text(frame.to_csv(index=False, float_format="%.17g"))
        (run_dir / "seed_1.csv.sha256").unlink()
    elif damage == "drop column":
        pd.read_csv(path).drop(columns="n_memorized").to_csv(path, index=False)
    else:
        path.write_bytes(b"\x00\xff" * 50)
    calls = []
    real = sim_settings._run_seed
    monkeypatch.setattr(sim_settings, "_run_seed", lambda *a: calls.append(a[1]) or real(*a))
    with caplog.at_level(logging.WARNING, logger="dashsim"):
        again = run_setting(TINY, progress=False, cache_dir=tmp_path)
    if damage == "edit consistently":
        # Without its digest a well-formed file cannot be told from the original: it is trusted (documented).
        assert calls == [] and again.loc[again.seed == 1, "test_accuracy"].iloc[3] == 0.5
        return
    assert calls == [1] and "is corrupt" in caplog.text and "seed_1.csv" in caplog.text
    pd.testing.assert_frame_equal(again, first)
    assert path.read_text() == text


def test_a_corrupt_cache_config_is_a_named_error(tmp_path):
    _, run_dir = _first_run(tmp_path)
    (run_dir / "config.json").write_text("{not json")
    with pytest.raises(CorruptFileError, match="config.json: is not readable JSON.*delete the folder"):
        run_setting(TINY, progress=False, cache_dir=tmp_path)


# --- property test: every input gives a result or a ValueError/TypeError naming the argument ------------------

_ARGS = ("features", "labels", "chunk", "gamma", "tau", "num_classes", "methods", "K", "C", "J", "points")
_values = st.one_of(st.integers(-3, 6), st.floats(allow_nan=True, allow_infinity=True, width=32),
                    st.just(2**62), st.just(10**15), st.text(max_size=2), st.none(), st.booleans())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(0, 6), K=st.integers(1, 4),
       features=st.one_of(st.none(), hnp.arrays(np.int8, st.tuples(st.integers(0, 6), st.integers(0, 4)),
                                                elements=st.integers(-1, 2))),
       labels=st.lists(_values, max_size=7), chunk=st.lists(_values, max_size=7), gamma=_values, tau=_values,
       num_classes=_values)
def test_simulate_gives_a_result_or_names_the_argument(n, K, features, labels, chunk, gamma, tau, num_classes):
    if features is None:
        features = np.zeros((n, K), dtype=bool)
    try:
        result = dashsim.simulate(features, labels, chunk, gamma=gamma, tau=tau, num_classes=num_classes)
    except (ValueError, TypeError) as err:
        assert isinstance(err, dashsim.errors.DashsimError) or any(a in str(err) for a in _ARGS), repr(err)
        assert type(err).__module__ in ("builtins", "dashsim.errors"), repr(err)
        return
    assert (result.n_nonzero >= 0).all() and (result.n_memorized >= 0).all()
    assert result.learned.shape[1] == int(np.asarray(chunk).max()) + 1
