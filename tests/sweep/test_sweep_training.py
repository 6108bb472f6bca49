"""Training sweeps on the engine: identical tables on every executor, faults, resumption and bad specs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import torch
import pytest

from dashsim.sweep import TIMING_COLUMNS, SpecError, Sweep, collect, make_executor, run_sweep, summarize

ROOT = Path(__file__).resolve().parents[2]
BASE = {"data": "digits", "model": "mlp", "width": 8, "J": 2, "max_epochs": 2, "subset": 300, "test_subset": 200}
GRID = {"method": ["cold", "dash"], "seed": [0, 1], "dash": {"lam": [0.3]}}


def _table(folder) -> pd.DataFrame:
    return collect(folder).drop(columns=list(TIMING_COLUMNS))


def _environments(folder) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*/environment.json"))]


@pytest.fixture(scope="module")
def local_table(tmp_path_factory):
    """The tiny sweep on the local executor: the reference every other executor must match."""
    out = tmp_path_factory.mktemp("local")
    report = run_sweep(Sweep(BASE, GRID), out=str(out))
    assert list(report["status"]) == ["ran"] * 4
    return _table(out)


def test_the_local_sweep_is_one_engine_run_per_seed(local_table, tmp_path):
    from dashsim.nn import TrainConfig
    from dashsim.nn.engine import PROTOCOLS, run
    from dashsim.nn.methods import Dash

    assert len(local_table) == 4 * 2 and local_table["run"].nunique() == 4
    # The twin: the engine called directly, one seed per call.
    config = TrainConfig(**BASE, method="dash", seeds=(1,), out=str(tmp_path / "direct"))
    direct = run(config, PROTOCOLS["incremental"](), method=Dash(lam=0.3))
    ours = local_table[(local_table["method"] == "dash") & (local_table["seed"] == 1)]
    assert ours["test_accuracy"].tolist() == direct["test_accuracy"].tolist()
    assert ours["steps"].tolist() == direct["steps"].tolist()
    assert (ours["width"] == 8).all() and (ours["lam"] == 0.3).all()
    summary = summarize(collect_again := local_table.assign(wall_time_s=0.0))
    assert list(summary["method"]) == ["cold", "dash"] and list(summary["n_seeds"]) == [2, 2]
    cold = collect_again[collect_again["method"] == "cold"]
    finals = cold[cold["experiment"] == 2]["test_accuracy"]
    assert summary.loc[0, "final_test_accuracy_mean"] == pytest.approx(finals.mean())
    assert summary.loc[0, "final_test_accuracy_std"] == pytest.approx(finals.std(ddof=1))


def test_processes_give_the_local_table(local_table, tmp_path):
    with make_executor("processes", workers=2) as executor:
        report = run_sweep(Sweep(BASE, GRID), executor, out=str(tmp_path))
    assert list(report["status"]) == ["ran"] * 4
    pd.testing.assert_frame_equal(_table(tmp_path), local_table)


@pytest.fixture(scope="module")
def ray_instance():
    """A local Ray instance with 2 CPUs for this module's Ray tests (started once, shut down after them)."""
    ray = pytest.importorskip("ray")
    from dashsim.sweep import RayExecutor

    # RayExecutor's start retries a node that times out on a loaded machine; make_executor("ray") joins it.
    try:
        RayExecutor._start(ray, None, dict(num_cpus=2, include_dashboard=False, logging_level="ERROR",
                                           runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}}), attempts=2)
    except RuntimeError as err:  # Ray's own start-up limits (ray-project/ray#65983), not dashsim's code
        pytest.skip(f"a local Ray instance did not start on this machine: {err}")
    yield ray
    ray.shutdown()


def test_ray_gives_the_local_table(local_table, ray_instance, tmp_path):
    with make_executor("ray") as executor:  # joins the running instance and leaves it running
        assert executor.map(abs, [-3, 2, -1]) == [3, 2, 1]
        report = run_sweep(Sweep(BASE, GRID), executor, out=str(tmp_path))
    assert ray_instance.is_initialized()
    assert list(report["status"]) == ["ran"] * 4
    pd.testing.assert_frame_equal(_table(tmp_path), local_table)


