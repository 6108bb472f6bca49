"""The paper-figure scripts on the executors: ``--executor processes --workers 2`` writes the same CSV as ``local``.

Each script runs in this process (its runs on worker processes) into a fresh folder, once per
executor, so nothing is read back from a cache: the workers compute every number themselves.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

FIGURES = Path(__file__).resolve().parent.parent / "paper_figures"
PROCESSES = ["--executor", "processes", "--workers", "2"]


def _main(name: str):
    spec = importlib.util.spec_from_file_location(f"paper_figures_{name}_on_executors", FIGURES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _both(name: str, tmp_path: Path, flags: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    main = _main(name)
    main(["--quick", "--no-progress", "--out", str(tmp_path / "local"), *flags])
    main(["--quick", "--no-progress", "--out", str(tmp_path / "processes"), *flags, *PROCESSES])
    return tuple(pd.read_csv(tmp_path / executor / f"{name}.csv") for executor in ("local", "processes"))


def test_torch_figure_on_worker_processes_equals_local(tmp_path):
    # Figure 1's quick grid, cut to two methods: 4 runs (2 methods x 2 seeds), 2 at a time.
    local, processes = _both("figure1", tmp_path, ["--methods", "cold", "dash", "--J", "2"])
    assert set(local["method"]) == {"cold", "dash"} and (local["n_seeds"] == 2).all()
    assert local["test_accuracy_mean"].gt(0.5).all()  # trained (digits: chance 0.1)
    pd.testing.assert_frame_equal(processes, local, check_exact=True)
    assert len(list((tmp_path / "processes" / "cache" / "incremental").iterdir())) == 4  # one folder per run


def test_simulator_sweep_figure_on_worker_processes_equals_local(tmp_path):
    # Figure 9's quick sweep (C in {2, 5, 10}, seeds 0-1; J = 5 to stay quick): one swept value per item.
    local, processes = _both("figure9", tmp_path, ["--J", "5"])
    assert sorted(set(local["C"])) == [2, 5, 10] and (local["n_seeds"] == 2).all()
    pd.testing.assert_frame_equal(processes, local, check_exact=True)


def test_figure3_seeds_on_worker_processes_equal_local(tmp_path):
    # Figure 3 splits its seeds over the executor (J = 5 to stay quick).
    local, processes = _both("figure3", tmp_path, ["--J", "5", "--seeds", "0", "1"])
    assert (local["n_seeds"] == 2).all() and local["experiment"].max() == 5
    pd.testing.assert_frame_equal(processes, local, check_exact=True)
