"""The torch figure scripts read their rows through dashsim.sweep.collect: the same rows the protocols return.

:func:`dashsim.nn.figures.run_all` runs each task's run folder, then reads the rows back with
:func:`dashsim.sweep.collect`. Checked on tiny runs (digits, an MLP of width 16, 200 images) built
into a fresh folder: the rows equal ``collect`` of the tasks' run folders plus each task's
columns, and, column for column, value for value and dtype for dtype, what the protocol call
itself returns (the rows the scripts computed from before).
"""

from __future__ import annotations

import argparse

import pandas as pd
import pytest

from dashsim.nn import figures as nf
from dashsim.nn.protocols import run_two_phase
from dashsim.sweep import LocalExecutor, collect

SMALL = {"model": "mlp", "width": 16, "subset": 200, "max_epochs": 10}


def _args(tmp_path) -> argparse.Namespace:
    return argparse.Namespace(cache=tmp_path / "cache", data="digits", data_root=None, device="cpu",
                              progress=False, runner=LocalExecutor())


def _returned(tasks) -> pd.DataFrame:
    """What the protocol calls return (re-opening the finished folders), with the tasks' columns: the old rows."""
    frames = []
    for item in tasks:
        rows = item.protocol(item.config, dataset=nf._dataset(item.config.data, None), **item.kwargs)
        frames.append(rows.assign(**item.columns))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def incremental(tmp_path_factory):
    args = _args(tmp_path_factory.mktemp("figure_rows"))
    grid = [{**SMALL, "method": method, "J": 2, "seeds": (seed,)} for seed in (1, 0) for method in ("dash", "warm")]
    tasks = nf.incremental_tasks(args, "incremental", grid)
    return tasks, nf.run_all(args, tasks)


def test_a_figures_rows_are_collect_of_its_run_folders(incremental):
    tasks, rows = incremental
    expected = collect([item.config.out for item in tasks]).assign(optimizer="sgd")
    pd.testing.assert_frame_equal(rows, expected, check_exact=True)
    # In task order (seed 1 first), each run's two rounds in turn, with its settings as columns.
    assert rows["run"].tolist() == [item.config.out for item in tasks for _ in range(2)]
    assert rows[["seed", "method", "experiment"]].values.tolist() == [
        [1, "dash", 1], [1, "dash", 2], [1, "warm", 1], [1, "warm", 2],
        [0, "dash", 1], [0, "dash", 2], [0, "warm", 1], [0, "warm", 2]]
    assert (rows["width"] == 16).all() and (rows["J"] == 2).all()
    assert rows.loc[rows["experiment"] == 2, "test_accuracy"].gt(0.3).all()  # trained (digits: chance 0.1)


def test_collected_rows_equal_what_the_protocol_returns(incremental):
    tasks, rows = incremental
    returned = _returned(tasks)
    pd.testing.assert_frame_equal(rows[list(returned.columns)], returned, check_exact=True)


def test_a_reshaping_protocol_gets_its_own_table_from_the_collected_rows(tmp_path):
    # Two-phase: two units (E = 0, 1) in one folder; run_two_phase returns one row per (seed, E).
    args = _args(tmp_path)
    tasks = [nf.task(args, "two_phase", {**SMALL, "method": "warm", "seeds": (seed,)}, run_two_phase,
                     sweep={"pretrain_epochs": (1, 0)}, pretrain_epochs=(1, 0), second_epochs=1) for seed in (0, 1)]
    rows = nf.run_all(args, tasks)
    pd.testing.assert_frame_equal(rows, _returned(tasks), check_exact=True)
    assert rows[["seed", "pretrain_epochs"]].values.tolist() == [[0, 1], [0, 0], [1, 1], [1, 0]]
    assert rows["pretrain_train_accuracy"].isna().tolist() == [False, True, False, True]
