"""dashsim.sweep.collect on hand-written run folders: one run folder, a parent, a list, order, exact numbers.

The run folders are written here by hand (``config.json`` plus a ``metrics.csv`` written the way
:class:`dashsim.runs.RunFolder` writes it: ``csv.DictWriter``), so the expected table is known
without training anything.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashsim.sweep import collect, summarize


def _run(folder: Path, rows: list[dict], **config) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"run_format": 2, "seeds": [0], "method_params": {}, **config}))
    with open(folder / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return folder


def _rows(seed: int, accuracies, *, unit: str = "pretrain_epochs", units=(None,)) -> list[dict]:
    out = []
    for value in units:
        for j, acc in enumerate(accuracies, start=1):
            row = {"protocol": "incremental", "method": "cold", "seed": seed}
            if value is not None:
                row[unit] = value
            out.append({**row, "experiment": j, "test_accuracy": acc, "steps": 10 * j, "converged": True})
    return out


def test_one_run_folder_collects_itself_with_its_settings_as_columns(tmp_path):
    run = _run(tmp_path / "a", _rows(0, [0.5, 0.75]), width=32, lr=0.01, subset=None)
    table = collect(run)
    assert table["run"].tolist() == [".", "."]
    assert table.columns.tolist() == ["run", "protocol", "method", "seed", "experiment", "test_accuracy", "steps",
                                     "converged", "width", "lr", "subset"]
    assert table["width"].tolist() == [32, 32] and table["lr"].tolist() == [0.01, 0.01]
    assert table["subset"].isna().all() and table["converged"].dtype == bool
    assert table.attrs["settings"] == ["width", "lr", "subset"]


def test_a_list_of_run_folders_keeps_the_given_order_and_paths(tmp_path):
    b = _run(tmp_path / "cache" / "b", _rows(1, [0.2, 0.3]), width=8)
    a = _run(tmp_path / "cache" / "a", _rows(0, [0.4, 0.6]), width=16)
    parent = collect(tmp_path / "cache")  # a parent: runs sorted by name
    assert parent["run"].tolist() == ["a", "a", "b", "b"]
    listed = collect([b, str(a)])  # a list: the order given, each run named by its path
    assert listed["run"].tolist() == [b.as_posix()] * 2 + [a.as_posix()] * 2
    assert listed["seed"].tolist() == [1, 1, 0, 0] and listed["width"].tolist() == [8, 8, 16, 16]
    expected = pd.concat([parent.iloc[2:], parent.iloc[:2]], ignore_index=True).drop(columns="run")
    pd.testing.assert_frame_equal(listed.drop(columns="run"), expected, check_exact=True)
    with pytest.raises(FileNotFoundError, match="no folder"):
        collect([a, tmp_path / "missing"])
    with pytest.raises(TypeError, match="folder must be a path or a list"):
        collect(3)


def test_a_run_keeps_the_row_order_of_its_metrics(tmp_path):
    # Two units (pretrain_epochs 5, then 1) of two rounds each: unit by unit, as the engine wrote them.
    _run(tmp_path / "r", _rows(0, [0.1, 0.2], units=(5, 1)))
    table = collect(tmp_path)
    assert table["pretrain_epochs"].tolist() == [5, 5, 1, 1]
    assert table["experiment"].tolist() == [1, 2, 1, 2]


def test_numbers_read_back_exactly_as_written(tmp_path):
    rng = np.random.default_rng(0)
    values = (rng.random(500) * 10.0 ** rng.integers(-12, 12, 500)).tolist() + [0.1 + 0.2, 1 / 3, 2.0 ** -60, 1e300]
    _run(tmp_path / "r", _rows(0, values))
    read = collect(tmp_path)["test_accuracy"].tolist()
    assert read == values  # bit for bit: the CSV holds repr(value) and is parsed round-trip


def test_summarize_keeps_the_seeds_of_one_run_folder_apart():
    # One `dashsim train` folder with seeds 0 and 1 (3 rounds each): two runs of one group, not one.
    table = pd.DataFrame({"run": ".", "protocol": "incremental", "dataset": "d", "model": "m", "method": "cold",
                          "seed": [0, 0, 0, 1, 1, 1], "experiment": [1, 2, 3, 1, 2, 3],
                          "test_accuracy": [0.1, 0.2, 0.5, 0.3, 0.4, 0.7], "steps": [1, 2, 3, 10, 20, 30]})
    row = summarize(table).iloc[0]
    assert row["n_seeds"] == 2
    assert row["final_test_accuracy_mean"] == pytest.approx((0.5 + 0.7) / 2)
    assert row["final_test_accuracy_std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert row["total_steps_mean"] == pytest.approx((6 + 60) / 2)
    assert row["mean_test_accuracy_mean"] == pytest.approx((0.8 / 3 + 1.4 / 3) / 2)
