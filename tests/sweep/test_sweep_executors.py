"""Executors: one ordered map on every executor, exceptions propagate, dead workers retried, bad options refused."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from dashsim.sweep import ProcessExecutor, WorkerLostError, make_executor


def square_after(item):
    """Finish in reverse order (later items first), so ordered results are the executor's doing."""
    import time

    value, delay = item
    time.sleep(delay)
    return value * value


def fail_on_three(value):
    if value == 3:
        raise KeyError("three")
    return value


def die_once(item):
    """SIGKILL this worker the first time an item runs (a marker file says it happened); then return it."""
    value, marker = item
    marker = Path(marker)
    if value == 1 and not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return value + 100


def die_once_each(item):
    """SIGKILL the worker the first time item 0 and the first time item 5 run; then return the value."""
    value, folder = item
    marker = Path(folder) / f"died{value}"
    if value in (0, 5) and not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return value


def always_die(value):
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("name, workers", [("local", None), ("processes", 2)])
def test_map_is_ordered_like_a_list_comprehension(name, workers):
    items = [(v, 0.02 * (5 - v)) for v in range(6)]
    with make_executor(name, workers=workers) as executor:
        assert executor.map(square_after, items) == [v * v for v, _ in items]
        assert executor.map(square_after, iter(items[:2])) == [0, 1]  # any iterable
        with pytest.raises(KeyError, match="three"):
            executor.map(fail_on_three, range(5))


def test_a_killed_worker_is_retried(tmp_path):
    marker = tmp_path / "died"
    with ProcessExecutor(2, start_method="fork") as executor:
        assert executor.map(die_once, [(v, str(marker)) for v in range(4)]) == [100, 101, 102, 103]
    assert marker.exists()  # the first attempt did die
    with ProcessExecutor(1, retries=1, start_method="fork") as executor:
        with pytest.raises(WorkerLostError, match="more than retries=1 times"):
            executor.map(always_die, [0])


def test_only_the_items_a_dead_worker_ran_are_charged(tmp_path):
    # One worker, one retry: items 0 and 5 each kill their worker once. Charging every queued item
    # for each death would exhaust item 5's single retry (it was queued when item 0 died).
    with ProcessExecutor(1, retries=1, start_method="fork") as executor:
        assert executor.map(die_once_each, [(v, str(tmp_path)) for v in range(8)]) == list(range(8))
    assert (tmp_path / "died0").exists() and (tmp_path / "died5").exists()


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="threads"), "executor must be one of local, processes, ray, got 'threads'"),
    (dict(name="processes", workers=0), "workers must be an integer >= 1, got 0"),
    (dict(name="ray", workers=0), "workers must be an integer >= 1, got 0"),
    (dict(name="local", workers=2), "workers must be 1 .* for the local executor"),
    (dict(name="processes", address="127.0.0.1:6379"), "address .* needs the ray executor"),
    (dict(name="processes", gpus_per_run=0.5), "gpus_per_run needs the ray executor"),
    (dict(name="processes", cpus_per_run=0), "cpus_per_run must be an integer >= 1, got 0"),
    (dict(name="ray", gpus_per_run=-1), "gpus_per_run must be a number >= 0, got -1"),
])
def test_bad_executor_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_executor(**kwargs)


def test_unreachable_ray_address_fails_before_starting_anything():
    pytest.importorskip("ray")
    import ray

    with pytest.raises(ConnectionError, match="cannot reach the Ray cluster at address '127.0.0.1:1'"):
        make_executor("ray", address="127.0.0.1:1")
    with pytest.raises(ValueError, match="address must be 'auto', 'HOST:PORT'"):
        make_executor("ray", address="nowhere")
    assert not ray.is_initialized()


def test_theorem_checks_and_simulator_sweeps_split_over_processes_match_one_process(monkeypatch):
    import numpy as np
    import pandas as pd

    from dashsim.sim import claims
    from dashsim.sim.settings import PaperSetting, run_sweep

    one = claims.random_checks(("valid", "3.1"), 30, 2, 8)
    monkeypatch.setattr(claims, "_BLOCK", 7)  # 5 blocks per kind over 2 workers
    with make_executor("processes", workers=2) as executor:
        split = claims.random_checks(("valid", "3.1"), 30, 2, 8, executor=executor)
        for kind in ("valid", "3.1"):
            assert split[kind].n_instances == one[kind].n_instances == 30
            np.testing.assert_array_equal(split[kind].held, one[kind].held)
            np.testing.assert_array_equal(split[kind].applicable, one[kind].applicable)
            assert split[kind].smallest.keys() == one[kind].smallest.keys()
        pd.testing.assert_frame_equal(claims.claims_table(split), claims.claims_table(one))
        tiny = PaperSetting(C=2, K=8, n_per_chunk=20, J=5, gamma=3.0, tau=2, seeds=(0, 1))
        here = run_sweep(tiny, "tau", [3, 1, 2], progress=False)
        pd.testing.assert_frame_equal(run_sweep(tiny, "tau", [3, 1, 2], progress=False, executor=executor), here)
