"""`dashsim simulate`: flags from PaperSetting, the three output files, exactly the plotted numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from dashsim import cli
from dashsim.sim.plotting import plotted_table
from dashsim.sim.settings import PaperSetting, run_setting, summarize

TINY_FLAGS = ["--C", "2", "--K", "8", "--n-per-chunk", "20", "--J", "5", "--gamma", "3", "--tau", "2",
              "--seeds", "0", "1"]
TINY = PaperSetting(C=2, K=8, n_per_chunk=20, J=5, gamma=3.0, tau=2, seeds=(0, 1))


def test_simulate_writes_png_csv_and_config(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["simulate", *TINY_FLAGS, "--out", str(out), "--no-progress"]) == 0
    assert {"figure3.png", "figure3.csv", "config.json"} <= {p.name for p in out.iterdir()}

    image = imread(out / "figure3.png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 300 and image.std() > 0  # not blank

    csv = pd.read_csv(out / "figure3.csv")
    expected = plotted_table(summarize(run_setting(TINY, progress=False)))
    assert "n_memorized_mean" not in csv.columns  # computed, but not drawn
    pd.testing.assert_frame_equal(csv, expected, check_dtype=False, atol=1e-12)

    config = json.loads((out / "config.json").read_text())
    assert config["setting"] == {"C": 2, "K": 8, "n_per_chunk": 20, "J": 5, "gamma": 3.0, "tau": 2, "seeds": [0, 1],
                                 "legacy": True, "n_test": 10000, "accuracy": "exact"}
    assert config["methods"] == ["cold", "warm", "ideal"] and config["environment"]["numpy"] == np.__version__
    assert "experiment 5" in capsys.readouterr().out


def test_simulate_defaults_are_the_papers():
    args = cli.build_parser().parse_args(["simulate"])
    assert args.out == "runs/figure3"
    assert (args.C, args.K, args.n_per_chunk, args.J, args.gamma, args.tau) == (2, 50, 1000, 50, 50.0, 3)
    assert tuple(args.seeds) == tuple(range(10)) and args.legacy is True and args.accuracy == "exact"


def test_rerun_resumes_from_the_run_folder(tmp_path):
    out = tmp_path / "run"
    argv = ["simulate", *TINY_FLAGS, "--out", str(out), "--no-progress"]
    cli.main(argv)
    (seed_file,) = out.glob("cache/*/seed_1.csv")
    before = pd.read_csv(out / "figure3.csv")
    seed_file.unlink()  # an interrupted run: only seed 0 finished
    cli.main(argv)
    assert seed_file.exists()
    pd.testing.assert_frame_equal(pd.read_csv(out / "figure3.csv"), before)


@pytest.mark.parametrize(
    "argv, message",
    [(["--tau", "0"], "PaperSetting.tau"), (["--n-per-chunk", "21"], "PaperSetting.n_per_chunk"),
     (["--accuracy", "approx"], "invalid choice"), (["--bogus", "1"], "unrecognized arguments")],
)
def test_bad_flags_are_clear_errors(tmp_path, capsys, argv, message):
    try:
        code = cli.main(["simulate", *TINY_FLAGS, "--out", str(tmp_path), *argv])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "figure3.csv").exists()


def test_console_entry_point_runs(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "dashsim.cli", "simulate", *TINY_FLAGS, "--out", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 0, proc.stderr
    assert (out / "figure3.png").stat().st_size > 1000 and (out / "figure3.csv").exists()
