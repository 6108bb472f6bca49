"""Fault tests of run folders: every corrupt file a resume reads is a named error or is repaired; the lock
keeps concurrent writers apart; temporary files a killed writer left are cleaned."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from dashsim import cli, runs
from dashsim.errors import DashsimError, RunFolderCorruptError
from dashsim.nn import ImageDataset, TrainConfig, run_incremental

REPO = Path(__file__).resolve().parents[2]


def _vectors() -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 4, generator=g)
    y = (x[:, 0] > 0).long()
    return ImageDataset.from_tensors(x[:40], y[:40], x[40:], y[40:], name="vectors")


def _net() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 2))


def _run(out: Path, **changes):
    config = TrainConfig(data="vectors", model="linear", method="warm", J=2, max_epochs=1, device="cpu",
                         seeds=(0, 1), out=str(out), **changes)
    return run_incremental(config, dataset=_vectors(), model=_net)


def _strip(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["wall_time_s", "method_time_s"])


@pytest.fixture
def finished(tmp_path):
    out = tmp_path / "run"
    return out, _run(out)


CORRUPTIONS = {
    "empty": b"",
    "truncated": None,  # the first half of the real file
    "random": bytes(range(256)) * 4,
    "wrong type": b"[1, 2, 3]\n",
}


def _corrupt(path: Path, kind: str) -> None:
    payload = CORRUPTIONS[kind]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2] if payload is None else payload)


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
@pytest.mark.parametrize("name", ["config.json", "environment.json", "checkpoint.pt"])
def test_a_corrupt_file_is_a_named_error(finished, name, kind):
    out, _ = finished
    _corrupt(out / name, kind)
    if name == "environment.json":  # read only by a resume that trains: drop the last round
        _drop_last_round(out)
    with pytest.raises(RunFolderCorruptError) as info:
        _run(out)
    assert str(out / name) in str(info.value) and ("delete" in str(info.value) or "restore" in str(info.value))


def _drop_last_round(out: Path) -> None:
    """Make the finished run look interrupted after its third of four rounds (a checkpoint one round older)."""
    payload = torch.load(out / "checkpoint.pt", weights_only=False)
    payload["state"]["round"] = 1
    payload["metrics_rows"] = payload["metrics_rows"][:3]
    torch.save(payload, out / "checkpoint.pt")


def test_a_corrupt_metrics_file_is_rewritten_from_the_checkpoint(finished, caplog):
    out, first = finished
    text = (out / "metrics.csv").read_text()
    for broken in ("", text[: len(text) // 2], text.replace(",1,", ",7,", 1), "garbage\x00\xff"):
        (out / "metrics.csv").write_text(broken)
        with caplog.at_level(logging.WARNING, logger="dashsim"):
            again = _run(out)
        pd.testing.assert_frame_equal(_strip(again), _strip(first))
        assert (out / "metrics.csv").read_text() == text
    assert any("rewritten from the checkpoint" in r.message for r in caplog.records)


def test_an_edited_value_in_metrics_is_noticed(finished, caplog):
    out, first = finished
    frame = pd.read_csv(out / "metrics.csv")
    frame.loc[0, "test_accuracy"] = 0.123456
    frame.to_csv(out / "metrics.csv", index=False)
    with caplog.at_level(logging.WARNING, logger="dashsim"):
        again = _run(out)
    assert "differs from the 4 rows" in caplog.text
    assert pd.read_csv(out / "metrics.csv")["test_accuracy"].tolist() == first["test_accuracy"].tolist()
    assert again["test_accuracy"].iloc[0] != 0.123456


@pytest.mark.parametrize("change, message", [
    ({"unit": 99}, "claims unit 99"), ({"round": 99}, "rounds 1..2"), ({"round": 0}, "rounds 1..2"),
    ({"seed": 5}, "claims seed 5"), ({"unit": "1"}, "claims unit '1'"),
])
def test_a_checkpoint_outside_the_run_is_refused(finished, change, message):
    out, _ = finished
    payload = torch.load(out / "checkpoint.pt", weights_only=False)
    payload["state"].update(change)
    torch.save(payload, out / "checkpoint.pt")
    with pytest.raises(RunFolderCorruptError, match=message):
        _run(out)


def test_a_checkpoint_with_wrong_rows_or_weights_is_refused(finished):
    out, _ = finished
    good = torch.load(out / "checkpoint.pt", weights_only=False)
    payload = {**good, "metrics_rows": good["metrics_rows"][:2]}
    torch.save(payload, out / "checkpoint.pt")
    with pytest.raises(RunFolderCorruptError, match="holds 2 rows"):
        _run(out)
    payload = torch.load(out / "checkpoint.pt", weights_only=False)
    # An interrupted run whose saved model does not fit the network.
    payload = {**good, "state": {**good["state"], "round": 1}, "metrics_rows": good["metrics_rows"][:3]}
    payload["state"]["learner"] = {**good["state"]["learner"], "model": {"0.weight": torch.zeros(3, 3)}}
    torch.save(payload, out / "checkpoint.pt")
    with pytest.raises(RunFolderCorruptError, match="does not fit this run's model"):
        _run(out)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_checkpoint_never_runs_code(finished, monkeypatch):
    out, _ = finished
    monkeypatch.chdir(out)
    payload = torch.load(out / "checkpoint.pt", weights_only=False)
    payload["evil"] = _Evil()
    torch.save(payload, out / "checkpoint.pt")
    with pytest.raises(RunFolderCorruptError, match="not a readable checkpoint"):
        _run(out)
    assert not (out / "pwned").exists()


def test_temporary_files_of_a_killed_writer_are_removed(finished):
    out, first = finished
    stale = [out / ".metrics.csv.tmp12345", out / ".checkpoint.pt.tmp999"]
    for path in stale:
        path.write_bytes(b"half written")
    again = _run(out)
    assert not any(path.exists() for path in stale)
    pd.testing.assert_frame_equal(_strip(again), _strip(first))


def test_resuming_under_another_thread_count_warns(tmp_path, caplog):
    out = tmp_path / "run"
    before = torch.get_num_threads()
    _run(out)
    _drop_last_round(out)
    env = json.loads((out / "environment.json").read_text())
    env["torch_threads"] = before + 3
    (out / "environment.json").write_text(json.dumps(env))
    with caplog.at_level(logging.WARNING, logger="dashsim"):
        _run(out)
    assert f"resuming with {before} torch threads, the run started with {before + 3}" in caplog.text
    env = json.loads((out / "environment.json").read_text())
    assert env["resumes"][-1]["torch_threads"] == before


_TRAIN = [sys.executable, "-m", "dashsim", "train", "--data", "digits", "--model", "mlp", "--width", "8", "--J", "2",
          "--subset", "60", "--max-epochs", "2", "--device", "cpu", "--no-progress", "--seeds", "0", "1", "2"]


def test_two_writers_on_one_folder_never_mix(tmp_path):
    """Two `dashsim train` with different --lr and the same --out, started together: one runs, the other is refused."""
    out = tmp_path / "shared"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    procs = {lr: subprocess.Popen([*_TRAIN, "--lr", lr, "--out", str(out)], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for lr in ("0.05", "0.01")}
    results = {lr: (p.wait(timeout=240), p.stderr.read()) for lr, p in procs.items()}
    for p in procs.values():
        p.stdout.close()
        p.stderr.close()
    winners = [lr for lr, (code, _) in results.items() if code == 0]
    assert len(winners) == 1, results
    (loser_code, loser_err), = [v for lr, v in results.items() if lr not in winners]
    assert loser_code == 1 and ("in use by another process" in loser_err or "different configuration" in loser_err)
    assert json.loads((out / "config.json").read_text())["lr"] == float(winners[0])
    # The folder holds exactly the winner's run: re-running the winner (in this process) finds it finished and equal.
    rows = pd.read_csv(out / "metrics.csv")
    assert cli.main([*_TRAIN[3:], "--lr", winners[0], "--out", str(out)]) == 0
    assert pd.read_csv(out / "metrics.csv").equals(rows) and len(rows) == 6
    assert json.loads((out / "environment.json").read_text())["resumes"] == []  # nothing was trained twice


def test_every_run_folder_error_is_a_dashsim_error():
    for cls in (runs.ConfigMismatchError, runs.RunFolderBusyError, RunFolderCorruptError):
        assert issubclass(cls, DashsimError)
    assert issubclass(RunFolderCorruptError, ValueError) and issubclass(runs.RunFolderBusyError, RuntimeError)
