"""Main incremental protocol: chunks, summaries, divergence handling, and SIGKILL-and-resume exactness."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dashsim import runs
from dashsim.nn import METHODS, data, engine, make_method, protocols
from dashsim.nn.engine import ROW_COLUMNS
from dashsim.nn.train import NonFiniteLossError, TrainConfig

REPO = Path(__file__).resolve().parents[2]


def test_chunk_permutation_partitions():
    perm, n = engine.chunk_permutation(103, seed=4, J=5)
    assert n == 20 and perm.numel() == 100 and len(set(perm.tolist())) == 100
    assert set(perm.tolist()) <= set(range(103))
    again, _ = engine.chunk_permutation(103, seed=4, J=5)
    other, _ = engine.chunk_permutation(103, seed=5, J=5)
    assert torch.equal(perm, again) and not torch.equal(perm, other)
    sub, n_sub = engine.chunk_permutation(103, seed=4, J=5, subset=50)
    assert n_sub == 10 and len(set(sub.tolist())) == 50
    with pytest.raises(engine.SettingsError, match="subset must be at most"):
        engine.chunk_permutation(10, seed=0, J=2, subset=11)
    with pytest.raises(engine.SettingsError, match="J=20 chunks need"):
        engine.chunk_permutation(10, seed=0, J=20)


def test_summarize_against_direct_computation():
    rng = np.random.default_rng(0)
    rows = [
        {"dataset": "d", "model": "mlp", "method": m, "seed": s, "experiment": j, "test_accuracy": rng.random(),
         "steps": int(rng.integers(1, 100)), "converged": bool(rng.random() < 0.8)}
        for m in ("cold", "dash") for s in (0, 1, 2) for j in (3, 1, 2)  # experiments deliberately out of order
    ]
    df = pd.DataFrame(rows)
    out = protocols.summarize(df)
    for m in ("cold", "dash"):
        finals = [r["test_accuracy"] for r in rows if r["method"] == m and r["experiment"] == 3]
        avg_steps = [np.mean([r["steps"] for r in rows if r["method"] == m and r["seed"] == s]) for s in (0, 1, 2)]
        got = out.loc[("d", "mlp", m)]
        assert got["final_test_accuracy_mean"] == pytest.approx(np.mean(finals))
        assert got["final_test_accuracy_std"] == pytest.approx(np.std(finals, ddof=1))
        assert got["avg_steps_mean"] == pytest.approx(np.mean(avg_steps))
        assert got["n_seeds"] == 3


def test_summarize_keeps_runs_apart_by_hyper_parameter_columns():
    rows = pd.DataFrame([
        {"dataset": "d", "model": "mlp", "method": "dash", "lam": lam, "seed": s, "experiment": j,
         "test_accuracy": lam + 0.1 * j + 0.01 * s, "steps": 10 * j, "converged": True}
        for lam in (0.3, 0.9) for s in (0, 1) for j in (1, 2)
    ])
    merged = protocols.summarize(rows)  # without by, the two lam values are pooled into each seed
    assert merged.loc[("d", "mlp", "dash"), "n_seeds"] == 2
    assert merged.loc[("d", "mlp", "dash"), "avg_test_accuracy_mean"] == pytest.approx(rows["test_accuracy"].mean())
    apart = protocols.summarize(rows, by=("lam",))
    assert list(apart.index) == [("d", "mlp", "dash", 0.3), ("d", "mlp", "dash", 0.9)]
    for lam in (0.3, 0.9):
        got = apart.loc[("d", "mlp", "dash", lam)]
        assert got["n_seeds"] == 2 and got["final_test_accuracy_mean"] == pytest.approx(lam + 0.2 + 0.005)
        assert got["avg_test_accuracy_std"] == pytest.approx(np.std([lam + 0.15, lam + 0.16], ddof=1))


def _config(tmp_path, **kw):
    base = dict(data="digits", model="mlp", width=32, method="dash", J=3, seeds=(0,), max_epochs=15, device="cpu",
                out=str(tmp_path / "run"))
    base.update(kw)
    return TrainConfig(**base)


def test_run_writes_folder_and_reopening_finished_run_trains_nothing(tmp_path, monkeypatch):
    ds = data.load_digits()
    cfg = _config(tmp_path)
    df = protocols.run_incremental(cfg, dataset=ds)
    assert list(df["experiment"]) == [1, 2, 3]
    assert list(df["n_train"]) == [479, 958, 1437]
    assert (df["steps"] > 0).all() and df["test_accuracy"].between(0, 1).all()
    folder = tmp_path / "run"
    assert {p.name for p in folder.iterdir()} >= {"config.json", "metrics.csv", "environment.json", "checkpoint.pt"}
    stored = json.loads((folder / "config.json").read_text())
    assert stored["lr_used"] == 0.01 and "out" not in stored
    assert stored["method_params"] == {"alpha": 0.3, "lam": 0.3, "grad_batch_size": 1024, "granularity": "kernel"}
    assert stored["run_format"] == 2 and stored["protocol"] == "incremental" and stored["method"] == "dash"
    # DASH's hyper-parameters are row columns, typed, right after the method.
    assert list(df.columns) == [*ROW_COLUMNS[:4], "alpha", "lam", "grad_batch_size", "granularity", *ROW_COLUMNS[4:]]
    assert (df["alpha"] == 0.3).all() and (df["grad_batch_size"] == 1024).all()
    assert (df["granularity"] == "kernel").all()
    on_disk = pd.read_csv(folder / "metrics.csv")
    pd.testing.assert_series_equal(on_disk["test_accuracy"], df["test_accuracy"])

    def boom(*a, **k):
        raise AssertionError("a finished run must not train again")

    monkeypatch.setattr(engine, "train_until_target", boom)
    environment = (folder / "environment.json").read_text()
    again = protocols.run_incremental(cfg, dataset=ds)
    pd.testing.assert_frame_equal(again, df)
    assert (folder / "environment.json").read_text() == environment  # reading a finished run records no resume
    with pytest.raises(runs.ConfigMismatchError, match="lr"):
        protocols.run_incremental(_config(tmp_path, lr=0.5), dataset=ds)


def test_non_finite_loss_keeps_finished_experiments(tmp_path, monkeypatch):
    calls = {"n": 0}

    def penalty(self, learner):
        # Finite during experiment 1 (a few epochs of 12 steps), NaN once experiment 2 trains.
        calls["n"] += 1
        return torch.tensor(float("nan") if calls["experiments"] >= 2 else 0.0)

    calls["experiments"] = 0
    real = engine.train_until_target

    def counting(*args, **kwargs):
        calls["experiments"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(METHODS["warm"], "penalty", penalty)
    monkeypatch.setattr(engine, "train_until_target", counting)
    cfg = _config(tmp_path, method="warm")
    with pytest.raises(NonFiniteLossError, match=r"round 2: the 1 finished rounds are kept in .*run"):
        protocols.run_incremental(cfg, dataset=data.load_digits())
    assert len(pd.read_csv(tmp_path / "run" / "metrics.csv")) == 1
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    with runs.RunFolder(tmp_path / "run", stored) as folder:  # the run released its lock when it failed
        state, rows = folder.resume_state()
    assert (state["unit"], state["seed"], state["round"]) == (0, 0, 1) and len(rows) == 1
    assert set(state) == {"unit", "seed", "round", "learner", "plan_state"}
    assert set(state["learner"]) == {"model", "optimizer", "initial_state", "rng"}


_CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    import torch
    torch.set_num_threads(1)
    from dashsim import runs
    from dashsim.nn import engine, protocols
    from dashsim.nn.train import TrainConfig

    fields = json.loads(sys.argv[1])
    fields["seeds"] = tuple(fields["seeds"])
    mode, target = sys.argv[2], int(sys.argv[3])
    counter = {"n": 0}
    if mode == "mid_experiment":
        # SIGKILL at the end of the first epoch of the target-th experiment trained by this process.
        real = engine.train_until_target
        def train(*args, **kwargs):
            counter["n"] += 1
            if counter["n"] == target:
                kwargs["on_epoch"] = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        engine.train_until_target = train
    elif mode == "between_files":
        # SIGKILL after the target-th checkpoint is on disk but before metrics.csv catches up.
        real_write = runs.RunFolder.write_metrics
        def write(self, rows):
            counter["n"] += 1
            if counter["n"] == target:
                os.kill(os.getpid(), signal.SIGKILL)
            return real_write(self, rows)
        runs.RunFolder.write_metrics = write
    protocols.run_incremental(TrainConfig(**fields))
    """
)


