"""Run folders: config guard, atomic metrics/checkpoints, environment, RNG state round trips."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from dashsim import runs


def _rows(n):
    return [{"seed": 0, "experiment": j, "test_accuracy": 0.5 + j / 100} for j in range(1, n + 1)]


def test_new_folder_writes_config_and_reopens(tmp_path):
    folder = runs.RunFolder(tmp_path / "r", {"lr": 0.01, "seeds": (0, 1)})
    assert folder.is_new
    assert json.loads((tmp_path / "r" / "config.json").read_text()) == {"lr": 0.01, "seeds": [0, 1]}
    folder.close()  # the lock is held until then (tests/nn/test_engine.py tests the lock itself)
    with runs.RunFolder(tmp_path / "r", {"lr": 0.01, "seeds": (0, 1)}) as again:
        assert not again.is_new and again.resume_state() is None


def test_config_mismatch_names_fields(tmp_path):
    runs.RunFolder(tmp_path, {"lr": 0.01, "J": 50}).close()
    with pytest.raises(runs.ConfigMismatchError, match=r"lr: folder has 0\.01, this run has 0\.1") as info:
        runs.RunFolder(tmp_path, {"lr": 0.1, "J": 50})
    assert "J" not in str(info.value).split("(")[1].split(";")[0].split(":")[0]


def test_checkpoint_and_metrics_roundtrip(tmp_path):
    folder = runs.RunFolder(tmp_path, {"a": 1})
    state = {"experiment": 3, "weights": torch.arange(5.0)}
    folder.save_checkpoint(state, _rows(3))
    df = folder.read_metrics()
    assert list(df["experiment"]) == [1, 2, 3]
    assert df["test_accuracy"].tolist() == pytest.approx([0.51, 0.52, 0.53])
    folder.close()
    with runs.RunFolder(tmp_path, {"a": 1}) as reopened:
        loaded, rows = reopened.resume_state()
    assert loaded["experiment"] == 3 and torch.equal(loaded["weights"], torch.arange(5.0))
    assert rows == _rows(3)
    assert not list(tmp_path.glob(".*tmp*")), "temporary files must not be left behind"


def test_resume_repairs_csv_behind_checkpoint(tmp_path):
    # Simulates a kill after the checkpoint was replaced but before metrics.csv was.
    folder = runs.RunFolder(tmp_path, {"a": 1})
    folder.save_checkpoint({"experiment": 2}, _rows(2))
    folder.write_metrics(_rows(1))
    state, rows = folder.resume_state()
    assert state["experiment"] == 2
    assert len(folder.read_metrics_rows()) == 2


def test_write_metrics_rejects_ragged_rows(tmp_path):
    folder = runs.RunFolder(tmp_path, {})
    with pytest.raises(ValueError, match="same fields"):
        folder.write_metrics([{"a": 1}, {"b": 2}])


def test_environment_records_versions_and_resumes(tmp_path):
    folder = runs.RunFolder(tmp_path, {})
    env = folder.write_environment(device="cpu", seeds=[0, 2])
    assert env["torch"] == torch.__version__ and env["numpy"] == np.__version__ and env["seeds"] == [0, 2]
    assert "commit" in env["git"] and env["start_time"]
    env2 = folder.write_environment(device="cpu", seeds=[0, 2])
    assert len(env2["resumes"]) == 1 and env2["start_time"] == env["start_time"]


def test_rng_state_roundtrip():
    gen = torch.Generator().manual_seed(5)
    npgen = np.random.default_rng(7)
    state = runs.capture_rng_state({"shuffle": gen, "np": npgen})
    first = (random.random(), np.random.rand(), torch.rand(3), torch.randperm(10, generator=gen),
             npgen.integers(100, size=4))
    runs.restore_rng_state(state, {"shuffle": gen, "np": npgen})
    second = (random.random(), np.random.rand(), torch.rand(3), torch.randperm(10, generator=gen),
              npgen.integers(100, size=4))
    assert first[0] == second[0] and first[1] == second[1]
    for a, b in zip(first[2:], second[2:]):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(TypeError, match="generators"):
        runs.capture_rng_state({"bad": 3})


def test_settings_added_later_take_their_defaults_in_older_folders(tmp_path):
    with runs.RunFolder(tmp_path / "r", {"lr": 0.01}):
        pass  # a folder written before the setting "fast" existed
    with runs.RunFolder(tmp_path / "r", {"lr": 0.01, "fast": False}, added_defaults={"fast": False}) as folder:
        assert not folder.is_new
    with pytest.raises(runs.ConfigMismatchError, match="fast: folder has False, this run has True"):
        runs.RunFolder(tmp_path / "r", {"lr": 0.01, "fast": True}, added_defaults={"fast": False})
    with pytest.raises(runs.ConfigMismatchError, match="fast: folder has '<missing>'"):
        runs.RunFolder(tmp_path / "r", {"lr": 0.01, "fast": False})  # without the declared default: refused


def test_an_engine_run_survives_a_training_setting_added_later(tmp_path):
    import json

    from dashsim.nn import TrainConfig, load_dataset, run_incremental

    config = TrainConfig(data="digits", model="mlp", width=8, method="warm", J=2, subset=40, max_epochs=1,
                         device="cpu", out=str(tmp_path / "run"))
    first = run_incremental(config, dataset=load_dataset("digits"))
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    del stored["bf16"]  # as if the folder came from a version without that setting (default False)
    (tmp_path / "run" / "config.json").write_text(json.dumps(stored))
    again = run_incremental(config, dataset=load_dataset("digits"))
    timings = ["wall_time_s", "method_time_s"]
    assert again.drop(columns=timings).equals(first.drop(columns=timings))
    import dataclasses

    with pytest.raises(runs.ConfigMismatchError, match="bf16"):
        run_incremental(dataclasses.replace(config, bf16=True), dataset=load_dataset("digits"))
