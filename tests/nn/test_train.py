"""The training loop against a plain per-step transcription, and TrainConfig validation."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from dashsim.nn import data, make_method
from dashsim.nn.train import NonFiniteLossError, TrainConfig, build_learner, evaluate, parse_method_args, train_until_target


@pytest.fixture(scope="module")
def digits():
    return data.load_digits()


def _twin_train(model, optimizer, x, y, idx, *, batch_size, target, max_epochs, generator, l2_init=None):
    """Direct transcription of the protocol: per-step host sync, Python floats, no device tricks."""
    model.train()
    n = len(idx)
    steps = 0
    for epoch in range(1, max_epochs + 1):
        order = idx[torch.randperm(n, generator=generator)]
        correct = 0
        loss_sum = 0.0
        for start in range(0, n, batch_size):
            b = order[start : start + batch_size]
            optimizer.zero_grad()
            logits = model(x[b])
            loss = F.cross_entropy(logits, y[b])
            total = loss
            if l2_init is not None:
                c, init = l2_init
                total = loss + c * sum(((p - init[name]) ** 2).sum() for name, p in model.named_parameters())
            total.backward()
            optimizer.step()
            steps += 1
            correct += int((logits.argmax(1) == y[b]).sum().item())
            loss_sum += loss.item() * len(b)
        acc = correct / n
        if acc >= target:
            return steps, epoch, acc, loss_sum / n, True
    return steps, max_epochs, acc, loss_sum / n, False


@pytest.mark.parametrize("method,target,max_epochs", [("warm", 0.95, 40), ("warm", 1.0, 3), ("l2_init", 0.9, 40)])
def test_loop_matches_plain_twin(digits, method, target, max_epochs):
    cfg = TrainConfig(data="digits", model="mlp", width=32, method=method, J=2, batch_size=50, target_accuracy=target, max_epochs=max_epochs, device="cpu")
    x, y = digits.as_float("train", normalize=False)
    idx = torch.arange(300)
    torch.manual_seed(3)
    learner = build_learner(cfg, digits, torch.device("cpu"))
    torch.manual_seed(3)
    twin_learner = build_learner(cfg, digits, torch.device("cpu"))
    m = make_method(method)
    result = train_until_target(learner, m, x, y, idx, config=cfg, generator=torch.Generator().manual_seed(9))
    l2 = (m.c, twin_learner.initial_state) if method == "l2_init" else None
    twin = _twin_train(twin_learner.model, twin_learner.optimizer, x, y, idx, batch_size=50, target=target, max_epochs=max_epochs, generator=torch.Generator().manual_seed(9), l2_init=l2)
    assert (result.steps, result.epochs, result.converged) == twin[0:2] + (twin[4],)
    assert result.train_accuracy == twin[2]
    assert result.train_loss == pytest.approx(twin[3], rel=1e-5)
    for p, q in zip(learner.model.parameters(), twin_learner.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    if target == 1.0:
        assert not result.converged and result.epochs == max_epochs


def test_sam_counts_one_step_per_batch_and_moves_differently(digits):
    x, y = digits.as_float("train", normalize=False)
    idx = torch.arange(200)
    finals = {}
    for opt in ("sgd", "sam"):
        cfg = TrainConfig(data="digits", model="mlp", width=16, method="warm", optimizer=opt, batch_size=50, target_accuracy=1.0, max_epochs=2, device="cpu")
        torch.manual_seed(0)
        learner = build_learner(cfg, digits, torch.device("cpu"))
        res = train_until_target(learner, make_method("warm"), x, y, idx, config=cfg, generator=torch.Generator().manual_seed(1))
        assert res.steps == 2 * 4
        finals[opt] = torch.cat([p.detach().flatten() for p in learner.model.parameters()])
    assert not torch.allclose(finals["sgd"], finals["sam"])


def test_non_finite_loss_raises(digits, monkeypatch):
    x, y = digits.as_float("train", normalize=False)
    cfg = TrainConfig(data="digits", model="mlp", width=16, method="warm", device="cpu", max_epochs=3)
    torch.manual_seed(0)
    learner = build_learner(cfg, digits, torch.device("cpu"))
    m = make_method("warm")
    monkeypatch.setattr(type(m), "penalty", lambda self, learner: torch.tensor(float("nan")))
    # A NaN penalty leaves the gradients and the cross-entropy finite: only the objective shows it.
    with pytest.raises(NonFiniteLossError, match="epoch 1"):
        train_until_target(learner, m, x, y, torch.arange(300), config=cfg, generator=torch.Generator().manual_seed(0))


def test_evaluate_matches_direct_count(digits):
    x, y = digits.as_float("test", normalize=True)
    cfg = TrainConfig(data="digits", model="mlp", width=16, device="cpu")
    torch.manual_seed(0)
    model = build_learner(cfg, digits, torch.device("cpu")).model
    model.train()
    acc = evaluate(model, x, y, batch_size=7)
    assert model.training
    model.eval()
    with torch.no_grad():
        direct = int((model(x).argmax(1) == y).sum()) / len(y)
    assert acc == direct


def test_config_defaults_and_validation():
    assert TrainConfig(model="resnet18").resolved_lr == 0.001
    assert TrainConfig(model="mlp").resolved_lr == 0.01
    assert TrainConfig(model="mlp").resolved_normalize is False and TrainConfig().resolved_normalize is True
    assert dataclasses.replace(TrainConfig(), lr=0.05).resolved_lr == 0.05
    for field, value, pattern in [
        ("model", "resnet50", r"model must be one of .*resnet18"),
        ("method", "magic", r"method must be one of .*dash"),
        ("optimizer", "rmsprop", r"optimizer must be one of"),
        ("J", 0, r"J must be an int >= 1"),
        ("target_accuracy", 1.5, r"target_accuracy must be in \(0, 1\]"),
        ("seeds", (), r"seeds must be a non-empty"),
        ("device", "tpu", r"device must be"),
        ("method_args", ("alpha=0.5", "beta=1"), r"unknown hyper-parameter 'beta'.*alpha"),
        ("method_args", ("alpha",), r"name=value"),
    ]:
        with pytest.raises(ValueError, match=pattern):
            dataclasses.replace(TrainConfig(), **{field: value})


def test_parse_method_args_types():
    assert parse_method_args("dash", ("alpha=0.5", "batch_size=64", "granularity=filter")) == {"alpha": 0.5, "batch_size": 64, "granularity": "filter"}
    with pytest.raises(ValueError, match="not a valid int"):
        parse_method_args("dash", ("batch_size=1.5",))
    assert TrainConfig(method="dash", method_args=("lam=0.7",)).make_method().lam == 0.7


def test_fixed_length_training_ignores_target(digits):
    x, y = digits.as_float("train", normalize=False)
    cfg = TrainConfig(data="digits", model="mlp", width=16, method="warm", batch_size=100, target_accuracy=0.05, max_epochs=3, device="cpu")
    torch.manual_seed(0)
    learner = build_learner(cfg, digits, torch.device("cpu"))
    res = train_until_target(learner, make_method("warm"), x, y, torch.arange(250), config=cfg, generator=torch.Generator().manual_seed(0), stop_at_target=False)
    assert (res.epochs, res.steps, res.converged) == (3, 9, True)


def test_resnet_channels_last_bf16_path_runs():
    gen = torch.Generator().manual_seed(0)
    x8 = torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8, generator=gen)
    y8 = torch.randint(0, 10, (32,), generator=gen)
    ds = data.ImageDataset("fashion-mnist", x8, y8, x8[:8], y8[:8], 10, (0.5,), (0.25,))
    cfg = TrainConfig(model="resnet18", method="warm", batch_size=16, max_epochs=1, bf16=True, channels_last=True, device="cpu")
    torch.manual_seed(0)
    learner = build_learner(cfg, ds, torch.device("cpu"))
    conv = next(m for m in learner.model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3) and m.in_channels == 64)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    before = conv.weight.detach().clone()
    x, y = ds.as_float("train", device="cpu")
    res = train_until_target(learner, make_method("warm"), x, y, torch.arange(32), config=cfg, generator=torch.Generator().manual_seed(0))
    assert res.steps == 2 and res.epochs == 1 and not torch.equal(before, conv.weight)
    assert 0.0 <= evaluate(learner.model, *ds.as_float("test"), bf16=True) <= 1.0


def test_default_run_folder_depends_on_method():
    assert TrainConfig(model="mlp", method="cold", J=5).resolved_out == "runs/fashion-mnist_mlp_cold_J5"
    assert TrainConfig(out="x/y").resolved_out == "x/y"
