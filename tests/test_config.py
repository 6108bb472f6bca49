"""Flags derived from config dataclasses."""

import argparse
import dataclasses

import pytest

from dashsim._config import add_dataclass_arguments, config_to_dict, dataclass_from_args


@dataclasses.dataclass(frozen=True)
class _Example:
    steps: int = 3  # how many
    rate: float = 0.5
    name: str = dataclasses.field(default="a", metadata={"choices": ("a", "b"), "help": "which"})
    seeds: tuple[int, ...] = (0, 1)
    flag: bool = False
    cap: int | None = None


def _parse(argv):
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, _Example)
    return dataclass_from_args(_Example, parser.parse_args(argv))


def test_defaults_come_from_the_dataclass():
    assert _parse([]) == _Example()


def test_values_are_parsed_with_the_field_types():
    cfg = _parse(["--steps", "7", "--rate", "0.25", "--name", "b", "--seeds", "4", "5", "6", "--flag", "true"])
    assert cfg == _Example(steps=7, rate=0.25, name="b", seeds=(4, 5, 6), flag=True)
    assert config_to_dict(cfg)["seeds"] == [4, 5, 6]


@pytest.mark.parametrize("argv", [["--name", "c"], ["--unknown", "1"], ["--steps", "x"], ["--flag", "maybe"]])
def test_bad_flags_are_rejected(argv, capsys):
    with pytest.raises(SystemExit):
        _parse(argv)
    assert "error" in capsys.readouterr().err


def test_optional_fields_parse_their_inner_type():
    assert _parse(["--cap", "12"]).cap == 12
    assert _parse([]).cap is None
