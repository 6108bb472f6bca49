"""The fast (captured) training step against the standard loop; device errors, device changes, determinism.

On a machine without CUDA the capture tests skip; everything else runs the fast step's arithmetic
eagerly on the CPU (``capture=False``) and compares it with :func:`train_until_target`, the
reference whose results are recorded.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from dashsim.nn import data, engine, train_cli
from dashsim.nn.fast import FastStep, deterministic_mode, device_change_note, train_until_target_fast
from dashsim.nn.methods import make_method
from dashsim.nn.train import SettingsError, TrainConfig, build_learner, resolve_device, train_until_target

CPU = torch.device("cpu")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def digits():
    return data.load_digits()


def _recording(monkeypatch):
    """Record every cross-entropy computed (both loops call torch.nn.functional.cross_entropy)."""
    losses = []
    original = F.cross_entropy

    def recorded(*args, **kwargs):
        out = original(*args, **kwargs)
        losses.append(float(out.detach()))
        return out

    monkeypatch.setattr(F, "cross_entropy", recorded)
    return losses


def _small_cnn():
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                               torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 10))


def _both(digits, monkeypatch, config, method="warm", n=230, fill=None, x=None, model=None):
    """Train two identical learners, the standard loop and the fast step eagerly; losses, results, weights."""
    if x is None:
        x, y = digits.as_float("train", normalize=config.resolved_normalize)
    else:
        y = digits.as_float("train", normalize=False)[1]
    idx = torch.arange(n)
    out = []
    for loop in (train_until_target, train_until_target_fast):
        torch.manual_seed(5)
        learner = build_learner(config, digits, CPU, model)
        losses = _recording(monkeypatch)
        result = loop(learner, make_method(method), x, y, idx, config=config,
                      generator=torch.Generator().manual_seed(9), fill=fill)
        monkeypatch.undo()
        out.append((losses, result, learner))
    return out


def _close(a, b, rtol=1e-4, atol=1e-5):
    assert len(a) == len(b)
    torch.testing.assert_close(torch.tensor(a), torch.tensor(b), rtol=rtol, atol=atol)


@pytest.mark.parametrize("optimizer,method", [("sgd", "warm"), ("adam", "warm"), ("sam", "warm"), ("sgd", "l2_init")])
def test_fast_step_takes_the_standard_loops_steps(digits, monkeypatch, optimizer, method):
    # 230 samples at batch 50: four full batches and a last one of 30 (kept, not dropped), 3 epochs.
    config = TrainConfig(data="digits", model="mlp", width=32, optimizer=optimizer, lr=0.05 if optimizer != "adam"
                         else 0.003, weight_decay=1e-3, batch_size=50, max_epochs=3, target_accuracy=1.0, device="cpu")
    (ref_losses, ref, ref_learner), (losses, result, learner) = _both(digits, monkeypatch, config, method)
    assert len(ref_losses) == 15 * (2 if optimizer == "sam" else 1)
    # SAM here turns a relative change of 1e-7 in the lr into 5e-4 in the loss after 15 steps (its ascent
    # follows the noise-level gradients of the biases a BatchNorm follows): a looser tolerance for it.
    tol = dict(rtol=5e-3, atol=5e-3) if optimizer == "sam" else dict(rtol=1e-4, atol=1e-5)
    _close(losses, ref_losses, **tol)
    assert (result.steps, result.epochs, result.converged) == (ref.steps, ref.epochs, ref.converged) == (15, 3, False)
    assert result.train_accuracy == pytest.approx(ref.train_accuracy, abs=1 / 230)
    assert result.train_loss == pytest.approx(ref.train_loss, rel=tol["rtol"])
    # The networks compute the same function, compared as outputs with batch statistics: a bias that a
    # BatchNorm follows has a gradient of rounding noise, so its value is arbitrary in both loops (Adam,
    # SAM) and cancels only against the batch's own mean. Under SAM the weights drift apart as fast as they
    # do between two standard runs whose lr differs by 1e-7, so only its loss trajectory is compared.
    x = digits.as_float("train", normalize=False)[0][:230]
    if optimizer != "sam":
        with torch.no_grad():
            torch.testing.assert_close(learner.model.train()(x), ref_learner.model.train()(x), rtol=1e-3, atol=1e-4)
    # The optimizer state is the optimizer's own: the standard loop can take over from it.
    ref_state, state = ref_learner.optimizer.state_dict(), learner.optimizer.state_dict()
    if optimizer == "sam":
        ref_state, state = ref_state["base"], state["base"]
    assert ref_state["state"].keys() == state["state"].keys()
    for key, ref_values in ref_state["state"].items():
        assert ref_values.keys() == state["state"][key].keys()
        if optimizer == "adam":
            assert float(state["state"][key]["step"]) == float(ref_values["step"]) == 15
        elif optimizer == "sgd":
            torch.testing.assert_close(state["state"][key]["momentum_buffer"], ref_values["momentum_buffer"],
                                       rtol=1e-3, atol=1e-4)


def test_fast_step_with_crop_flip_bn_and_schedule_takes_the_same_steps(digits, monkeypatch):
    # A conv net with BatchNorm, the crop/flip drawn from the same generator, warm-up and a milestone.
    config = TrainConfig(data="digits", model="resnet18", batch_size=40, max_epochs=3, target_accuracy=1.0, lr=0.05,
                         augment=True, crop_padding=2, warmup_epochs=1, lr_milestones=(2,), device="cpu")
    x = digits.as_float("train", normalize=True)[0]
    fill = digits.pixel_value(0, normalize=True)
    (ref_losses, ref, _), (losses, result, _) = _both(digits, monkeypatch, config, n=100, fill=fill, x=x,
                                                      model=_small_cnn)
    assert len(ref_losses) == 9 and (result.steps, result.epochs) == (ref.steps, ref.epochs)
    _close(losses, ref_losses, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("last_batch,steps", [("drop", 12), ("merge", 12)])
def test_fast_step_follows_the_last_batch_policy(digits, monkeypatch, last_batch, steps):
    # 230 samples at batch 50: the last 30 are left out ("drop") or trained with the fourth batch ("merge").
    config = TrainConfig(data="digits", model="mlp", width=32, lr=0.05, batch_size=50, max_epochs=3,
                         target_accuracy=1.0, last_batch=last_batch, device="cpu")
    (ref_losses, ref, _), (losses, result, _) = _both(digits, monkeypatch, config)
    assert len(ref_losses) == steps and (result.steps, result.epochs) == (ref.steps, ref.epochs) == (steps, 3)
    _close(losses, ref_losses)
    assert result.train_accuracy == pytest.approx(ref.train_accuracy, abs=1e-12)


def test_fast_loop_stops_at_the_same_epoch(digits):
    config = TrainConfig(data="digits", model="mlp", width=32, batch_size=64, max_epochs=40, target_accuracy=0.95,
                         device="cpu")
    x, y = digits.as_float("train", normalize=False)
    results = []
    for loop in (train_until_target, train_until_target_fast):
        torch.manual_seed(1)
        learner = build_learner(config, digits, CPU)
        results.append(loop(learner, make_method("warm"), x, y, torch.arange(300), config=config,
                            generator=torch.Generator().manual_seed(2)))
    assert results[0].converged and results[1].epochs == results[0].epochs
    assert results[1].steps == results[0].steps


def test_trace_records_the_first_steps_and_fast_is_a_no_op_on_cpu(digits, monkeypatch):
    config = TrainConfig(data="digits", model="mlp", width=16, batch_size=100, max_epochs=2, target_accuracy=1.0,
                         device="cpu")
    x, y = digits.as_float("train", normalize=False)
    torch.manual_seed(0)
    learner = build_learner(config, digits, CPU)
    losses, trace = _recording(monkeypatch), []
    train_until_target_fast(learner, make_method("warm"), x, y, torch.arange(250), config=config,
                            generator=torch.Generator().manual_seed(0), trace=trace, record_steps=8)
    monkeypatch.undo()
    assert torch.equal(trace[0][:6], torch.tensor(losses))  # 3 steps x 2 epochs, then NaN
    assert torch.isnan(trace[0][6:]).all()
    # On the CPU, fast=True runs the standard loop: bit-identical results.
    results = []
    for fast in (False, True):
        torch.manual_seed(0)
        learner = build_learner(config, digits, CPU)
        results.append((train_until_target(learner, make_method("warm"), x, y, torch.arange(250),
                                           config=dataclasses.replace(config, fast=fast),
                                           generator=torch.Generator().manual_seed(0)),
                        [p.detach().clone() for p in learner.model.parameters()]))
    assert results[0][0] == results[1][0]
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1]))


def test_fast_step_refuses_what_it_cannot_write_out(digits):
    config = TrainConfig(data="digits", model="mlp", width=8, device="cpu")
    x, y = digits.as_float("train", normalize=False)
    learner = build_learner(config, digits, CPU)
    odd = dataclasses.replace(learner, optimizer=torch.optim.RMSprop(learner.model.parameters()))
    with pytest.raises(ValueError, match="RMSprop"):
        FastStep(odd, make_method("warm"), x, y, config=config)
    nesterov = dataclasses.replace(learner, optimizer=torch.optim.SGD(learner.model.parameters(), lr=0.1,
                                                                      momentum=0.9, nesterov=True))
    with pytest.raises(ValueError, match="nesterov"):
        FastStep(nesterov, make_method("warm"), x, y, config=config)
    with pytest.raises(ValueError, match="capture needs a CUDA device"):
        FastStep(learner, make_method("warm"), x, y, config=config, capture=True)
    with pytest.raises(ValueError, match="augment needs image inputs"):
        train_until_target_fast(learner, make_method("warm"), x, y, torch.arange(10),
                                config=dataclasses.replace(config, augment=True), generator=torch.Generator())


# --- devices ----------------------------------------------------------------------------------


@pytest.mark.parametrize("device,match", [("cuda:0", "no CUDA device|does not exist"),
                                          ("cuda:99", "does not exist|no CUDA"), ("cudax", "device must be")])
def test_an_unavailable_or_unknown_device_is_refused_before_any_folder(tmp_path, digits, device, match):
    if device == "cuda:0" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(SettingsError, match=match):
        resolve_device(device)
    config = TrainConfig(data="digits", model="mlp", width=8, J=2, max_epochs=1, device=device,
                         out=str(tmp_path / "run"))
    with pytest.raises(SettingsError, match=match):
        engine.run(config, engine.PROTOCOLS["incremental"](), dataset=digits)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="device must be"):
        TrainConfig(device="tpu")


@pytest.mark.parametrize("device", ["cuda", "cudax", "mps"])
def test_the_command_refuses_the_device_before_any_folder(tmp_path, capsys, device):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    parser = argparse.ArgumentParser(prog="dashsim")
    train_cli.register(parser.add_subparsers(dest="command"))
    out = tmp_path / "run"
    args = parser.parse_args(["train", "--data", "digits", "--model", "mlp", "--width", "8", "--J", "2",
                              "--max-epochs", "1", "--device", device, "--out", str(out), "--no-progress"])
    with pytest.raises(SystemExit) as info:
        args.func(args)
    err = capsys.readouterr().err
    assert info.value.code == 2 and "device" in err and repr(device) in err
    assert not out.exists()


def test_device_change_note():
    assert device_change_note("cpu", CPU) is None
    assert device_change_note("cuda:0", torch.device("cuda:1")) is None
    note = device_change_note("cuda:0", CPU)
    assert "cuda:0" in note and "bit-exact only within one device type" in note


class _Interrupt(Exception):
    pass


_stop_at = {"round": None}


def interrupting_probe(learner, context):
    """Stops the run before round ``_stop_at["round"]`` trains (as a killed process would)."""
    if context.j == _stop_at["round"]:
        raise _Interrupt
    return {}


def test_a_run_made_on_another_device_resumes_and_says_what_changes(tmp_path, digits, caplog):
    config = TrainConfig(data="digits", model="mlp", width=8, J=3, max_epochs=2, subset=300, test_subset=100,
                         device="cpu")
    plan = engine.PROTOCOLS["incremental"]()
    _stop_at["round"] = None
    full = engine.run(dataclasses.replace(config, out=str(tmp_path / "full")), plan, dataset=digits,
                      probe=interrupting_probe)
    out = tmp_path / "run"
    _stop_at["round"] = 2
    with pytest.raises(_Interrupt):
        engine.run(dataclasses.replace(config, out=str(out), device="cpu"), plan, dataset=digits,
                   probe=interrupting_probe)
    # Pretend the first round ran with --device cuda on a GPU machine.
    for name, key, value in (("config.json", "device", "cuda"), ("environment.json", "device", "cuda:0")):
        stored = json.loads((out / name).read_text())
        stored[key] = value
        (out / name).write_text(json.dumps(stored))
    _stop_at["round"] = None
    with caplog.at_level("WARNING", logger="dashsim"):
        resumed = engine.run(dataclasses.replace(config, out=str(out)), plan, dataset=digits,
                             probe=interrupting_probe)
    assert "last run on cuda:0" in caplog.text and "bit-exact only within one device type" in caplog.text
    assert "device: 'cuda' -> 'cpu'" in caplog.text
    assert list(resumed["test_accuracy"]) == list(full["test_accuracy"])  # CPU rounds: bit-identical
    env = json.loads((out / "environment.json").read_text())
    assert env["device"] == "cuda:0" and env["resumes"][-1]["device"] == "cpu"
    assert json.loads((out / "config.json").read_text())["device"] == "cuda"  # the folder keeps its first value


def test_a_folder_written_before_fast_and_deterministic_existed_resumes(tmp_path, digits):
    config = TrainConfig(data="digits", model="mlp", width=8, J=2, max_epochs=1, subset=100, test_subset=20,
                         device="cpu", out=str(tmp_path / "old"))
    plan = engine.PROTOCOLS["incremental"]()
    first = engine.run(config, plan, dataset=digits)
    stored = json.loads((tmp_path / "old" / "config.json").read_text())
    assert stored["fast"] is False and stored["deterministic"] is False
    for key in ("fast", "deterministic"):
        del stored[key]
    (tmp_path / "old" / "config.json").write_text(json.dumps(stored))
    again = engine.run(config, plan, dataset=digits)  # reopens the finished run: same rows, no mismatch
    assert list(again["test_accuracy"]) == list(first["test_accuracy"])


# --- determinism ------------------------------------------------------------------------------


def test_deterministic_mode_sets_and_restores_the_flags():
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
              torch.backends.cudnn.benchmark)
    with deterministic_mode(False):
        assert torch.are_deterministic_algorithms_enabled() == before[0]
    with deterministic_mode(True):
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
            torch.backends.cudnn.benchmark) == before


def test_a_deterministic_run_gives_the_same_rows_and_is_recorded(tmp_path, digits, monkeypatch):
    seen = []
    original = train_until_target

    def spy(*args, **kwargs):
        seen.append(torch.are_deterministic_algorithms_enabled())
        return original(*args, **kwargs)

    monkeypatch.setattr(engine, "train_until_target", spy)
    config = TrainConfig(data="digits", model="mlp", width=8, J=2, max_epochs=2, subset=200, test_subset=50,
                         device="cpu")
    plan = engine.PROTOCOLS["incremental"]()
    plain = engine.run(dataclasses.replace(config, out=str(tmp_path / "a")), plan, dataset=digits)
    exact = engine.run(dataclasses.replace(config, out=str(tmp_path / "b"), deterministic=True), plan, dataset=digits)
    assert seen == [False, False, True, True]
    assert not torch.are_deterministic_algorithms_enabled()
    assert list(plain["test_accuracy"]) == list(exact["test_accuracy"])
    assert json.loads((tmp_path / "b" / "config.json").read_text())["deterministic"] is True


# --- capture (CUDA only) ----------------------------------------------------------------------


@cuda
@pytest.mark.parametrize("bf16", [False, True])
def test_captured_steps_match_eager_steps(digits, bf16):
    device = torch.device("cuda")
    config = TrainConfig(data="digits", model="mlp", width=64, batch_size=64, max_epochs=4, target_accuracy=1.0,
                         bf16=bf16, device="cuda")
    x, y = (t.to(device) for t in digits.as_float("train", normalize=False))
    traces = []
    for capture in (False, True):
        torch.manual_seed(0)
        learner = build_learner(config, digits, device)
        train_until_target_fast(learner, make_method("warm"), x, y, torch.arange(300, device=device), config=config,
                                generator=torch.Generator().manual_seed(0), capture=capture, trace=traces,
                                record_steps=20)
    tol = dict(rtol=2e-2, atol=2e-2) if bf16 else dict(rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(traces[1], traces[0], **tol)


@pytest.mark.slow  # about 25 s of CPU time: ResNet-18 through every path, Figure 1's protocol for four methods
def test_benchmark_dry_run_exercises_every_path_but_the_capture(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--dry-run", "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin",
                                                                        "OMP_NUM_THREADS": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = list(tmp_path.glob("*-cpu-dry-run.md"))
    assert len(reports) == 1
    text = reports[0].read_text()
    for part in ("## 1. Parity", "## 2. Throughput", "## 3. Figure 1", "captured: skipped (no CUDA)"):
        assert part in text, part
    assert "FAIL" not in text
