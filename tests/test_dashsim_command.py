"""The ``dashsim`` command's ergonomics: version, shared options anywhere, threads, announcements, refusals, help."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from dashsim import __version__, cli
from dashsim.nn import engine, train_cli

REPO = Path(__file__).resolve().parent.parent
TINY = ["train", "--data", "digits", "--model", "mlp", "--width", "16", "--device", "cpu", "--max-epochs", "3"]


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


def _exit_code(argv) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exc:
        return exc.code


def test_version_and_python_m_dashsim(capsys):
    assert _exit_code(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"dashsim {__version__}"
    done = subprocess.run([sys.executable, "-m", "dashsim", "--version"], capture_output=True, text=True,
                          timeout=120, env=_env(), cwd=REPO)
    assert done.returncode == 0 and done.stdout.strip() == f"dashsim {__version__}", done.stderr


@pytest.mark.parametrize("argv", [["-v", "simulate"], ["simulate", "-v"], ["-q", "train"], ["train", "-q"],
                                  ["--threads", "1", "train"], ["train", "--threads", "1"]])
def test_shared_options_go_before_or_after_the_sub_command(argv):
    args = cli.build_parser().parse_args(argv)
    flag = argv[0] if argv[0].startswith("-") else argv[1]
    expected = {"-v": ("verbose", 1), "-q": ("quiet", 1), "--threads": ("threads", 1)}[flag]
    assert getattr(args, expected[0]) == expected[1]
    # One before and one after: both stand (the sub-command's absent option does not reset the top one).
    both = cli.build_parser().parse_args(["-q", "train", "-v"])
    assert (both.quiet, both.verbose) == (1, 1)


def test_threads_default_to_one_and_are_restored_after_the_command(tmp_path, capsys, monkeypatch):
    seen = []
    real = engine.run

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "run", spy)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        for extra, expected in (([], 1), (["--threads", "2"], 2)):
            code = cli.main([*TINY, "--J", "2", "--out", str(tmp_path / f"run{expected}"), "--no-progress", *extra])
            assert code == 0 and seen[-1] == expected
            assert torch.get_num_threads() == 2  # the caller's setting is back
    finally:
        torch.set_num_threads(before)
    assert _exit_code(["--threads", "0", "simulate"]) == 2
    assert "argument --threads: must be an integer >= 1, got '0'" in capsys.readouterr().err


def test_an_impossible_combination_is_a_usage_error_before_any_folder(tmp_path, capsys):
    # ResNet-18 on scikit-learn's 8x8 digits.
    assert _exit_code([*TINY[:4], "resnet18", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "model 'resnet18' needs square images" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_resume_is_announced_and_logs_get_plain_progress_lines(tmp_path, monkeypatch):
    out = tmp_path / "run"
    argv = [*TINY, "--J", "3", "--out", str(out)]
    real, calls = engine.train_until_target, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second round: the first one is saved
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "train_until_target", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cli.main([*argv, "--no-progress"])
    assert len(pd.read_csv(out / "metrics.csv")) == 1
    # Resumed by the console command, its stderr a pipe (a log file, CI): announced without -v, plain lines.
    done = subprocess.run([sys.executable, "-m", "dashsim", *argv], capture_output=True, text=True, timeout=300,
                          env=_env(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"resuming {out} after seed 0 round 1 of 3" in done.stderr
    assert re.search(r"^incremental: 3/3 round \[", done.stderr, flags=re.M), done.stderr
    assert "\r" not in done.stderr and "\x1b" not in done.stderr
    assert len(pd.read_csv(out / "metrics.csv")) == 3
    again = subprocess.run([sys.executable, "-m", "dashsim", "-q", *argv], capture_output=True, text=True,
                           timeout=300, env=_env(), cwd=tmp_path)
    assert again.returncode == 0 and again.stderr == "" and f"run folder: {out}" in again.stdout


def _fake_fashion_mnist():
    from dashsim.nn.data import ImageDataset

    x = torch.zeros(60000, 1, 28, 28, dtype=torch.uint8)
    y = torch.arange(60000) % 10
    return ImageDataset.from_tensors(x, y, x[:100], y[:100], name="fashion-mnist")


def test_train_without_arguments_says_what_and_how_long_and_asks_for_yes(tmp_path, monkeypatch, capsys, caplog):
    from dashsim.nn import data

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(data, "load_dataset", lambda name, root=None: _fake_fashion_mnist())
    # ResNet-18 on one CPU thread trains about 280 images/s (README, benchmarks/training.py).
    monkeypatch.setattr(train_cli, "images_per_s", lambda spec, data, device: 280.0)
    caplog.set_level("INFO", logger="dashsim")
    assert _exit_code(["train", "--device", "cpu"]) == 2
    said = caplog.text
    assert ("protocol incremental, data fashion-mnist (60,000 training images), model resnet18, method dash "
            "(alpha=0.3, lam=0.3") in said and "50 round(s) x 1 unit(s), up to 100 epochs a round" in said
    one = 50 * 60000 / 280.0  # one epoch a round over all the data
    assert f"{one / 3600:.1f} h at one epoch a round" in said
    assert f"{100 * one / 86400:.1f} days if every round runs to the 100-epoch cap" in said
    err = capsys.readouterr().err
    assert "Pass --yes to start it, or choose a smaller setting" in err
    assert not (tmp_path / "runs").exists()


def test_the_estimate_counts_the_subset_not_the_whole_training_set(tmp_path, monkeypatch, capsys, caplog):
    from dashsim.nn import data

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(data, "load_dataset", lambda name, root=None: _fake_fashion_mnist())
    monkeypatch.setattr(train_cli, "images_per_s", lambda spec, data, device: 280.0)
    caplog.set_level("INFO", logger="dashsim")
    assert _exit_code(["train", "--device", "cpu", "--subset", "5120", "--J", "10", "--max-epochs", "500"]) == 2
    said = caplog.text
    assert "data fashion-mnist (5,120 training images)" in said
    one = 10 * 5120 / 280.0  # one epoch a round over the subset
    assert f"{one / 60:.1f} min at one epoch a round" in said
    assert f"{500 * one / 86400:.1f} days if every round runs to the 500-epoch cap" in said
    assert not (tmp_path / "runs").exists()


def test_yes_starts_a_long_cpu_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train_cli, "images_per_s", lambda spec, data, device: 0.1)  # a very slow machine
    argv = [*TINY, "--J", "2", "--out", str(tmp_path / "run"), "--no-progress"]
    assert _exit_code(argv) == 2 and "--yes" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    assert _exit_code([*argv, "--yes"]) == 0 and (tmp_path / "run" / "metrics.csv").exists()


@pytest.mark.parametrize("optimizer", ["sgd", "sam"])
def test_the_measured_rate_is_positive_and_leaves_the_random_state_alone(optimizer):
    from dashsim.nn.engine import resolve
    from dashsim.nn.train import TrainConfig, prepare_data

    spec = resolve(TrainConfig(data="digits", model="mlp", width=16, device="cpu", optimizer=optimizer))
    data = prepare_data(spec.config, spec.dataset, torch.device("cpu"))
    state = torch.random.get_rng_state()
    rate = train_cli.images_per_s(spec, data, torch.device("cpu"))
    assert 0 < rate < float("inf") and torch.equal(state, torch.random.get_rng_state())
    one, cap = train_cli.estimate_seconds(100.0, units=2, rounds=5, n_train=1000, max_epochs=30)
    assert (one, cap) == (100.0, 3000.0)


def test_tensorboard_logs_the_rows_and_its_absence_is_a_usage_error(tmp_path, monkeypatch, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    assert cli.main([*TINY, "--J", "3", "--seeds", "0", "1", "--out", str(out), "--no-progress", "--tensorboard"]) == 0
    rows = pd.read_csv(out / "metrics.csv")
    for seed in (0, 1):
        events = EventAccumulator(str(out / "tensorboard" / f"seed_{seed}")).Reload()
        logged = events.Scalars("test_accuracy")
        expected = rows[rows.seed == seed]
        assert [e.step for e in logged] == expected.experiment.tolist()
        assert [e.value for e in logged] == pytest.approx(expected.test_accuracy.tolist(), rel=1e-6)
        assert "steps" in events.Tags()["scalars"] and "seed" not in events.Tags()["scalars"]
    # Logging is not part of the run's identity: the same run without it resumes (here: is finished).
    assert cli.main([*TINY, "--J", "3", "--seeds", "0", "1", "--out", str(out), "--no-progress"]) == 0
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    assert _exit_code([*TINY, "--J", "2", "--out", str(tmp_path / "none"), "--no-progress", "--tensorboard"]) == 2
    assert "needs the tensorboard package: pip install tensorboard" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("command", ["simulate", "train"])
def test_help_is_plain_text_with_each_default_once(command, capsys):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    text = capsys.readouterr().out
    for raw in ("``", ":class:", ":func:", ":data:", ":mod:"):
        assert raw not in text
    entries = re.split(r"\n  (?=-)", text)  # one entry per option
    assert len(entries) > 10
    for entry in entries:
        assert entry.count("(default") <= 1, entry
    flat = " ".join(text.split())
    if command == "train":
        assert "--bf16, --no-bf16 bf16 autocast for forward/backward (default: off)" in flat
        assert "--normalize, --no-normalize standardize images by channel mean/std (default: all but the MLP" in flat
    else:
        assert "--legacy, --no-legacy reproduce the authors' NumPy data stream (default: on)" in flat