def _child(script: Path, fields: dict, mode: str = "none", target: int = 0) -> int:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(script), json.dumps(fields), mode, str(target)], env=env,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(proc.stderr)
    return proc.returncode


def test_sigkill_and_resume_gives_identical_metrics(tmp_path):
    """Killed mid-experiment (seed 0, experiment 3) and between checkpoint and CSV (seed 1, experiment 2)."""
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    # S&P draws noise from the method generator, so its state must survive the kill too.
    base = dict(data="digits", model="mlp", width=32, method="sp", J=4, seeds=[0, 1], max_epochs=12, device="cpu")
    ref_dir, run_dir = tmp_path / "reference", tmp_path / "killed"
    assert _child(script, dict(base, out=str(ref_dir))) == 0
    assert _child(script, dict(base, out=str(run_dir)), "mid_experiment", 3) == -signal.SIGKILL
    assert len(pd.read_csv(run_dir / "metrics.csv")) == 2
    # Resumed: it trains seed 0's experiments 3, 4 (2 checkpoints) then seed 1's 1, 2: die at the 4th write.
    assert _child(script, dict(base, out=str(run_dir)), "between_files", 4) == -signal.SIGKILL
    assert len(pd.read_csv(run_dir / "metrics.csv")) == 5  # CSV lags the checkpoint by one row
    assert _child(script, dict(base, out=str(run_dir))) == 0

    ref = pd.read_csv(ref_dir / "metrics.csv", dtype=str)
    got = pd.read_csv(run_dir / "metrics.csv", dtype=str)
    timing = ["wall_time_s", "method_time_s"]
    assert len(ref) == 8
    # Compared as the CSV's text: every digit of every float must agree.
    pd.testing.assert_frame_equal(got.drop(columns=timing), ref.drop(columns=timing))
    ref_state = torch.load(ref_dir / "checkpoint.pt", weights_only=False)["state"]
    got_state = torch.load(run_dir / "checkpoint.pt", weights_only=False)["state"]
    assert (got_state["unit"], got_state["seed"], got_state["round"]) == (ref_state["unit"], 1, 4)
    for key, value in ref_state["learner"]["model"].items():
        assert torch.equal(value, got_state["learner"]["model"][key]), key
    env = json.loads((run_dir / "environment.json").read_text())
    assert len(env["resumes"]) == 2


