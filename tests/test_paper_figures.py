"""paper_figures/: each script, run in this process in quick mode into a fresh folder, writes a real figure.

One test per script: its ``main(["--quick", "--out", <fresh tmp_path>])`` computes every run from
scratch (nothing cached from an earlier test or session), then the test reads the figure's CSV
and checks numbers that only a working pipeline produces: accuracies well above chance (digits:
10 classes, chance 10%), weights that moved, the simulator's reference numbers. A training loop
that does not train fails these tests.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from dashsim.sim.plotting import PANELS

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "paper_figures"
RESULTS = FIGURES / "results"
SIM_COLUMNS = ["method", "experiment", "n_seeds"] + [f"{q}_{s}" for q, _ in PANELS for s in ("mean", "std")]
LEARNED = 0.6  # a trained digits model beats this test accuracy; an untrained one sits near 0.1


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"paper_figures_{name}_under_test", FIGURES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scripts() -> list[str]:
    return sorted(p.stem for p in FIGURES.glob("*.py") if p.stem != "make_all" and not p.stem.startswith("_"))


def _capped_ok(csv: pd.DataFrame) -> None:
    """A figure of runs with an epoch cap counts the capped ones in its CSV."""
    assert "n_capped" in csv.columns, list(csv.columns)
    assert (csv["n_capped"] >= 0).all() and csv["n_capped"].dtype.kind == "i"


# --- per-script checks of the CSV (and of what the script printed) -----------------------------------------

def _sim(csv, out, param=None):
    assert list(csv.columns) == ([param] if param else []) + SIM_COLUMNS
    assert set(csv.method) == {"cold", "warm", "ideal"} and (csv.n_seeds >= 2).all()
    assert csv.test_accuracy_mean.between(0, 1).all() and (csv.n_nonzero_std >= 0).all()
    last = csv[csv.experiment == csv.experiment.max()]
    learned = last.pivot(index=param or "experiment", columns="method", values="n_learned_mean")
    # The framework's ordering: a warm start learns fewer features than cold and ideal.
    assert (learned.warm < learned.cold).all() and (learned.warm < learned.ideal).all()


def _figure3(csv, out):
    _sim(csv, out)
    # --quick keeps J = 50 and seed 0, so it reproduces the authors' seed-0 reference numbers.
    assert re.search(r"^\s*warm \|\s+n_learned \|\s+33 \|", out, re.M)
    assert re.search(r"^\s*ideal \|\s+n_nonzero \|\s+6054 \|", out, re.M)


def _curves(methods, column="test_accuracy_mean", x="experiment", trained=None, capped=True):
    def check(csv, out):
        assert list(dict.fromkeys(csv.method)) == methods
        last = csv[(csv[x] == csv[x].max()) & csv.method.isin(trained or methods)]
        assert (last[column] > LEARNED).all(), last
        if capped:
            _capped_ok(csv)
        else:
            assert "n_capped" not in csv.columns  # fixed-length phases: no cap to count
    return check


def _class_incremental(csv, out):
    assert list(dict.fromkeys(csv.method)) == ["cold", "warm", "sp", "dash"]
    assert (csv[csv.experiment == 1].test_accuracy_mean == 1.0).all()  # one class seen: trivially right
    assert (csv[csv.experiment == 4].test_accuracy_mean > LEARNED).all()
    _capped_ok(csv)


def _online(csv, out):
    assert set(csv.protocol) == {"passive-online", "active-online"} and set(csv.label) == {"warm", "cold"}
    assert (csv[csv.n_train == csv.n_train.max()].test_accuracy_mean > LEARNED).all()
    _capped_ok(csv)


def _pearson(csv, out):
    assert csv[["corr_init_mean", "corr_start_mean"]].abs().le(1 + 1e-9).all().all()
    # Training moves the weights: every round ends away from where it started.
    assert (csv.corr_start_mean < 0.99).all()
    cold = csv[(csv.method == "cold") & (csv.experiment > 1)]
    assert (cold.corr_init_mean.abs() < 0.2).all()  # cold restarts from a fresh initialization
    _capped_ok(csv)


def _sp_tradeoff(csv, out):
    assert set(csv.label) == {"S&P shrink=0.3", "S&P shrink=1", "cold (random init)"}
    for _, curve in csv.groupby("label"):
        assert np.all(np.diff(curve.cumulative_steps_mean) > 0)
    assert (csv[csv.experiment == csv.experiment.max()].test_accuracy_mean > LEARNED).all()
    _capped_ok(csv)


def _ash_table1(csv, out):
    assert list(zip(csv.model, csv.optimizer)) == [("mlp_ash", "sgd"), ("mlp_ash", "adam"), ("logistic", "sgd"),
                                                  ("logistic", "adam")]
    sgd = csv[csv.optimizer == "sgd"]  # Adam at lr 0.001 learns slowly in 10 epochs: only above chance
    assert (sgd.random_init_mean > LEARNED).all() and (sgd.warm_start_mean > LEARNED).all()
    assert (csv.random_init_mean > 0.25).all() and (csv.warm_start_mean > 0.25).all()
    assert (csv.paper_note == "different data set").all()
    _capped_ok(csv)


def _bridge(csv, out):
    assert set(csv.side) == {"network", "simulator"}
    last = csv[csv.experiment == csv.experiment.max()]
    network = last[last.side == "network"].set_index("method")
    assert network.loc["cold", "test_accuracy_mean"] > 0.6  # C = 2: chance is 0.5
    assert (last.n_learned_mean > 0).all()
    _capped_ok(csv)
    assert (csv[csv.side == "simulator"].n_capped == 0).all()  # the simulator has no epoch cap


def _bridge_sweep(csv, out):
    assert set(csv.sweep) == {"noise_strength", "p_max", "tau"} and set(csv.side) == {"network", "simulator"}
    assert csv.test_accuracy_mean.between(0, 1).all() and (csv.training_time_mean > 0).all()
    weak_noise = csv[(csv.sweep == "noise_strength") & (csv.value == 1.0) & (csv.side == "network")]
    assert weak_noise.set_index("method").loc["cold", "test_accuracy_mean"] > 0.8  # C = 2: chance is 0.5
    _capped_ok(csv)
    assert (csv[csv.side == "simulator"].n_capped == 0).all()


def _figure1(csv, out):
    assert set(csv.optimizer) == {"sgd"} and set(csv.method) == {"cold", "warm", "sp", "dash"}
    assert (csv[csv.experiment == 3].test_accuracy_mean > LEARNED).all() and (csv.steps_mean > 0).all()
    _capped_ok(csv)


def _figure2(csv, out):
    assert list(csv.pretrain_epochs) == [0, 2, 8] and (csv.test_accuracy_mean > LEARNED).all()
    assert np.isnan(csv.pretrain_train_accuracy_mean[0])  # E = 0: no pretraining
    assert csv.pretrain_train_accuracy_mean[1:].is_monotonic_increasing  # more pretraining, higher train accuracy
    _capped_ok(csv)


def _figure6(csv, out):
    assert (csv.grad_norm > 0).all() and (csv.steps > 0).all() and csv.converged.dtype == bool
    assert set(csv.method) == {"cold", "warm", "sp", "dash"} and len(csv) == 4 * 2 * 3
    # Each method with a capped experiment gets its open circles and a legend entry counting them.
    fig = _load("figure6").plot(csv, ["cold", "warm", "sp", "dash"], "t")
    entries = [t.get_text() for t in fig.axes[0].get_legend().get_texts() if "epoch cap" in t.get_text()]
    capped = (~csv.converged).groupby(csv.method).sum()
    assert sorted(entries) == sorted(f"{m}: stopped at the epoch cap ({n})" for m, n in capped.items() if n)


def _figure7(csv, out):
    assert list(dict.fromkeys(csv.method)) == ["cold", "warm", "sp", "dash"]
    assert list(csv.n_train[:3]) == [100, 200, 300]
    cold = csv[csv.method == "cold"]
    assert np.all(np.diff(cold.steps_mean) > 0)  # cold trains from scratch on more data each time
    _capped_ok(csv)


def _figure13(csv, out):
    at_step = csv[csv.epoch == 0].set_index("method")
    assert at_step.loc["warm", "previous_accuracy_mean"] > LEARNED  # the old data were learned
    assert at_step.loc["shrink", "previous_accuracy_mean"] < at_step.loc["warm", "previous_accuracy_mean"]
    _capped_ok(csv)


def _figure14(csv, out):
    assert set(csv.method) == {"cold", "warm", "dash"} and csv.cos_mean_mean.abs().le(1).all()
    _capped_ok(csv)


def _figure16(csv, out):
    assert set(csv.method) == {"warm", "cold", "dash"} and csv.dead_fraction_mean.between(0, 1).all()
    _capped_ok(csv)
    assert (csv.groupby("method").n_capped.nunique() == 1).all()  # one count per method, on each of its blocks
    assert (csv.n_experiments == 2 * 3).all() and (csv.n_capped <= csv.n_experiments).all()  # 2 seeds x J = 3


def _figure17(csv, out):
    assert list(zip(csv.alpha, csv.lam)) == [(0.3, 0.3), (0.3, 0.9), (0.9, 0.3), (0.9, 0.9)]
    assert (csv.final_test_accuracy_mean > LEARNED).all()
    _capped_ok(csv)


def _figure18(csv, out):
    assert list(csv.sigma) == [0.0, 0.01, 0.1] and (csv.final_test_accuracy_mean > LEARNED).all()
    _capped_ok(csv)


def _table1(csv, out):
    assert list(csv.method) == ["cold", "warm", "sp", "dash"] and (csv.final_test_accuracy_mean > LEARNED).all()
    _capped_ok(csv)
    # The paper's claims with their seed-level evidence, printed for the setting.
    assert "The paper's claims, seed by seed" in out and "DASH fewer steps than cold" in out


CHECKS = {
    "appendix_class_incremental": _class_incremental,
    "appendix_continuous": _curves(["cold", "warm", "sp", "dash"], x="epoch", capped=False),
    # cold trains on the last chunk alone (75 images, 20 epochs): not necessarily above LEARNED.
    "appendix_discarding": _curves(["dash every 2", "sp every 2", "warm", "cold"], trained=["dash every 2", "warm"]),
    "ash_adams_online": _online,
    "ash_adams_pearson": _pearson,
    "ash_adams_sp_tradeoff": _sp_tradeoff,
    "ash_adams_table1": _ash_table1,
    "bridge": _bridge,
    "bridge_sweep": _bridge_sweep,
    "figure1": _figure1,
    "figure2": _figure2,
    "figure3": _figure3,
    "figure6": _figure6,
    "figure7": _figure7,
    "figure9": lambda csv, out: _sim(csv, out, "C"),
    "figure10": lambda csv, out: _sim(csv, out, "gamma"),
    "figure11": lambda csv, out: _sim(csv, out, "tau"),
    "figure13": _figure13,
    "figure14": _figure14,
    "figure16": _figure16,
    "figure17": _figure17,
    "figure18": _figure18,
    "table1": _table1,
}


# Scripts whose CSV holds no accuracy: the test reads the test accuracy of their cached runs instead.
RUN_FOLDERS = {"figure6": "figure6", "figure7": "figure6", "figure14": "figure14", "figure16": "figure16"}


def _runs_learned(cache: Path) -> None:
    runs = [pd.read_csv(metrics) for metrics in sorted(cache.glob("*/metrics.csv"))]
    assert runs, f"no run folders in {cache}"
    for rows in runs:
        last = rows[rows.experiment == rows.experiment.max()]
        assert (last.test_accuracy > LEARNED).all(), last[["method", "seed", "test_accuracy"]]


def test_every_script_has_its_test():
    assert sorted(CHECKS) == _scripts()


def test_no_script_imports_another():
    names = set(_scripts()) | {"make_all"}
    for script in FIGURES.glob("*.py"):
        imported = set(re.findall(r"^\s*(?:import|from)\s+(\w+)", script.read_text(), re.M))
        assert not imported & names, (script.name, imported & names)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_script_quick(name, tmp_path, capsys):
    _load(name).main(["--quick", "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    png, pdf, csv = (tmp_path / f"{name}.{suffix}" for suffix in ("png", "pdf", "csv"))
    assert pdf.read_bytes().startswith(b"%PDF")
    image = imread(png)
    assert image.ndim == 3 and min(image.shape[:2]) > 300 and image.std() > 0
    CHECKS[name](pd.read_csv(csv), out)
    if name in RUN_FOLDERS:
        _runs_learned(tmp_path / "cache" / RUN_FOLDERS[name])


def _committed():
    """results/committed.toml as make_all --committed reads it: (script, folder, flags) per committed figure."""
    return _load("make_all").committed()


def _committed_files(suffix: str) -> list[str]:
    """The committed results' files with this suffix, relative to results/ (run caches left out)."""
    return sorted(str(p.relative_to(RESULTS)) for p in RESULTS.rglob(f"*{suffix}")
                  if "cache" not in p.relative_to(RESULTS).parts)


