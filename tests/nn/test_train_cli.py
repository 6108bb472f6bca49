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
