"""paper_figures/ and dashsim.plotting: each script writes one real PNG and one CSV of exactly the plotted numbers."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from dashsim.plotting import PANELS, plot_figure3, plot_sweep, plotted_table
from dashsim.sweeps import PaperSetting, run_setting, run_sweep, summarize

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "paper_figures"
TINY = PaperSetting(C=2, K=8, n_per_chunk=20, J=5, gamma=3.0, tau=2, seeds=(0, 1, 2))
PLOTTED_COLUMNS = ["method", "experiment", "n_seeds"] + [f"{q}_{s}" for q in ("test_accuracy", "n_learned", "n_nonzero")
                                                         for s in ("mean", "std")]


def _lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_figure3_draws_exactly_the_summary(tmp_path):
    summary = summarize(run_setting(TINY, progress=False))
    fig = plot_figure3(summary, tmp_path / "f.png", title="tiny")
    assert len(fig.axes) == len(PANELS)
    for ax, (q, _) in zip(fig.axes, PANELS):
        lines = _lines_by_label(ax)
        assert set(lines) == {"cold", "warm", "ideal"}
        for method, line in lines.items():
            rows = summary[summary.method == method]
            np.testing.assert_array_equal(line.get_xdata(), rows.experiment.to_numpy())
            np.testing.assert_array_equal(line.get_ydata(), rows[f"{q}_mean"].to_numpy())
        assert len(ax.collections) == 3  # one mean +- std band per method
    assert imread(tmp_path / "f.png").std() > 0
    table = plotted_table(summary)
    assert list(table.columns) == PLOTTED_COLUMNS
    pd.testing.assert_frame_equal(table, summary[PLOTTED_COLUMNS])


def test_sweep_plot_has_one_row_per_value():
    df = run_sweep(dataclasses.replace(TINY, seeds=(0, 1)), "tau", [3, 1, 2], progress=False)
    assert list(pd.unique(df["tau"])) == [3, 1, 2] and list(df.columns[:2]) == ["tau", "seed"]
    summary = summarize(df, by=["tau"])
    fig = plot_sweep(summary, "tau")
    assert len(fig.axes) == 3 * len(PANELS)
    for row, tau in enumerate((1, 2, 3)):  # rows in ascending order of the swept value
        ax = fig.axes[row * len(PANELS) + 1]  # learned features
        expected = summary[(summary.tau == tau) & (summary.method == "warm")]["n_learned_mean"].to_numpy()
        np.testing.assert_array_equal(_lines_by_label(ax)["warm"].get_ydata(), expected)


def test_bad_sweeps_and_summaries_are_errors():
    with pytest.raises(ValueError, match="param"):
        run_sweep(TINY, "seeds", [(0,)], progress=False)
    with pytest.raises(ValueError, match="values"):
        run_sweep(TINY, "tau", [2, 2], progress=False)
    with pytest.raises(ValueError, match="missing columns"):
        plot_figure3(pd.DataFrame({"method": ["cold"], "experiment": [1]}))
    with pytest.raises(ValueError, match="missing columns"):
        plot_sweep(summarize(run_setting(dataclasses.replace(TINY, seeds=(0,)), progress=False)), "tau")


def test_make_all_quick_builds_one_png_and_one_csv_per_script():
    scripts = sorted(p.name for p in FIGURES.glob("*.py") if p.name != "make_all.py" and not p.name.startswith("_"))
    assert {"figure3.py", "figure9.py", "figure10.py", "figure11.py"} <= set(scripts)
    proc = subprocess.run([sys.executable, str(FIGURES / "make_all.py"), "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = {m.group(1): (m.group(2), m.group(3)) for m in
             re.finditer(r"^(\S+\.py)\s*\|\s*(\S+)\s*\|\s*[\d.]+\s*\|\s*(.*)$", proc.stdout, re.M)}
    assert sorted(table) == scripts
    for script, (status, outputs) in table.items():
        assert status == "ok", script
        files = [name.strip() for name in outputs.split(",")]
        pngs, csvs = [f for f in files if f.endswith(".png")], [f for f in files if f.endswith(".csv")]
        assert len(pngs) == 1 and len(csvs) == 1, (script, files)
        image = imread(FIGURES / "out" / pngs[0])
        assert image.ndim == 3 and min(image.shape[:2]) > 100 and image.std() > 0, script
        csv = pd.read_csv(FIGURES / "out" / csvs[0])
        if script in ("figure3.py", "figure9.py", "figure10.py", "figure11.py"):
            extra = {"figure3.py": [], "figure9.py": ["C"], "figure10.py": ["gamma"], "figure11.py": ["tau"]}[script]
            assert list(csv.columns) == extra + PLOTTED_COLUMNS, script
            assert set(csv.method) == {"cold", "warm", "ideal"} and (csv.n_seeds >= 2).all()
            assert csv.test_accuracy_mean.between(0, 1).all() and (csv.n_nonzero_std >= 0).all()
    # figure3 --quick keeps J = 50 and seed 0, so it reproduces the authors' seed-0 reference numbers.
    assert re.search(r"^\s*warm \|\s+n_learned \|\s+33 \|", proc.stdout, re.M)
    assert re.search(r"^\s*ideal \|\s+n_nonzero \|\s+6054 \|", proc.stdout, re.M)


def test_run_flags_help_shows_the_defaults_it_fills_in():
    import argparse

    sys.path.insert(0, str(FIGURES))
    import _training

    full = {"model": "resnet18", "width": 1000, "subset": None, "max_epochs": 100, "seeds": [0, 1, 2], "methods": ["dash", "sp"]}
    quick = dict(full, model="mlp", subset=300, max_epochs=20, seeds=[0, 1])
    parser = argparse.ArgumentParser()
    _training.add_run_flags(parser, full, quick, skip=("width",), unit="round")
    text = " ".join(parser.format_help().split())
    assert "epoch cap per round (full: 100; quick: 20)" in text and "seeds (full: 0 1 2; quick: 0 1)" in text
    assert "(full: all; quick: 300)" in text and "methods (full: dash sp)" in text and "--width" not in text
    args = parser.parse_args(["--max-epochs", "5", "--seeds", "3", "4"])
    assert vars(args) == {"model": None, "subset": None, "max_epochs": 5, "seeds": [3, 4], "methods": None}
