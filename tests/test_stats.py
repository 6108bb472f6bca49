"""dashsim.stats.seed_stats: mean and sample std over seeds, against hand-computed values and plain NumPy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dashsim.stats import seed_stats


def test_hand_computed_values_and_one_seed_is_nan():
    frame = pd.DataFrame({"method": ["a", "a", "a", "b"], "seed": [0, 1, 2, 0], "acc": [1.0, 2.0, 6.0, 5.0],
                          "steps": [10, 20, 30, 7]})
    out = seed_stats(frame, "method", ["acc", "steps"])
    assert list(out.columns) == ["method", "n_seeds", "acc_mean", "acc_std", "steps_mean", "steps_std"]
    a, b = out.iloc[0], out.iloc[1]
    assert (a.method, a.n_seeds, b.method, b.n_seeds) == ("a", 3, "b", 1)
    # mean 3; squared deviations 4 + 1 + 9 = 14 over S - 1 = 2 seeds.
    assert a.acc_mean == 3.0 and a.acc_std == pytest.approx(math.sqrt(7.0), rel=1e-15)
    assert a.steps_mean == 20.0 and a.steps_std == pytest.approx(10.0, rel=1e-15)
    assert b.acc_mean == 5.0 and math.isnan(b.acc_std) and math.isnan(b.steps_std)


def test_matches_numpy_on_random_frames_with_any_columns():
    rng = np.random.default_rng(0)
    for trial in range(10):
        groups = [(d, m) for d in ("x", "y") for m in range(int(rng.integers(1, 4)))]
        rows = [(d, m, s, rng.random(), int(rng.integers(0, 50))) for d, m in groups
                for s in rng.choice(10, int(rng.integers(1, 5)), replace=False)]
        frame = pd.DataFrame(rows, columns=["data", "model", "run", "u", "k"]).sample(frac=1.0, random_state=trial)
        out = seed_stats(frame, ["data", "model"], ["u", "k"], seed_col="run")
        assert len(out) == len(groups)
        for row in out.itertuples():
            sel = frame[(frame.data == row.data) & (frame.model == row.model)]
            assert row.n_seeds == len(sel)
            for v in ("u", "k"):
                values = sel[v].to_numpy(dtype=float)
                std = np.std(values, ddof=1) if values.size > 1 else np.nan
                assert getattr(row, f"{v}_mean") == pytest.approx(values.mean(), abs=1e-12)
                assert getattr(row, f"{v}_std") == pytest.approx(std, abs=1e-12, nan_ok=True)


def test_groups_keep_first_appearance_order_and_no_by_is_one_group():
    frame = pd.DataFrame({"m": ["warm", "cold", "warm", "cold"], "seed": [0, 0, 1, 1], "v": [1.0, 2.0, 3.0, 4.0]})
    assert seed_stats(frame, ["m"], "v")["m"].tolist() == ["warm", "cold"]
    whole = seed_stats(frame.drop(columns="m").assign(seed=[0, 1, 2, 3]), [], "v")
    assert list(whole.columns) == ["n_seeds", "v_mean", "v_std"] and len(whole) == 1
    assert whole.v_mean.iloc[0] == 2.5 and whole.v_std.iloc[0] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))


def test_bad_input_names_the_argument():
    frame = pd.DataFrame({"m": ["a", "a"], "seed": [0, 0], "v": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"frame: missing columns \['w'\]"):
        seed_stats(frame, "m", "w")
    with pytest.raises(ValueError, match="one row per seed"):
        seed_stats(frame, "m", "v")
    with pytest.raises(ValueError, match="values: name at least one"):
        seed_stats(frame, "m", [])
    with pytest.raises(ValueError, match="values: .*id columns"):
        seed_stats(frame.assign(seed=[0, 1]), "m", ["v", "m"])
    with pytest.raises(TypeError, match="by: expected column names"):
        seed_stats(frame, [0], "v")