def test_plot_curves_are_the_seed_statistics():
    from dashsim.nn import plotting

    df = pd.DataFrame(
        [{"method": m, "seed": s, "experiment": j, "test_accuracy": 0.1 * j + 0.01 * s + (m == "dash") * 0.05,
          "steps": 10 * j + s}
         for m in ("cold", "dash") for s in (0, 1) for j in (1, 2, 3)]
    )
    curves = plotting.incremental_curves(df)
    row = curves[(curves["method"] == "dash") & (curves["experiment"] == 2)].iloc[0]
    assert row["test_accuracy_mean"] == pytest.approx(0.2 + 0.005 + 0.05)
    assert row["steps_std"] == pytest.approx(np.std([20, 21], ddof=1)) and row["n_seeds"] == 2
    fig = plotting.plot_incremental(df, title="t")
    acc_ax, steps_ax = fig.axes
    assert [line.get_label() for line in acc_ax.lines] == ["cold", "dash"]
    np.testing.assert_allclose(steps_ax.lines[0].get_ydata(), [10.5, 20.5, 30.5])
    with pytest.raises(ValueError, match="lacks columns"):
        plotting.incremental_curves(df.drop(columns="steps"))


def test_two_phase_sweep_rows_and_resume(tmp_path, monkeypatch):
    ds = data.load_digits()
    cfg = _config(tmp_path, method="warm", seeds=(0, 1), max_epochs=4, width=16)
    df = protocols.run_two_phase(cfg, (0, 2), dataset=ds)
    assert list(zip(df["seed"], df["pretrain_epochs"])) == [(0, 0), (0, 2), (1, 0), (1, 2)]
    assert df.loc[df["pretrain_epochs"] == 0, "pretrain_train_accuracy"].isna().all()
    assert df.loc[df["pretrain_epochs"] == 2, "pretrain_train_accuracy"].between(0, 1).all()
    # Two epochs of pretraining beat the untrained model on the test set.
    pretrained = df.loc[df["pretrain_epochs"] == 2, "pretrain_test_accuracy"].values
    assert (pretrained > df.loc[df["pretrain_epochs"] == 0, "pretrain_test_accuracy"].values).all()
    assert (df["steps"] > 0).all()

    def boom(*a, **k):
        raise AssertionError("finished (seed, E) pairs must not train again")

    monkeypatch.setattr(engine, "train_until_target", boom)
    pd.testing.assert_frame_equal(protocols.run_two_phase(cfg, (0, 2), dataset=ds), df)
    with pytest.raises(runs.ConfigMismatchError, match="pretrain_epochs"):
        protocols.run_two_phase(cfg, (0, 3), dataset=ds)
    with pytest.raises(ValueError, match="pretrain_epochs must be distinct ints >= 0"):
        protocols.run_two_phase(cfg, (2, 2), dataset=ds)