def test_every_committed_figure_has_exactly_one_replot_entry():
    entries = [str((folder / f"{name}.png").relative_to(RESULTS)) for name, folder, _ in _committed()]
    assert len(entries) == len(set(entries))
    assert sorted(entries) == _committed_files(".png")


# Committed figures without an epoch cap to count: the simulator's, and fixed-length phases.
UNCAPPED = {"figure3", "figure9", "figure10", "figure11", "appendix_continuous"}


def test_every_committed_figure_of_capped_runs_counts_them():
    missing = [str((folder / f"{name}.csv").relative_to(RESULTS)) for name, folder, _ in _committed()
               if name not in UNCAPPED and not {"n_capped", "converged"} & set(pd.read_csv(folder / f"{name}.csv"))]
    assert not missing, f"committed CSVs of capped runs without n_capped (or per-run converged): {missing}"


@pytest.mark.parametrize("name, folder, flags", _load("make_all").committed(),
                         ids=lambda v: str(v.relative_to(RESULTS)) if isinstance(v, Path) else None)
def test_replot_redraws_each_committed_csv_without_computing(name, folder, flags, tmp_path):
    shutil.copy(folder / f"{name}.csv", tmp_path / f"{name}.csv")
    before = (tmp_path / f"{name}.csv").read_bytes()
    _load(name).main(["--replot", "--out", str(tmp_path), "--no-progress", *flags])
    assert (tmp_path / f"{name}.csv").read_bytes() == before  # the numbers are left as committed
    assert imread(tmp_path / f"{name}.png").std() > 0 and (tmp_path / f"{name}.pdf").stat().st_size > 1000
    assert not (tmp_path / "cache").exists()  # nothing was computed


