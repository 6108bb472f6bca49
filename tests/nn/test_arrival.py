"""Continuous-arrival and class-incremental protocols on the digits with a tiny MLP."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import pandas as pd
import pytest
import torch

from dashsim.nn import data, engine
from dashsim.nn.engine import ROW_COLUMNS
from dashsim.nn.methods import Method
from dashsim.nn.protocols import class_incremental, continuous
from dashsim.nn.train import SettingsError, TrainConfig

TIMING = ["wall_time_s", "method_time_s"]


@pytest.fixture(scope="module")
def digits():
    return data.load_digits()


def _config(tmp_path, name="run", **kw):
    base = dict(data="digits", model="mlp", width=16, method="sp", seeds=(0,), max_epochs=6, device="cpu",
                out=str(tmp_path / name))
    base.update(kw)
    return TrainConfig(**base)


def _spy(monkeypatch):
    """A method recording every call's chunks (index sets and the batches it would see), and every training call."""
    calls, trained = [], []

    @dataclasses.dataclass(frozen=True)
    class Recorder(Method):
        name: ClassVar[str] = "recorder"

        def before_experiment(self, learner, chunks, *, generator):
            calls.append([(c.idx.clone(), [(xb.clone(), yb.clone()) for xb, yb in c]) for c in chunks])
            return learner

    real = engine.train_until_target

    def train(learner, method, x, y, indices, **kw):
        trained.append((indices.clone(), kw["config"].max_epochs))
        return real(learner, method, x, y, indices, **kw)

    monkeypatch.setattr(engine, "train_until_target", train)
    return Recorder(), calls, trained


def _split_run_equals_whole(tmp_path, monkeypatch, run, config_kw, n_first):
    """A run killed in training call ``n_first + 1`` and re-run gives the uninterrupted run's rows."""
    whole = run(_config(tmp_path, "whole", **config_kw))
    real, count = engine.train_until_target, {"n": 0}

    class Died(RuntimeError):
        pass

    def train(*a, **k):
        count["n"] += 1
        if count["n"] == n_first + 1:
            raise Died
        return real(*a, **k)

    monkeypatch.setattr(engine, "train_until_target", train)
    with pytest.raises(Died):
        run(_config(tmp_path, "split", **config_kw))
    monkeypatch.undo()
    assert len(pd.read_csv(tmp_path / "split" / "metrics.csv")) == n_first
    split = run(_config(tmp_path, "split", **config_kw))
    pd.testing.assert_frame_equal(split.drop(columns=TIMING), whole.drop(columns=TIMING))
    return whole


def test_continuous_schedule_hand_values():
    assert continuous.continuous_schedule(500, 500, 50) == [51, 101, 151, 201, 251, 301, 351, 401, 451]
    assert continuous.continuous_schedule(500, 500, 50, method_until=1000)[-1] == 951
    assert continuous.continuous_schedule(6, 3, 2) == [3, 5]
    assert continuous.continuous_schedule(4, 0, 5) == []