def test_indexed_chunks_give_dash_the_same_result_as_tensor_pairs():
    import copy

    from dashsim.nn import build_model, dash_

    ds = data.load_digits()
    x, y = ds.as_float("train", normalize=True)
    x = torch.nn.functional.pad(x, (10, 10, 10, 10))  # build_model's MLP takes 28x28 inputs
    perm, n = engine.chunk_permutation(len(x), seed=0, J=3)
    torch.manual_seed(0)
    model = build_model("mlp", num_classes=10, in_channels=1, image_size=28, width=8)
    before, twin = copy.deepcopy(model), copy.deepcopy(model)
    dash_(model, [engine.IndexedChunk(x, y, perm[i * n : (i + 1) * n], 100) for i in range(3)], batch_size=100)
    dash_(twin, [(x[perm[i * n : (i + 1) * n]], y[perm[i * n : (i + 1) * n]]) for i in range(3)], batch_size=100)
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7)
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), before.parameters()))


# --- probes: diagnostics measured inside run_incremental -----------------------------------------

def _shrinkable_sum(learner, context):
    from dashsim.nn.dash import shrinkable_parameters

    return {"w_sum": float(sum(p.detach().double().sum() for p in shrinkable_parameters(learner.model)))}


def _after_probe(learner, context):
    from dashsim.nn.train import evaluate

    return {
        "j_seen": context.j, "n_indices": context.train_indices.numel(), "n_chunks": len(context.chunks),
        "chunk_sizes": sum(len(c) for c in context.chunks),
        "test_again": evaluate(learner.model, context.x_test, context.y_test),
        "w_sum_after": _shrinkable_sum(learner, context)["w_sum"],
    }