def test_make_all_committed_redraws_in_place_and_lists_what_it_wrote(tmp_path, monkeypatch, capsys):
    make_all = _load("make_all")
    copy = tmp_path / "results"
    shutil.copytree(RESULTS, copy, ignore=shutil.ignore_patterns("cache"))
    (copy / "figure17.png").unlink()
    monkeypatch.setattr(make_all, "RESULTS", copy)
    assert make_all.main(["--committed", "--only", "figure17"]) == 0
    assert (copy / "figure17.png").is_file() and (copy / "figure17.csv").read_bytes() == (
        RESULTS / "figure17.csv").read_bytes()
    assert "figure17.py | ok" in " ".join(capsys.readouterr().out.split()).replace("  ", " ")
    for argv, message in (([], "either --out DIR or --committed"), (["--out", "x", "--committed"], "either"),
                          (["--committed", "--quick"], "only re-draws"),
                          (["--committed", "--only", "ash_adams_pearson"], "no committed figure")):
        with pytest.raises(SystemExit) as exit_:
            make_all.main(argv)
        assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_a_bad_committed_entry_is_named(tmp_path, monkeypatch):
    make_all = _load("make_all")
    for entry, message in (('script = "figure99"\nflags = ""', "script must name a script"),
                           ('script = "figure17"\nout = "../x"\nflags = ""', "out must be a folder inside"),
                           ('script = "figure17"', "flags must be a string")):
        (tmp_path / "committed.toml").write_text(f"[[figure]]\n{entry}\n")
        monkeypatch.setattr(make_all, "RESULTS", tmp_path)
        with pytest.raises(ValueError, match=f"figure 1.*{message}"):
            make_all.committed()


def test_replot_without_a_csv_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="figure18.csv.*run the script without --replot"):
        _load("figure18").main(["--replot", "--quick", "--out", str(tmp_path)])