def test_continuous_data_growth_method_chunks_and_unaugmented_gradient_data(tmp_path, monkeypatch, digits):
    recorder, calls, trained = _spy(monkeypatch)
    A, F, m, n = 6, 2, 2, 40
    cfg = _config(tmp_path, augment=True, crop_padding=2, normalize=True)
    df = continuous.run_continuous(cfg, new_per_epoch=n, arrival_epochs=A, final_epochs=F, method_every=m,
                                   dataset=digits, method=recorder)
    perm, _ = engine.chunk_permutation(digits.x_train.shape[0], seed=0, J=A)
    assert list(df.columns) == list(ROW_COLUMNS) and (df["protocol"] == "continuous").all()
    assert (df["method"] == "recorder").all()
    assert list(df["experiment"]) == list(range(1, A + F + 1))
    assert list(df["n_train"]) == [min(t, A) * n for t in range(1, A + F + 1)]
    assert (df["epochs"] == 1).all() and list(df["steps"]) == [-(-min(t, A) * n // 128) for t in range(1, A + F + 1)]
    assert list(df["method_applied"]) == [t in (3, 5) for t in range(1, A + F + 1)]
    for t, (idx, max_epochs) in enumerate(trained, start=1):
        assert max_epochs == 1 and torch.equal(idx, perm[: min(t, A) * n])
    x, y = digits.as_float("train", normalize=True)
    # Before epoch 3: one block of the 2 epochs' arrivals; before epoch 5: two blocks.
    for call, blocks in zip(calls, ([(0, 2 * n)], [(0, 2 * n), (2 * n, 4 * n)])):
        assert [c[0].tolist() for c in call] == [perm[lo:hi].tolist() for lo, hi in blocks]
        for idx, batches in call:  # the method sees the stored images, never augmented ones
            assert torch.equal(torch.cat([b[0] for b in batches]), x[idx])
            assert torch.equal(torch.cat([b[1] for b in batches]), y[idx])


def test_continuous_method_until_covers_final_phase(tmp_path, monkeypatch, digits):
    recorder, calls, _ = _spy(monkeypatch)
    df = continuous.run_continuous(_config(tmp_path), new_per_epoch=30, arrival_epochs=3, final_epochs=4,
                                   method_every=2, method_until=7, dataset=digits, method=recorder)
    assert list(df["method_applied"]) == [t in (3, 5, 7) for t in range(1, 8)]
    # After the arrivals end the blocks stop growing: [0, 2n), [2n, 3n).
    assert [len(c) for c in calls] == [1, 2, 2] and [c[0].numel() for c in calls[2]] == [60, 30]


def test_continuous_resume_is_exact_with_augmentation(tmp_path, monkeypatch, digits):
    def run(cfg):
        return continuous.run_continuous(cfg, new_per_epoch=50, arrival_epochs=3, final_epochs=2, method_every=2,
                                         dataset=digits)

    whole = _split_run_equals_whole(tmp_path, monkeypatch, run, dict(method="dash", augment=True, crop_padding=1),
                                    n_first=3)
    assert whole["test_accuracy"].between(0, 1).all() and whole["method_applied"].sum() == 1


def test_continuous_input_validation(tmp_path, digits):
    cfg = _config(tmp_path)
    with pytest.raises(SettingsError, match="arrival_epochs must be an integer >= 1"):
        continuous.run_continuous(cfg, arrival_epochs=0, dataset=digits)
    with pytest.raises(SettingsError, match="final_epochs must be an integer >= 0"):
        continuous.run_continuous(cfg, final_epochs=-1, dataset=digits)
    with pytest.raises(SettingsError, match="method_every must be an integer >= 1"):
        continuous.run_continuous(cfg, method_every=0, dataset=digits)
    with pytest.raises(SettingsError, match=r"new_per_epoch must be at most 287 \(= training samples // arrival_ep"):
        continuous.run_continuous(cfg, new_per_epoch=288, arrival_epochs=5, dataset=digits)
    with pytest.raises(SettingsError, match="lr_milestones and warmup_epochs must be unset"):
        continuous.run_continuous(dataclasses.replace(cfg, warmup_epochs=1), arrival_epochs=2, dataset=digits)
    assert not (tmp_path / "run").exists()  # every settings error comes before the run folder


def test_class_order_is_a_seeded_permutation():
    a, b = class_incremental.class_order(10, seed=0), class_incremental.class_order(10, seed=1)
    assert sorted(a.tolist()) == list(range(10)) and sorted(b.tolist()) == list(range(10))
    assert torch.equal(a, class_incremental.class_order(10, seed=0)) and not torch.equal(a, b)


def test_class_incremental_data_chunks_and_seen_class_scoring(tmp_path, monkeypatch, digits):
    recorder, calls, trained = _spy(monkeypatch)
    scored = []
    real_eval = engine.evaluate

    def evaluate(model, x, y, **kw):
        scored.append(set(y.tolist()))
        return real_eval(model, x, y, **kw)

    monkeypatch.setattr(engine, "evaluate", evaluate)
    R = 4
    df = class_incremental.run_class_incremental(_config(tmp_path, seeds=(0, 3), subset=600), n_classes=R,
                                                 dataset=digits, method=recorder)
    assert list(df.columns) == list(ROW_COLUMNS) and (df["protocol"] == "class-incremental").all()
    assert len(df) == 2 * R and list(df["method_applied"]) == [False, True, True, True] * 2
    y_train = digits.y_train
    for s, seed in enumerate((0, 3)):
        order = class_incremental.class_order(10, seed=seed).tolist()
        perm, _ = engine.chunk_permutation(y_train.numel(), seed=seed, J=1, subset=600)
        for r in range(1, R + 1):
            idx, _ = trained[s * R + r - 1]
            want = [i for i in perm.tolist() if int(y_train[i]) in order[:r]]
            assert idx.tolist() == want  # every seen class kept, in permutation order
            assert df["n_train"].iloc[s * R + r - 1] == len(want)
            assert scored[s * R + r - 1] == set(order[:r])  # scored on the seen classes only
        for r, call in enumerate(calls[s * (R - 1) : (s + 1) * (R - 1)], start=2):
            # One chunk per class, oldest first.
            assert [set(y_train[c[0]].tolist()) for c in call] == [{c} for c in order[:r]]


def test_class_incremental_resume_and_validation(tmp_path, monkeypatch, digits):
    def run(cfg):
        return class_incremental.run_class_incremental(cfg, n_classes=3, dataset=digits)

    whole = _split_run_equals_whole(tmp_path, monkeypatch, run, dict(method="dash", subset=300, max_epochs=4),
                                    n_first=2)
    assert whole["test_accuracy"].between(0, 1).all()
    with pytest.raises(SettingsError, match="n_classes must be an integer >= 2"):
        class_incremental.run_class_incremental(_config(tmp_path), n_classes=1, dataset=digits)
    with pytest.raises(SettingsError, match="n_classes must be at most the data's 10 classes"):
        class_incremental.run_class_incremental(_config(tmp_path), n_classes=11, dataset=digits)
    with pytest.raises(SettingsError, match="have no training sample in the subset of 3"):
        class_incremental.run_class_incremental(_config(tmp_path, "tiny", subset=3), dataset=digits)


def test_class_incremental_settings_error_comes_before_the_run_folder(tmp_path, digits):
    with pytest.raises(SettingsError, match="have no training sample in the subset of 3"):
        class_incremental.run_class_incremental(_config(tmp_path, "tiny", subset=3), dataset=digits)
    assert not (tmp_path / "tiny").exists()
