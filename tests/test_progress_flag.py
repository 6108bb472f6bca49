"""``--progress/--no-progress`` on ``dashsim train``, ``dashsim simulate`` and the figure scripts."""

from __future__ import annotations

import pytest

from dashsim import cli
from dashsim import figures as shared


def _figure_args(argv, tmp_path):
    return shared.parse_args("A figure.", ["--out", str(tmp_path), *argv], executor=False)


@pytest.mark.parametrize("command", ["train", "simulate"])
@pytest.mark.parametrize("argv, shown", [([], True), (["--progress"], True), (["--no-progress"], False)])
def test_commands_parse_both_forms(command, argv, shown):
    assert cli.build_parser().parse_args([command, *argv]).progress is shown


@pytest.mark.parametrize("argv, shown", [([], True), (["--progress"], True), (["--no-progress"], False)])
def test_figure_scripts_parse_both_forms(argv, shown, tmp_path):
    args = _figure_args(argv, tmp_path)
    assert args.progress is shown


@pytest.mark.parametrize("command", ["train", "simulate", None])
def test_help_shows_both_forms(command, capsys, tmp_path):
    with pytest.raises(SystemExit):
        if command is None:
            _figure_args(["--help"], tmp_path)
        else:
            cli.build_parser().parse_args([command, "--help"])
    assert "--progress, --no-progress" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--quiet", "simulate"], ["simulate", "-q"], ["-q", "simulate", "--progress"]])
def test_quiet_turns_progress_off_wherever_it_stands(argv, monkeypatch):
    seen = {}

    def run(args):
        seen["progress"] = args.progress
        return 0

    monkeypatch.setattr("dashsim.sim.cli.run", run)  # register() reads it when main builds the parser
    assert cli.main(argv) == 0
    assert seen == {"progress": False}