def test_probe_values_land_in_their_rows_in_order(tmp_path):
    ds = data.load_digits()
    lam = 0.5
    cfg = _config(tmp_path, method="shrink", width=16, max_epochs=3, seeds=(0, 1))
    df = protocols.run_incremental(cfg, dataset=ds, method=make_method("shrink", lam=lam), probe=_shrinkable_sum,
                                   probe_after=_after_probe)
    probes = ["w_sum", "j_seen", "n_indices", "n_chunks", "chunk_sizes", "test_again", "w_sum_after"]
    assert list(df.columns) == [*ROW_COLUMNS[:4], "lam", *ROW_COLUMNS[4:], *probes]
    assert (df["lam"] == lam).all() and df["lam"].dtype == np.float64
    assert (df["j_seen"] == df["experiment"]).all() and (df["n_chunks"] == df["experiment"]).all()
    assert (df["n_indices"] == df["n_train"]).all() and (df["chunk_sizes"] == df["n_train"]).all()
    np.testing.assert_array_equal(df["test_again"], df["test_accuracy"])
    for seed in (0, 1):
        rows = df[df["seed"] == seed].sort_values("experiment")
        # The first probe runs after the method's step: shrinking by lam scales the previous weights' sum by lam.
        np.testing.assert_allclose(rows["w_sum"].to_numpy()[1:], lam * rows["w_sum_after"].to_numpy()[:-1], rtol=1e-5)
        # ... and before training: training changes the weights.
        assert (rows["w_sum"].to_numpy() != rows["w_sum_after"].to_numpy()).all()
    stored = pd.read_csv(tmp_path / "run" / "metrics.csv")
    np.testing.assert_allclose(stored["w_sum"], df["w_sum"])
    stored_config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert stored_config["probe_after"] == "_after_probe" and stored_config["method_params"] == {"lam": lam}


def test_probes_do_not_change_the_run_and_none_keeps_the_old_folder(tmp_path):
    ds = data.load_digits()

    def noisy(learner, context):
        # Draws from the global RNG and runs the model: neither may change what the run measures.
        learner.model.eval()
        with torch.no_grad():
            learner.model(context.x[context.train_indices[:5]])
        learner.model.train()
        return {"noise": float(torch.rand(()))}

    timing = ["wall_time_s", "method_time_s"]
    cfg = _config(tmp_path, method="cold", width=16, max_epochs=4)
    plain = protocols.run_incremental(cfg, dataset=ds)
    assert list(plain.columns) == list(ROW_COLUMNS)  # cold has no hyper-parameters
    assert "probe" not in json.loads((tmp_path / "run" / "config.json").read_text())
    probed = protocols.run_incremental(dataclasses.replace(cfg, out=str(tmp_path / "probed")), dataset=ds, probe=noisy)
    assert list(probed.columns) == [*ROW_COLUMNS, "noise"]
    pd.testing.assert_frame_equal(probed[list(ROW_COLUMNS)].drop(columns=timing), plain.drop(columns=timing))
    assert probed["noise"].between(0, 1).all()


def test_resume_keeps_probe_columns(tmp_path):
    ds = data.load_digits()
    crash = {"at": 3}

    def probe(learner, context):
        if context.j == crash["at"]:
            raise RuntimeError("interrupted")
        return {"j_squared": context.j ** 2, "w_sum": _shrinkable_sum(learner, context)["w_sum"]}

    cfg = _config(tmp_path, method="warm", width=16, max_epochs=3)
    with pytest.raises(RuntimeError, match="interrupted"):
        protocols.run_incremental(cfg, dataset=ds, probe=probe)
    assert list(pd.read_csv(tmp_path / "run" / "metrics.csv")["j_squared"]) == [1, 4]
    crash["at"] = None
    resumed = protocols.run_incremental(cfg, dataset=ds, probe=probe)
    reference = protocols.run_incremental(dataclasses.replace(cfg, out=str(tmp_path / "ref")), dataset=ds, probe=probe)
    assert list(resumed["j_squared"]) == [1, 4, 9]
    np.testing.assert_array_equal(resumed["w_sum"], reference["w_sum"])
    np.testing.assert_array_equal(resumed["test_accuracy"], reference["test_accuracy"])


