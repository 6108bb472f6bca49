"""``dashsim train``: flags derived from TrainConfig, bad values rejected with choices, a tiny real run."""

from __future__ import annotations

import argparse
import dataclasses

import pandas as pd
import pytest

from dashsim.nn import train_cli
from dashsim.nn.train import TrainConfig


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dashsim")
    train_cli.register(parser.add_subparsers(dest="command"))
    return parser


def test_every_config_field_is_a_flag_with_its_default():
    args = _parser().parse_args(["train"])
    for field in dataclasses.fields(TrainConfig):
        assert hasattr(args, field.name), field.name
        assert getattr(args, field.name) == field.default or (isinstance(field.default, tuple) and tuple(getattr(args, field.name)) == field.default)


def test_issue_example_parses():
    args = _parser().parse_args("train --data fashion-mnist --model resnet18 --method dash --seeds 0 1 2".split())
    assert (args.data, args.model, args.method, args.seeds) == ("fashion-mnist", "resnet18", "dash", [0, 1, 2])


@pytest.mark.parametrize("argv,needle", [
    (["train", "--method", "magic"], "choose from 'cold', 'warm'"),
    (["train", "--model", "resnet50"], "choose from 'mlp'"),
    (["train", "--data", "mnist"], "choose from 'fashion-mnist'"),
    (["train", "--optimizer", "rmsprop"], "choose from 'sgd', 'adam', 'sam'"),
])
def test_unknown_choice_rejected_with_list(argv, needle, capsys):
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(argv)
    assert info.value.code == 2 and needle in capsys.readouterr().err


def test_bad_method_args_is_usage_error(capsys):
    args = _parser().parse_args(["train", "--method", "sp", "--method-args", "alpha=0.1"])
    with pytest.raises(SystemExit) as info:
        args.func(args)
    assert info.value.code == 2 and "allowed: ['lam', 'sigma']" in capsys.readouterr().err


def test_tiny_run_writes_folder_and_summary(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--data", "digits", "--model", "mlp", "--width", "16", "--method", "warm", "--J", "2", "--max-epochs", "3",
            "--device", "cpu", "--out", str(out), "--no-progress"]
    args = _parser().parse_args(argv)
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "final_test_accuracy_mean" in printed and str(out) in printed
    assert len(pd.read_csv(out / "metrics.csv")) == 2
    # Same folder, other settings: a clear error, exit code 1.
    args = _parser().parse_args(argv[:-3] + ["--lr", "0.5", "--out", str(out), "--no-progress"])
    assert args.func(args) == 1
    assert "holds a different configuration" in capsys.readouterr().err


# --- every protocol through the CLI, presets, protocol-specific flags ------------------------------

TINY = ["--data", "digits", "--model", "mlp", "--width", "16", "--method", "dash", "--device", "cpu", "--no-progress", "--max-epochs", "3"]


@pytest.mark.parametrize("protocol,flags,n_rows", [
    ("incremental", ["--J", "2", "--subset", "200"], 2),
    ("two-phase", ["--pretrain-epochs", "0", "1", "--subset", "200"], 2),
    ("passive-online", ["--k", "60", "--rounds", "2"], 2),
    ("active-online", ["--k", "60", "--rounds", "2"], 2),
    ("discarding", ["--J", "3", "--m", "2", "--stop-after", "3", "--subset", "300"], 3),
    ("continuous", ["--arrival-epochs", "2", "--final-epochs", "1", "--method-every", "1", "--new-per-epoch", "50"], 3),
    ("class-incremental", ["--n-classes", "2", "--subset", "200"], 2),
])
def test_every_protocol_runs_through_the_cli(tmp_path, capsys, protocol, flags, n_rows):
    out = tmp_path / protocol
    args = _parser().parse_args(["train", "--protocol", protocol, *TINY, *flags, "--out", str(out)])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert f"protocol: {protocol}" in printed and f"run folder: {out}" in printed
    metrics = pd.read_csv(out / "metrics.csv")
    assert len(metrics) == n_rows and metrics["test_accuracy"].between(0, 1).all()
    # Re-running the finished command resumes: nothing left to train, same rows.
    args = _parser().parse_args(["train", "--protocol", protocol, *TINY, *flags, "--out", str(out)])
    assert args.func(args) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "metrics.csv"), metrics)


def test_unknown_protocol_rejected_with_list(capsys):
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(["train", "--protocol", "streaming"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "choose from 'incremental', 'two-phase', 'passive-online'" in err and "'class-incremental'" in err


@pytest.mark.parametrize("argv,needle", [
    (["--k", "5"], "--k is only used by --protocol passive-online / active-online, not incremental"),
    (["--protocol", "continuous", "--m", "3"], "--m is only used by --protocol discarding, not continuous"),
    (["--protocol", "passive-online", "--data", "digits", "--k", "5000", "--device", "cpu"], "k must be at most the 1438 training images"),
])
def test_protocol_settings_errors_are_usage_errors(argv, needle, capsys, tmp_path):
    args = _parser().parse_args(["train", *argv, "--out", str(tmp_path / "x"), "--no-progress"])
    with pytest.raises(SystemExit) as info:
        args.func(args)
    assert info.value.code == 2 and needle in capsys.readouterr().err


def test_errors_during_training_propagate_and_a_missing_data_root_is_a_usage_error(tmp_path, monkeypatch, capsys):
    from dashsim.nn import protocols

    def broken(*args, **kwargs):
        raise ValueError("a bug inside the training loop")

    monkeypatch.setattr(protocols, "train_until_target", broken)
    args = _parser().parse_args(["train", *TINY, "--J", "2", "--subset", "100", "--out", str(tmp_path / "a")])
    with pytest.raises(ValueError, match="a bug inside the training loop"):
        args.func(args)
    args = _parser().parse_args(["train", "--data", "cifar10", "--out", str(tmp_path / "b"), "--no-progress"])
    with pytest.raises(SystemExit) as info:
        args.func(args)
    assert info.value.code == 2 and "has no default location" in capsys.readouterr().err


def test_protocol_defaults_are_the_functions_defaults():
    import inspect

    from dashsim.nn import arrival, online

    p = train_cli.ProtocolConfig()
    cont = inspect.signature(arrival.run_continuous).parameters
    assert (p.arrival_epochs, p.final_epochs, p.method_every) == (cont["arrival_epochs"].default, cont["final_epochs"].default, cont["method_every"].default) == (500, 500, 50)
    assert p.stop_after == inspect.signature(online.run_discarding).parameters["stop_after"].default == 40
    assert p.online_target == online.ASH_ADAMS_TARGET


def test_sota_preset_flag_and_explicit_flags_win():
    from dashsim.nn.train import PRESETS

    args = _parser().parse_args(["train", "--preset", "sota"])
    for name, value in PRESETS["sota"].items():
        assert (tuple(getattr(args, name)) if isinstance(value, tuple) else getattr(args, name)) == value, name
    args = _parser().parse_args(["train", "--lr", "0.05", "--preset", "sota", "--augment", "false", "--lr-milestones", "30", "60"])
    assert (args.lr, args.augment, args.lr_milestones, args.weight_decay, args.warmup_epochs) == (0.05, False, [30, 60], 5e-4, 1)
    with pytest.raises(SystemExit):
        _parser().parse_args(["train", "--preset", "fast"])
