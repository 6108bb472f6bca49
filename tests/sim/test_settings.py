"""dashsim.sim.settings: the paper's setting, per-seed runs against a plain transcription, summary, cache."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pandas as pd
import pytest

from dashsim.sim import settings
from dashsim.sim.settings import COLUMNS, QUANTITIES, PaperSetting, run_key, run_setting, summarize
from dashsim.sim.synthetic import sample_paper_data
from sim_reference import reference_simulate

TINY = PaperSetting(C=2, K=6, n_per_chunk=20, J=4, gamma=3, tau=2, seeds=(0, 1, 2))


def _exact_accuracy_by_enumeration(learned, probs, tau):
    """ACC(L) = mean_c [P_c + (1 - P_c)/C], P_c summed over every present/absent pattern of L_c."""
    C = learned.shape[0]
    total = 0.0
    for c in range(C):
        ks = np.flatnonzero(learned[c])
        p_c = 0.0
        for pattern in itertools.product((0, 1), repeat=ks.size):
            prob = np.prod([probs[c, k] if bit else 1 - probs[c, k] for k, bit in zip(ks, pattern)])
            if sum(pattern) >= tau:
                p_c += prob
        total += p_c + (1 - p_c) / C
    return total / C


def test_defaults_are_the_papers_figure3_setting():
    s = PaperSetting()
    assert (s.C, s.K, s.n_per_chunk, s.J, s.gamma, s.tau) == (2, 50, 1000, 50, 50, 3)
    assert s.seeds == tuple(range(10)) and s.legacy and s.n_test == 10000 and s.accuracy == "exact"


@pytest.mark.parametrize(
    "field, value",
    [("C", 0), ("K", 0), ("n_per_chunk", 21), ("J", 0), ("gamma", 0), ("gamma", float("nan")), ("tau", 0),
     ("tau", 7), ("n_test", 0), ("seeds", ()), ("seeds", (-1,)), ("seeds", (1, 1)), ("legacy", "yes"),
     ("accuracy", "approx")],
)
def test_bad_settings_name_the_field(field, value):
    with pytest.raises(ValueError, match=rf"PaperSetting\.{field}"):
        dataclasses.replace(TINY, **{field: value})


def test_non_integer_counts_are_type_errors():
    with pytest.raises(TypeError, match=r"PaperSetting\.K"):
        dataclasses.replace(TINY, K=6.0)


@pytest.mark.parametrize("legacy", [True, False])
def test_run_setting_matches_a_direct_transcription(legacy):
    setting = dataclasses.replace(TINY, legacy=legacy, seeds=(3, 7))
    df = run_setting(setting, progress=False)
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == 2 * 3 * setting.J
    rows = []
    for seed in setting.seeds:
        data = sample_paper_data(setting.C, setting.K, setting.n_per_chunk, setting.J, seed=seed, legacy=legacy)
        ref = reference_simulate(data.features, data.labels, data.chunk, setting.gamma, setting.tau,
                                 num_classes=setting.C)
        for m, method in enumerate(("cold", "warm", "ideal")):
            for j in range(setting.J):
                learned = ref["learned"][m, j]
                rows.append((seed, method, j + 1, _exact_accuracy_by_enumeration(learned, data.probs, setting.tau),
                             int(learned.sum()), int(ref["n_nonzero"][m, j]), int(ref["n_memorized"][m, j])))
    expected = pd.DataFrame(rows, columns=list(COLUMNS))
    pd.testing.assert_frame_equal(df[list(COLUMNS[:3])], expected[list(COLUMNS[:3])])
    for q in ("n_learned", "n_nonzero", "n_memorized"):
        np.testing.assert_array_equal(df[q].to_numpy(), expected[q].to_numpy(), err_msg=q)
    np.testing.assert_allclose(df["test_accuracy"], expected["test_accuracy"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("legacy", [True, False])
def test_test_set_accuracy_lies_between_guessing_and_perfect(legacy):
    df = run_setting(dataclasses.replace(TINY, accuracy="test_set", n_test=200, legacy=legacy), progress=False)
    assert df["test_accuracy"].between(1 / TINY.C, 1.0).all()
    # Cold starts from nothing each time, so after j = 1 with nothing learned it can only guess.
    first = df[(df.experiment == 1) & (df.n_learned < TINY.tau)]
    np.testing.assert_allclose(first["test_accuracy"], 1 / TINY.C)


def test_summarize_matches_plain_numpy_on_random_frames():
    rng = np.random.default_rng(0)
    for trial in range(20):
        n_seeds, J = int(rng.integers(1, 5)), int(rng.integers(1, 6))
        rows = [(s, m, j, rng.random(), *rng.integers(0, 100, 3)) for s in range(n_seeds)
                for m in ("cold", "warm", "ideal") for j in range(1, J + 1)]
        df = pd.DataFrame(rows, columns=list(COLUMNS)).sample(frac=1.0, random_state=trial)  # row order must not matter
        out = summarize(df)
        assert list(out["method"].unique()) == list(pd.unique(df["method"]))
        assert len(out) == 3 * J
        for row in out.itertuples():
            sel = df[(df.method == row.method) & (df.experiment == row.experiment)]
            assert row.n_seeds == n_seeds
            for q in QUANTITIES:
                values = sel[q].to_numpy(dtype=float)
                mean = values.sum() / values.size
                # Sample std (ddof = 1), NaN for one seed: the one convention of dashsim.stats.
                std = np.sqrt(((values - mean) ** 2).sum() / (values.size - 1)) if values.size > 1 else np.nan
                assert getattr(row, f"{q}_mean") == pytest.approx(mean, abs=1e-12)
                assert getattr(row, f"{q}_std") == pytest.approx(std, abs=1e-9, nan_ok=True)


def test_summarize_keeps_sweep_columns_apart():
    df = pd.concat([run_setting(dataclasses.replace(TINY, tau=t, seeds=(0,)), progress=False).assign(tau=t)
                    for t in (1, 2)])
    out = summarize(df, by=["tau"])
    assert list(out.columns[:3]) == ["tau", "method", "experiment"] and len(out) == 2 * 3 * TINY.J
    assert not out.set_index(["tau", "method", "experiment"]).index.duplicated().any()


def test_summarize_rejects_frames_without_the_columns():
    with pytest.raises(ValueError, match="missing columns"):
        summarize(pd.DataFrame({"method": ["cold"], "experiment": [1]}))


def test_cache_reuses_and_resumes_per_seed(tmp_path, monkeypatch):
    first = run_setting(TINY, progress=False, cache_dir=tmp_path)
    run_dir = tmp_path / run_key(TINY)
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.json"] + [
        f"seed_{s}.csv{suffix}" for s in range(3) for suffix in ("", ".sha256")]
    stored = json.loads((run_dir / "config.json").read_text())
    assert stored["setting"]["gamma"] == TINY.gamma and stored["setting"]["methods"] == ["cold", "warm", "ideal"]
    assert "seeds" not in stored["setting"] and stored["environment"]["numpy"] == np.__version__

    real = settings._run_seed
    calls = []

    def counting(setting, seed, methods):
        calls.append(seed)
        return real(setting, seed, methods)

    monkeypatch.setattr(settings, "_run_seed", counting)
    again = run_setting(TINY, progress=False, cache_dir=tmp_path)
    assert calls == []  # everything came from disk ...
    pd.testing.assert_frame_equal(again, first)  # ... bit for bit

    (run_dir / "seed_1.csv").unlink()  # as if the sweep had been interrupted there
    resumed = run_setting(TINY, progress=False, cache_dir=tmp_path)
    assert calls == [1]
    pd.testing.assert_frame_equal(resumed, first)

    more = run_setting(dataclasses.replace(TINY, seeds=(2, 5)), progress=False, cache_dir=tmp_path)
    assert calls == [1, 5]  # seed 2 reused: the key does not depend on the seed list
    pd.testing.assert_frame_equal(more[more.seed == 2].reset_index(drop=True),
                                  first[first.seed == 2].reset_index(drop=True))
    assert not list(run_dir.glob("*.tmp*"))


def test_cache_key_separates_settings_but_not_seed_lists():
    assert run_key(TINY) == run_key(dataclasses.replace(TINY, seeds=(9,)))
    assert run_key(TINY) == run_key(dataclasses.replace(TINY, gamma=3.0))
    for change in ({"gamma": 4}, {"tau": 3}, {"legacy": False}, {"accuracy": "test_set"}, {"J": 5}):
        assert run_key(TINY) != run_key(dataclasses.replace(TINY, **change)), change
    assert run_key(TINY) != run_key(TINY, methods=("cold", "warm"))


def test_rule_objects_run_and_are_cached_by_their_parameters(tmp_path):
    from dashsim import ShrinkPerturbRule

    as_ideal = ShrinkPerturbRule(forget_memorized=1.0, forget_feature=0.0, seed=0)  # forgets M, keeps L: ideal
    df = run_setting(TINY, methods=("ideal", as_ideal), progress=False, cache_dir=tmp_path)
    assert list(pd.unique(df.method)) == ["ideal", "shrink_perturb"]
    ideal, rule = (df[df.method == m].drop(columns="method").reset_index(drop=True)
                   for m in ("ideal", "shrink_perturb"))
    pd.testing.assert_frame_equal(ideal, rule)
    other = ShrinkPerturbRule(forget_memorized=0.5, forget_feature=0.1, seed=0)
    assert run_key(TINY, ("ideal", as_ideal)) != run_key(TINY, ("ideal", other))
    assert len(list(tmp_path.iterdir())) == 1


def test_cache_folder_holding_another_setting_is_refused(tmp_path):
    run_setting(dataclasses.replace(TINY, seeds=(0,)), progress=False, cache_dir=tmp_path)
    (config_path,) = tmp_path.glob("*/config.json")
    payload = json.loads(config_path.read_text())
    payload["setting"]["tau"] = 99
    config_path.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="different setting"):
        run_setting(dataclasses.replace(TINY, seeds=(0,)), progress=False, cache_dir=tmp_path)


def test_methods_are_checked():
    with pytest.raises(ValueError, match="methods"):
        run_setting(TINY, methods=(), progress=False)
    with pytest.raises(ValueError, match="distinct"):
        run_setting(TINY, methods=("cold", "cold"), progress=False)
    with pytest.raises(TypeError, match="cannot cache"):
        run_setting(TINY, methods=(lambda *a: a[:2],), progress=False, cache_dir="unused")
    with pytest.raises(TypeError, match="PaperSetting"):
        run_setting({"C": 2}, progress=False)