def test_bad_probes_are_errors(tmp_path):
    ds = data.load_digits()
    cfg = _config(tmp_path, method="warm", width=8, max_epochs=1, J=2)

    def run(out, **probes):
        return protocols.run_incremental(dataclasses.replace(cfg, out=str(tmp_path / out)), dataset=ds, **probes)

    with pytest.raises(TypeError, match="probe must return a mapping"):
        run("a", probe=lambda learner, context: 1.0)
    with pytest.raises(ValueError, match="probe returned the column 'steps', which is taken"):
        run("b", probe=lambda learner, context: {"steps": 1.0})
    with pytest.raises(ValueError, match="probes and measurements must return the same names every round"):
        run("c", probe=lambda learner, context: {f"c{context.j}": 1.0})
    with pytest.raises(ValueError, match="probe_after returned the column 'a', which is taken"):
        run("d", probe=lambda learner, context: {"a": 1.0}, probe_after=lambda learner, context: {"a": 2.0})
    # The method's hyper-parameter columns are taken too.
    with pytest.raises(ValueError, match="probe returned the column 'lam', which is taken"):
        protocols.run_incremental(dataclasses.replace(cfg, out=str(tmp_path / "e")), dataset=ds,
                                  method=make_method("shrink"), probe=lambda learner, context: {"lam": 1.0})
    with pytest.raises(TypeError, match="probe_after returned list for column 'v'; a column holds a number"):
        run("f", probe_after=lambda learner, context: {"v": [1.0, 2.0]})
    # Zero-dimensional tensors and NumPy scalars become plain Python numbers.
    rows = run("g", probe=lambda learner, context: {"t": torch.tensor(2.5), "n": np.int64(3)})
    assert list(rows["t"]) == [2.5, 2.5] and list(rows["n"]) == [3, 3]


def test_run_folder_name_is_the_one_naming_rule():
    cfg = TrainConfig(data="digits", model="mlp", method="sp", J=3)
    assert engine.run_folder_name(cfg) == "runs/digits_mlp_sp_J3"
    assert engine.run_folder_name(cfg, protocols.Incremental()) == "runs/digits_mlp_sp_J3"
    # Named after the settings the protocol runs with: two-phase splits the data in two (J = 2).
    assert engine.run_folder_name(cfg, protocols.TwoPhase()) == "runs/digits_mlp_sp_J2_two_phase"
    assert engine.run_folder_name(cfg, protocols.ClassIncremental()) == "runs/digits_mlp_sp_J3_class_incremental"
    assert engine.run_folder_name(cfg, protocols.PassiveOnline()) == "runs/digits_mlp_sp_J3_passive_online"
    given = dataclasses.replace(cfg, out="elsewhere")
    assert all(engine.run_folder_name(given, plan()) == "elsewhere" for plan in engine.PROTOCOLS.values())
    # Every protocol has its own default folder.
    names = {engine.run_folder_name(cfg, plan()) for plan in engine.PROTOCOLS.values()}
    assert len(names) == len(engine.PROTOCOLS)


# Small settings of every built-in protocol on 40 digits, for the default-folder test.
_TINY_PLANS = {
    "incremental": protocols.Incremental(), "two-phase": protocols.TwoPhase(pretrain_epochs=(0,)),
    "passive-online": protocols.PassiveOnline(k=20, rounds=1), "active-online": protocols.ActiveOnline(k=20, rounds=1),
    "discarding": protocols.Discarding(m=1, stop_after=1), "previous-data": protocols.PreviousData(epochs=1),
    "continuous": protocols.Continuous(arrival_epochs=1, final_epochs=0, method_every=1),
    "class-incremental": protocols.ClassIncremental(n_classes=2),
}


@pytest.mark.parametrize("name", sorted(engine.PROTOCOLS))
def test_protocols_write_where_the_rule_says(tmp_path, monkeypatch, name):
    # Relative default folders land under the working directory.
    monkeypatch.chdir(tmp_path)
    tiny = TrainConfig(data="digits", model="mlp", width=8, method="warm", J=3, subset=40, max_epochs=1, device="cpu")
    protocols.run_protocol(tiny, _TINY_PLANS[name], dataset=data.load_digits())
    assert (tmp_path / engine.run_folder_name(tiny, _TINY_PLANS[name]) / "metrics.csv").exists()
