"""``dashsim train``: flags derived from TrainConfig, bad values rejected with choices, a tiny real run."""

from __future__ import annotations

import argparse
import dataclasses
import json

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
        assert getattr(args, field.name) == field.default or (isinstance(field.default, tuple)
                                                              and tuple(getattr(args, field.name)) == field.default)


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


@pytest.mark.parametrize("argv,needle", [
    (["--method", "sp", "--alpha", "0.1"], "--alpha is a setting of method dash, not of sp"),
    (["--method", "dash", "--sigma", "0.1"], "--sigma is a setting of method sp, not of dash"),
    (["--method", "cold", "--lam", "0.5"], "--lam is a setting of method sp / shrink / dash, not of cold"),
    (["--method", "dash", "--lam", "2.0"], "lam must be in (0.0, 1.0], got 2.0"),
])
def test_a_hyper_parameter_flag_of_another_method_is_a_usage_error(argv, needle, tmp_path, capsys):
    args = _parser().parse_args(["train", *argv, "--out", str(tmp_path / "x"), "--no-progress"])
    with pytest.raises(SystemExit) as info:
        args.func(args)
    assert info.value.code == 2 and needle in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_hyper_parameter_flags_are_typed(capsys):
    args = _parser().parse_args(["train", "--method", "dash", "--lam", "0.9", "--grad-batch-size", "64",
                                 "--granularity", "filter"])
    assert (args.lam, args.grad_batch_size, args.granularity) == (0.9, 64, "filter")
    assert type(args.lam) is float and type(args.grad_batch_size) is int
    # Flags not given stay unset: the method's own defaults apply (no default is written twice).
    assert not hasattr(_parser().parse_args(["train"]), "lam")
    for argv in (["--grad-batch-size", "1.5"], ["--lam", "high"], ["--method-args", "lam=0.9"]):
        with pytest.raises(SystemExit) as info:
            _parser().parse_args(["train", *argv])
        assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid int value: '1.5'" in err and "invalid float value: 'high'" in err
    assert "unrecognized arguments: --method-args" in err


def test_tiny_run_writes_folder_and_summary(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--data", "digits", "--model", "mlp", "--width", "16", "--method", "warm", "--J", "2",
            "--max-epochs", "3", "--device", "cpu", "--out", str(out), "--no-progress"]
    args = _parser().parse_args(argv)
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "final_test_accuracy_mean" in printed and str(out) in printed
    assert len(pd.read_csv(out / "metrics.csv")) == 2
    # A typed method flag reaches config.json and the rows with its type.
    typed = ["train", *TINY, "--J", "2", "--subset", "100", "--lam", "0.9", "--grad-batch-size", "64",
             "--out", str(tmp_path / "typed")]
    args = _parser().parse_args(typed)
    assert args.func(args) == 0
    stored = json.loads((tmp_path / "typed" / "config.json").read_text())
    assert stored["method_params"] == {"alpha": 0.3, "lam": 0.9, "grad_batch_size": 64, "granularity": "kernel"}
    assert type(stored["method_params"]["grad_batch_size"]) is int and "method_args" not in stored
    metrics = pd.read_csv(tmp_path / "typed" / "metrics.csv")
    assert list(metrics.columns[3:8]) == ["method", "alpha", "lam", "grad_batch_size", "granularity"]
    assert (metrics["lam"] == 0.9).all() and (metrics["grad_batch_size"] == 64).all()
    capsys.readouterr()
    # Same folder, other settings: a clear error, exit code 1.
    args = _parser().parse_args(argv[:-3] + ["--lr", "0.5", "--out", str(out), "--no-progress"])
    assert args.func(args) == 1
    assert "holds a different configuration" in capsys.readouterr().err


# --- every protocol through the CLI, presets, protocol-specific flags ------------------------------

TINY = ["--data", "digits", "--model", "mlp", "--width", "16", "--method", "dash", "--device", "cpu", "--no-progress",
        "--max-epochs", "3"]


CLI_RUNS = [  # (protocol, its flags, rows in metrics.csv): one tiny run of every protocol
    ("incremental", ["--J", "2", "--subset", "200"], 2),
    ("two-phase", ["--pretrain-epochs", "0", "1", "--subset", "200"], 4),  # 2 rounds for each E
    ("passive-online", ["--k", "60", "--rounds", "2"], 2),
    ("active-online", ["--k", "60", "--rounds", "2"], 2),
    ("discarding", ["--J", "3", "--m", "2", "--stop-after", "3", "--subset", "300"], 3),
    ("continuous", ["--arrival-epochs", "2", "--final-epochs", "1", "--method-every", "1", "--new-per-epoch", "50"], 3),
    ("class-incremental", ["--n-classes", "2", "--subset", "200"], 2),
    ("previous-data", ["--J", "3", "--epochs", "1", "--subset", "200"], 2),
]


