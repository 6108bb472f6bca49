"""Flags derived from config dataclasses."""

import argparse
import dataclasses

import pytest

from dashsim._config import add_dataclass_arguments, config_to_dict, dataclass_from_args, plain_text


@dataclasses.dataclass(frozen=True)
class _Example:
    steps: int = 3  # how many
    rate: float = 0.5
    name: str = dataclasses.field(default="a", metadata={"choices": ("a", "b"), "help": "which"})
    seeds: tuple[int, ...] = (0, 1)
    flag: bool = False
    cap: int | None = None
    auto: bool | None = None  # decided from the other fields by default


def _parse(argv):
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, _Example)
    return dataclass_from_args(_Example, parser.parse_args(argv))


def test_defaults_come_from_the_dataclass():
    assert _parse([]) == _Example()


def test_values_are_parsed_with_the_field_types():
    cfg = _parse(["--steps", "7", "--rate", "0.25", "--name", "b", "--seeds", "4", "5", "6", "--flag"])
    assert cfg == _Example(steps=7, rate=0.25, name="b", seeds=(4, 5, 6), flag=True)
    assert config_to_dict(cfg)["seeds"] == [4, 5, 6]


def test_booleans_are_switches_and_optional_ones_keep_none():
    assert _parse(["--flag", "--no-flag"]).flag is False  # the last one wins
    assert (_parse([]).auto, _parse(["--auto"]).auto, _parse(["--no-auto"]).auto) == (None, True, False)


def test_help_shows_each_default_once_and_plain_text(capsys):
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, _Example)
    text = " ".join(parser.format_help().split())
    assert "--steps STEPS how many (default: 3)" in text and "--flag, --no-flag (default: off)" in text
    assert "--seeds SEEDS [SEEDS ...] (default: 0 1)" in text
    assert "--auto, --no-auto decided from the other fields by default --" in text + " --"  # no "(default: None)"
    assert text.count("(default") == 5  # steps, rate, name, seeds, flag: once each
    assert plain_text("see :func:`~dashsim.nn.train.TrainConfig` and :mod:`dashsim.style`, ``x = 1``::\n") == \
        "see TrainConfig and dashsim.style, x = 1:\n"
    assert plain_text("e.g. ``--seeds 0 1\n--optimizers sgd`` (a cap)") == "e.g. --seeds 0 1\n--optimizers sgd (a cap)"


@pytest.mark.parametrize("argv", [["--name", "c"], ["--unknown", "1"], ["--steps", "x"], ["--flag", "maybe"],
                                  ["--flag=true"]])
def test_bad_flags_are_rejected(argv, capsys):
    with pytest.raises(SystemExit):
        _parse(argv)
    assert "error" in capsys.readouterr().err


def test_optional_fields_parse_their_inner_type():
    assert _parse(["--cap", "12"]).cap == 12
    assert _parse([]).cap is None
