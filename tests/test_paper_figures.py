"""paper_figures/: each script writes one real PNG and one CSV of exactly the plotted numbers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
from matplotlib.image import imread

from dashsim.sim.plotting import PANELS

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "paper_figures"
PLOTTED_COLUMNS = ["method", "experiment", "n_seeds"] + [f"{q}_{s}" for q, _ in PANELS for s in ("mean", "std")]


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