def test_added_seed_runs_only_the_new_runs_and_a_corrupt_folder_is_redone(local_table, tmp_path):
    out = tmp_path / "grow"
    run_sweep(Sweep(BASE, {**GRID, "seed": [0]}), out=str(out))
    before = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/metrics.csv")}
    report = run_sweep(Sweep(BASE, GRID), out=str(out))
    assert report["status"].tolist() == ["skipped", "ran", "skipped", "ran"]
    assert len(before) == 2  # the finished runs' files are left untouched:
    assert {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/metrics.csv") if p.parent.name in before} == before
    pd.testing.assert_frame_equal(_table(out), local_table)
    # A finished run whose checkpoint was damaged (and whose mark is gone): reported, moved aside, redone.
    damaged = out / report["run"][1]
    (damaged / "checkpoint.pt").write_bytes(b"not a checkpoint")
    (damaged / "sweep_run.json").unlink()
    report = run_sweep(Sweep(BASE, GRID), out=str(out))
    assert report["status"].tolist() == ["skipped", "ran", "skipped", "skipped"]
    assert "checkpoint.pt: is not a readable checkpoint" in report["note"][1] and "redone" in report["note"][1]
    assert len(list((out / ".corrupt").iterdir())) == 1
    pd.testing.assert_frame_equal(_table(out), local_table)


def test_a_failing_run_is_reported_and_the_rest_go_on(tmp_path):
    grid = {"method": ["cold"], "lr": [0.01, 1e30], "seed": [0]}  # lr 1e30 diverges: NonFiniteLossError
    report = run_sweep(Sweep(BASE, grid), out=str(tmp_path))
    assert report["status"].tolist() == ["ran", "failed"]
    assert report["error"][1].startswith("NonFiniteLossError")
    assert json.loads((tmp_path / report["run"][1] / "sweep_run.json").read_text())["status"] == "failed"
    assert collect(tmp_path)["lr"].unique().tolist() == [0.01]


@pytest.mark.parametrize("base, grid, message", [
    ({"colour": "red"}, {}, r"base\.colour: unknown setting; allowed settings: .*J.*"),
    ({}, {"method": ["dash"], "dash": {"gamma": [0.1]}}, r"grid\.dash\.gamma: method 'dash' has no hyper-parameter"),
    ({}, {"method": ["cold"], "cold": {"lam": [0.1]}}, r"grid\.cold\.lam: method 'cold' has no hyper-parameter 'lam'"),
    ({}, {"method": ["dash"], "dash": {"lam": [0.3, 2.0]}},
     r"run dash_lam2.0_seed0_\w+: lam must be in \(0.0, 1.0\], got 2.0"),
    ({"J": 0}, {}, "J must be"),
    ({"m": 5}, {}, r"m: not a setting of protocol 'incremental'"),
    ({"protocol": "nonsense"}, {}, r"protocol: unknown protocol 'nonsense'"),
    ({"model": "resnet18", "data": "digits"}, {}, "resnet18"),
])
def test_bad_settings_are_refused_before_any_folder(tmp_path, base, grid, message):
    with pytest.raises(SpecError, match=message):
        run_sweep(Sweep({**BASE, **base}, grid), out=str(tmp_path / "never"))
    assert not (tmp_path / "never").exists()


_CONCURRENT = """
import json, sys
from dashsim.sweep import Sweep, run_sweep
base, grid, out = json.loads(sys.argv[1])
print(json.dumps(run_sweep(Sweep(base, grid), out=out)["status"].tolist()))
"""


def test_two_concurrent_sweeps_run_each_run_once(local_table, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    arg = json.dumps([BASE, GRID, str(tmp_path)])
    procs = [subprocess.Popen([sys.executable, "-c", _CONCURRENT, arg], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    statuses = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    for i in range(4):  # each run trained by exactly one of the two sweeps, the other found it finished
        assert sorted(s[i] for s in statuses) == ["ran", "skipped"]
    assert all(env["resumes"] == [] for env in _environments(tmp_path))  # nobody re-opened a run to train it
    pd.testing.assert_frame_equal(_table(tmp_path), local_table)


def test_a_worker_killed_mid_run_is_retried_and_resumes(tmp_path):
    # One run long enough to be caught between rounds: 4 rounds of 40 epochs (the target is never met).
    base = {**BASE, "J": 4, "max_epochs": 40, "target_accuracy": 1.0}
    grid = {"method": ["warm"], "seed": [0]}
    reference = run_sweep(Sweep(base, grid), out=str(tmp_path / "local"))
    assert reference["status"].tolist() == ["ran"]
    killed = []

    def kill_after_first_round():
        metrics = tmp_path / "killed" / reference["run"][0] / "metrics.csv"
        deadline = time.time() + 240
        while time.time() < deadline and not killed:
            if metrics.exists() and 1 <= len(metrics.read_text().splitlines()) - 1 < 4:
                pid = int((metrics.parent / ".lock").read_text().strip())
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.005)

    watcher = threading.Thread(target=kill_after_first_round)
    watcher.start()
    with make_executor("processes", workers=1) as executor:
        report = run_sweep(Sweep(base, grid), executor, out=str(tmp_path / "killed"))
    watcher.join()
    assert killed, "the run finished before it could be killed"
    assert report["status"].tolist() == ["ran"] and bool(report["resumed"][0])
    assert len(_environments(tmp_path / "killed")[0]["resumes"]) == 1
    pd.testing.assert_frame_equal(_table(tmp_path / "killed"), _table(tmp_path / "local"))


class _Payload:
    """Unpickling this calls ``Path.touch`` on a marker file: code run from a data file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("kind", ["code", "not_dashsim"])
def test_a_crafted_or_foreign_checkpoint_is_set_aside_without_running_it(tmp_path, kind):
    out = tmp_path / kind
    sweep = Sweep(BASE, {"method": ["warm"], "seed": [0]})
    report = run_sweep(sweep, out=str(out))
    before = _table(out)
    folder = out / report["run"][0]
    marker = tmp_path / "ran"
    torch.save({"state": _Payload(marker)} if kind == "code" else {"weights": torch.zeros(2)},
               folder / "checkpoint.pt")
    (folder / "sweep_run.json").unlink()
    report = run_sweep(sweep, out=str(out))
    assert not marker.exists()  # nothing in the file ran
    assert report["status"][0] == "ran" and "checkpoint.pt" in report["note"][0] and "redone" in report["note"][0]
    pd.testing.assert_frame_equal(_table(out), before)  # redone from the start: the same rows
