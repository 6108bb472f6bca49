"""Figure 13's protocol (previous-data): the accuracy on the old data after new data arrive, and its bookkeeping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from dashsim.nn import TrainConfig, load_dataset, previous_data_curves, run_previous_data
from dashsim.nn.protocols.previous_data import PREVIOUS_COLUMNS, batch_stats_accuracy
from dashsim.nn.train import SettingsError


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _config(tmp_path, name, **fields):
    base = dict(data="digits", model="mlp", width=16, J=3, subset=150, max_epochs=5, batch_size=32, device="cpu")
    return TrainConfig(**{**base, **fields}, out=str(tmp_path / name))


def test_previous_data_bookkeeping(tmp_path, digits):
    methods = ["warm", "shrink", "dash"]
    pretrained = {}

    def keep_pretrained(learner, context):
        if context.j == 1:  # after training on the old data T_1..T_{J-1}
            pretrained["state"] = {k: v.clone() for k, v in learner.model.state_dict().items()}
            pretrained["x"], pretrained["y"] = context.x, context.y
            pretrained["old"] = context.train_indices.clone()
        return {}

    frames = [run_previous_data(_config(tmp_path, m), epochs=2, dataset=digits, method=m, probe_after=keep_pretrained)
              for m in methods]
    rows = previous_data_curves(pd.concat(frames, ignore_index=True))
    assert list(rows.columns) == list(PREVIOUS_COLUMNS)
    assert rows.method.tolist() == [m for m in methods for _ in range(3)] and rows.epoch.tolist() == [0, 1, 2] * 3
    assert (rows.n_previous == 100).all()  # old data = 2 of 3 chunks of 50
    assert rows.steps.tolist() == [0, 5, 10] * 3  # ceil(150 / 32) = 5 steps per epoch on all data
    assert (frames[0].experiment == 1).sum() == 1 and int(frames[0].n_train.iloc[0]) == 100
    # Epoch 0 of warm is the pretrained model itself: its accuracy on the old data, recomputed in NumPy.
    from dashsim.nn.models import build_model

    model = build_model("mlp", num_classes=10, in_channels=1, image_size=8, width=16)
    model.load_state_dict(pretrained["state"])
    old = pretrained["old"].numpy()
    x, y = pretrained["x"], pretrained["y"]
    warm = rows[rows.method == "warm"]
    for column, training in (("previous_accuracy", False), ("previous_accuracy_batch_stats", True)):
        model.train(training)
        with torch.no_grad():
            logits = model(x[torch.from_numpy(old)]).numpy()  # batch statistics of the old data only
        expected = np.mean(logits.argmax(axis=1) == y.numpy()[old])
        assert warm[column].iloc[0] == pytest.approx(expected, abs=1e-12), column
    # Shrinking by lam changes the old-data accuracy at once; every value is a count over 100 images.
    assert rows.previous_accuracy.iloc[3] != rows.previous_accuracy.iloc[0]
    np.testing.assert_allclose(rows.previous_accuracy * 100, np.round(rows.previous_accuracy * 100), atol=1e-9)
    # The batch-statistics measurement must not move the running statistics the eval-mode numbers use.
    model.eval()
    running = {k: v.clone() for k, v in model.state_dict().items()}
    batch_stats_accuracy(model, x, y)
    assert not model.training and all(torch.equal(v, model.state_dict()[k]) for k, v in running.items())
    # A record does not depend on how many epochs follow: one epoch gives the first two rows of each method.
    short = pd.concat([run_previous_data(_config(tmp_path, f"short_{m}"), epochs=1, dataset=digits, method=m)
                       for m in methods], ignore_index=True)
    pd.testing.assert_frame_equal(previous_data_curves(short), rows[rows.epoch <= 1].reset_index(drop=True))


def test_previous_data_settings_are_checked_before_any_folder(tmp_path, digits):
    with pytest.raises(SettingsError, match="epochs must be an integer >= 1"):
        run_previous_data(_config(tmp_path, "a"), epochs=0, dataset=digits)
    with pytest.raises(SettingsError, match="J must be >= 2"):
        run_previous_data(_config(tmp_path, "b", J=1), dataset=digits)
    with pytest.raises(SettingsError, match="lr_milestones and warmup_epochs must be unset"):
        run_previous_data(_config(tmp_path, "c", warmup_epochs=1), dataset=digits)
    assert not any(tmp_path.iterdir())