def test_the_cli_runs_cover_every_registered_protocol():
    from dashsim.nn.engine import PROTOCOLS

    assert sorted(run[0] for run in CLI_RUNS) == sorted(PROTOCOLS)


@pytest.mark.parametrize("protocol,flags,n_rows", CLI_RUNS)
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
    from dashsim.nn.engine import PROTOCOLS

    assert info.value.code == 2 and "argument --protocol: invalid choice: 'streaming' (choose from " in err
    listed = err.split("(choose from ")[1]
    assert len(PROTOCOLS) >= 8 and all(f"'{name}'" in listed for name in PROTOCOLS)


@pytest.mark.parametrize("argv,needle", [
    (["--k", "5"], "--k is a setting of protocol passive-online / active-online, not of incremental"),
    (["--protocol", "continuous", "--m", "3"], "--m is a setting of protocol discarding, not of continuous"),
    (["--protocol", "passive-online", "--data", "digits", "--model", "mlp", "--k", "5000", "--device", "cpu"],
     "k must be at most the 1438 training samples"),
    (["--protocol", "two-phase", "--pretrain-epochs", "2", "2"], "pretrain_epochs must be distinct ints >= 0"),
])
def test_protocol_settings_errors_are_usage_errors(argv, needle, capsys, tmp_path):
    args = _parser().parse_args(["train", *argv, "--out", str(tmp_path / "x"), "--no-progress"])
    with pytest.raises(SystemExit) as info:
        args.func(args)
    assert info.value.code == 2 and needle in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_errors_during_training_propagate_and_a_missing_data_root_is_a_usage_error(tmp_path, monkeypatch, capsys):
    from dashsim.nn import engine

    def broken(*args, **kwargs):
        raise ValueError("a bug inside the training loop")

    monkeypatch.setattr(engine, "train_until_target", broken)
    args = _parser().parse_args(["train", *TINY, "--J", "2", "--subset", "100", "--out", str(tmp_path / "a")])
    with pytest.raises(ValueError, match="a bug inside the training loop"):
        args.func(args)
    args = _parser().parse_args(["train", "--data", "cifar10", "--out", str(tmp_path / "b"), "--no-progress"])
    with pytest.raises(SystemExit) as info:
        args.func(args)
    assert info.value.code == 2 and "has no default location" in capsys.readouterr().err


def test_protocol_defaults_are_the_plans_field_defaults(capsys):
    import inspect

    from dashsim.nn import protocols
    from dashsim.nn.protocols.online import ASH_ADAMS_TARGET

    cont = inspect.signature(protocols.run_continuous).parameters
    plan = protocols.Continuous()
    assert (plan.arrival_epochs, plan.final_epochs, plan.method_every) == (
        cont["arrival_epochs"].default, cont["final_epochs"].default, cont["method_every"].default) == (500, 500, 50)
    assert protocols.Discarding().stop_after == inspect.signature(protocols.run_discarding).parameters[
        "stop_after"].default == 40
    assert protocols.PassiveOnline().online_target == protocols.ActiveOnline().online_target == ASH_ADAMS_TARGET
    assert inspect.signature(protocols.run_passive_online).parameters["target_accuracy"].default == ASH_ADAMS_TARGET
    # The command line takes them from the plans: a protocol flag not given is not set, and its help shows the default.
    args = _parser().parse_args(["train", "--protocol", "continuous"])
    assert not any(hasattr(args, f.name) for f in dataclasses.fields(protocols.Continuous))
    with pytest.raises(SystemExit):
        _parser().parse_args(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "(protocol continuous: 500)" in help_text and "(protocol discarding: 40)" in help_text
    assert "(method sp: 0.3, shrink: 0.3, dash: 0.3)" in help_text


def test_sota_preset_flag_and_explicit_flags_win():
    from dashsim.nn.train import PRESETS

    args = _parser().parse_args(["train", "--preset", "sota"])
    for name, value in PRESETS["sota"].items():
        assert (tuple(getattr(args, name)) if isinstance(value, tuple) else getattr(args, name)) == value, name
    args = _parser().parse_args(["train", "--lr", "0.05", "--preset", "sota", "--no-augment", "--lr-milestones", "30",
                                 "60"])
    assert ((args.lr, args.augment, args.lr_milestones, args.weight_decay, args.warmup_epochs)
            == (0.05, False, [30, 60], 5e-4, 1))
    with pytest.raises(SystemExit):
        _parser().parse_args(["train", "--preset", "fast"])
