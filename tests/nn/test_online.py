"""Online-learning and data-discarding protocols on the digits with a tiny MLP."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from dashsim.nn import data, engine
from dashsim.nn.engine import ROW_COLUMNS
from dashsim.nn.methods import Method
from dashsim.nn.models import build_model
from dashsim.nn.protocols import discarding, online
from dashsim.nn.train import SettingsError, TrainConfig

TIMING = ["wall_time_s", "method_time_s"]


@pytest.fixture(scope="module")
def digits():
    return data.load_digits()


def _config(tmp_path, name="run", **kw):
    base = dict(data="digits", model="mlp", width=32, method="sp", J=3, seeds=(0,), max_epochs=6, device="cpu",
                out=str(tmp_path / name))
    base.update(kw)
    return TrainConfig(**base)


def _no_training(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a finished run must not train again")

    monkeypatch.setattr(engine, "train_until_target", boom)


def _fail_at(monkeypatch, call):
    """Make the ``call``-th training call raise, as if the process died in that round."""
    real, count = engine.train_until_target, {"n": 0}

    class Died(RuntimeError):
        pass

    def train(*a, **k):
        count["n"] += 1
        if count["n"] == call:
            raise Died
        return real(*a, **k)

    monkeypatch.setattr(engine, "train_until_target", train)
    return Died


def test_input_validation_names_the_field(tmp_path, digits):
    cfg = _config(tmp_path)
    with pytest.raises(SettingsError, match="k must be an integer >= 1"):
        online.run_passive_online(cfg, k=0, dataset=digits)
    with pytest.raises(SettingsError, match="k must be an integer >= 1"):
        online.run_active_online(cfg, k=2.5, dataset=digits)
    with pytest.raises(SettingsError, match="rounds must be an integer >= 1"):
        online.run_passive_online(cfg, k=10, rounds=0, dataset=digits)
    with pytest.raises(SettingsError, match=r"rounds must be at most 143 \(= 1438 samples // k=10\)"):
        online.run_passive_online(cfg, k=10, rounds=144, dataset=digits)
    with pytest.raises(SettingsError, match="k must be at most the 1438 training samples"):
        online.run_active_online(cfg, k=1439, dataset=digits)
    with pytest.raises(SettingsError, match=r"online_target must be in \(0, 1\]"):
        online.run_passive_online(cfg, k=10, target_accuracy=1.5, dataset=digits)
    with pytest.raises(SettingsError, match="m must be an integer >= 1"):
        discarding.run_discarding(cfg, m=0, dataset=digits)
    with pytest.raises(SettingsError, match="stop_after must be an integer >= 1"):
        discarding.run_discarding(cfg, m=1, stop_after=0, dataset=digits)
    # None of these settings errors made a run folder.
    assert not (tmp_path / "run").exists()
    # A data set passed to a run names the run's data (config.data is only the default).
    rows = discarding.run_discarding(_config(tmp_path, "other", data="fashion-mnist", J=2, subset=60, max_epochs=1),
                                     m=1, dataset=digits)
    assert (rows["dataset"] == "digits").all() and (rows["protocol"] == "discarding").all()
    assert json.loads((tmp_path / "other" / "config.json").read_text())["data"] == "digits"


def test_passive_rows_growth_resume_and_split_run(tmp_path, monkeypatch, digits):
    k = 60
    cfg = _config(tmp_path, "whole")
    df = online.run_passive_online(cfg, k=k, rounds=3, dataset=digits)
    assert list(df.columns) == [*ROW_COLUMNS[:4], "lam", "sigma", *ROW_COLUMNS[4:]]  # S&P's hyper-parameters
    assert (df["lam"] == 0.3).all() and (df["sigma"] == 0.01).all()
    assert list(df["experiment"]) == [1, 2, 3] and list(df["n_train"]) == [k, 2 * k, 3 * k]
    assert list(df["method_applied"]) == [False, True, True] and (df["protocol"] == "passive-online").all()
    # A round of n images and e epochs takes e * ceil(n / 128) steps.
    assert list(df["steps"]) == [e * math.ceil(n / 128) for e, n in zip(df["epochs"], df["n_train"])]
    assert df["test_accuracy"].between(0, 1).all()
    assert (tmp_path / "whole" / "metrics.csv").exists()

    # Interrupted in round 3, then re-run: the same rows as the uninterrupted run.
    died = _fail_at(monkeypatch, 3)
    with pytest.raises(died):
        online.run_passive_online(_config(tmp_path, "split"), k=k, rounds=3, dataset=digits)
    assert len(pd.read_csv(tmp_path / "split" / "metrics.csv")) == 2
    monkeypatch.undo()
    real, count = engine.train_until_target, {"n": 0}

    def counting(*a, **kw):
        count["n"] += 1
        return real(*a, **kw)

    monkeypatch.setattr(engine, "train_until_target", counting)
    split = online.run_passive_online(_config(tmp_path, "split"), k=k, rounds=3, dataset=digits)
    assert count["n"] == 1  # only round 3 was left to train
    monkeypatch.undo()
    pd.testing.assert_frame_equal(split.drop(columns=TIMING), df.drop(columns=TIMING))

    _no_training(monkeypatch)
    again = online.run_passive_online(cfg, k=k, rounds=3, dataset=digits)
    pd.testing.assert_frame_equal(again, df)


def _numpy_smallest_margin(W, b, X, pool, k):
    logits = X[pool].reshape(len(pool), -1).astype(np.float64) @ W.T.astype(np.float64) + b
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    top = np.sort(p, axis=1)
    margin = top[:, -1] - top[:, -2]
    return pool[np.argsort(margin, kind="stable")[:k]]


def test_smallest_margin_matches_numpy():
    rng = np.random.default_rng(0)
    for trial in range(20):
        n, classes = int(rng.integers(5, 60)), int(rng.integers(2, 7))
        X = rng.normal(size=(n, 1, 2, 2)).astype(np.float32)
        pool = np.sort(rng.choice(n, size=int(rng.integers(1, n + 1)), replace=False))
        k = int(rng.integers(1, len(pool) + 1))
        model = nn.Sequential(nn.Flatten(), nn.Linear(4, classes))
        with torch.no_grad():
            model[1].weight.copy_(torch.from_numpy(rng.normal(size=(classes, 4)).astype(np.float32)))
            model[1].bias.copy_(torch.from_numpy(rng.normal(size=classes).astype(np.float32)))
        got = online.smallest_margin(model, torch.from_numpy(X), torch.from_numpy(pool), k, batch_size=7)
        want = _numpy_smallest_margin(model[1].weight.detach().numpy(), model[1].bias.detach().numpy(), X, pool, k)
        assert got.tolist() == want.tolist(), trial
    model.train()
    online.smallest_margin(model, torch.from_numpy(X), torch.from_numpy(pool), 1)
    assert model.training  # mode restored
    with pytest.raises(ValueError, match="k must be at most the pool size"):
        online.smallest_margin(model, torch.from_numpy(X), torch.from_numpy(pool), len(pool) + 1)


def test_active_picks_smallest_margin_of_previous_model(tmp_path, digits):
    k = 50
    one = online.run_active_online(_config(tmp_path, "one", method="warm"), k=k, rounds=1, dataset=digits)
    two = online.run_active_online(_config(tmp_path, "two", method="warm"), k=k, rounds=2, dataset=digits)
    assert list(two["n_train"]) == [k, 2 * k] and list(two["method_applied"]) == [False, True]
    assert one["test_accuracy"].iloc[0] == two["test_accuracy"].iloc[0]  # same round 1 on CPU
    state1 = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=False)["state"]
    state2 = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=False)["state"]
    assert (state1["round"], state2["round"]) == (1, 2)
    x, _ = digits.as_float("train", normalize=False)
    model = build_model("mlp", num_classes=10, in_channels=1, image_size=8, width=32)
    model.load_state_dict(state1["learner"]["model"])
    pool1 = state1["plan_state"]["pool"]
    want = online.smallest_margin(model, x, pool1, k)
    labeled2 = state2["plan_state"]["labeled"]
    assert torch.equal(labeled2[:k], state1["plan_state"]["labeled"])
    assert torch.equal(labeled2[k:], want)
    # Independent check of the pick: margins from NumPy on the round-1 model's eval-mode scores.
    model.eval()
    with torch.no_grad():
        probs = torch.softmax(model(x[pool1]), dim=1).double().numpy()
    top = np.sort(probs, axis=1)
    margin = top[:, -1] - top[:, -2]
    chosen = np.isin(pool1.numpy(), want.numpy())
    assert np.max(margin[chosen]) <= np.min(margin[~chosen]) + 1e-6
    pool2 = state2["plan_state"]["pool"]
    perm, _ = engine.chunk_permutation(x.shape[0], seed=0, J=1)
    assert len(set(labeled2.tolist()) | set(pool2.tolist())) == perm.numel() == labeled2.numel() + pool2.numel()


def test_discarding_trains_on_newest_chunk_and_applies_method_on_schedule(tmp_path, monkeypatch, digits):
    calls = []

    @dataclasses.dataclass(frozen=True)
    class Recorder(Method):
        name: ClassVar[str] = "recorder"

        def before_experiment(self, learner, chunks, *, generator):
            calls.append([c.idx.clone() for c in chunks])
            return learner

    trained = []
    real = engine.train_until_target

    def train(learner, method, x, y, indices, **kw):
        trained.append(indices.clone())
        return real(learner, method, x, y, indices, **kw)

    monkeypatch.setattr(engine, "train_until_target", train)
    J, m, stop_after = 9, 2, 6
    cfg = _config(tmp_path, J=J, max_epochs=3)
    df = discarding.run_discarding(cfg, m=m, stop_after=stop_after, dataset=digits, method=Recorder())
    assert (df["method"] == "recorder").all() and list(df.columns) == list(ROW_COLUMNS)
    perm, n = engine.chunk_permutation(digits.x_train.shape[0], seed=0, J=J)
    assert discarding.discarding_schedule(J, m, stop_after) == [2, 4, 6]
    assert list(df["method_applied"]) == [j in (2, 4, 6) for j in range(1, J + 1)]
    assert len(calls) == 3
    for call, j in zip(calls, (2, 4, 6)):
        assert len(call) == 1 and torch.equal(call[0], perm[(j - 1) * n : j * n])
    assert len(trained) == J
    for j, idx in enumerate(trained, start=1):
        assert torch.equal(idx, perm[(j - 1) * n : j * n])
    assert (df["n_train"] == n).all()
    assert list(df["steps"]) == [e * math.ceil(n / 128) for e in df["epochs"]]
    assert discarding.discarding_schedule(50, 10, 40) == [10, 20, 30, 40]
    assert discarding.discarding_schedule(5, 1, 40) == [2, 3, 4, 5]


def test_active_split_run_restores_the_pool(tmp_path, monkeypatch, digits):
    k = 40
    whole = online.run_active_online(_config(tmp_path, "whole"), k=k, rounds=3, dataset=digits)
    died = _fail_at(monkeypatch, 3)
    with pytest.raises(died):
        online.run_active_online(_config(tmp_path, "split"), k=k, rounds=3, dataset=digits)
    monkeypatch.undo()
    split = online.run_active_online(_config(tmp_path, "split"), k=k, rounds=3, dataset=digits)
    pd.testing.assert_frame_equal(split.drop(columns=TIMING), whole.drop(columns=TIMING))
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)["state"]["plan_state"]
    b = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=False)["state"]["plan_state"]
    assert torch.equal(a["labeled"], b["labeled"]) and torch.equal(a["pool"], b["pool"])


def test_discarding_with_dash_on_a_single_chunk(tmp_path, digits):
    df = discarding.run_discarding(_config(tmp_path, method="dash", J=4, max_epochs=3), m=2, dataset=digits)
    assert list(df["method_applied"]) == [False, True, False, True]
    assert df["test_accuracy"].between(0, 1).all() and (df["n_train"] == 359).all()


def test_non_finite_loss_keeps_finished_rounds(tmp_path, monkeypatch, digits):
    from dashsim.nn.methods import METHODS
    from dashsim.nn.train import NonFiniteLossError

    rounds = {"n": 0}
    real = engine.train_until_target

    def counting(*a, **kw):
        rounds["n"] += 1
        return real(*a, **kw)

    monkeypatch.setattr(METHODS["warm"], "penalty",
                        lambda self, learner: torch.tensor(float("nan") if rounds["n"] >= 2 else 0.0))
    monkeypatch.setattr(engine, "train_until_target", counting)
    with pytest.raises(NonFiniteLossError, match=r"round 2: the 1 finished rounds are kept"):
        online.run_passive_online(_config(tmp_path, method="warm"), k=50, rounds=3, dataset=digits)
    assert len(pd.read_csv(tmp_path / "run" / "metrics.csv")) == 1
