"""The training loop against a plain per-step transcription, and TrainConfig validation."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dashsim.nn import data, engine, make_method
from dashsim.nn.train import (NonFiniteLossError, SettingsError, TrainConfig, apply_preset, build_learner, evaluate,
                              scheduled_lr, train_until_target)


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
    cfg = TrainConfig(data="digits", model="mlp", width=32, method=method, J=2, batch_size=50, target_accuracy=target,
                      max_epochs=max_epochs, device="cpu")
    x, y = digits.as_float("train", normalize=False)
    idx = torch.arange(300)
    torch.manual_seed(3)
    learner = build_learner(cfg, digits, torch.device("cpu"))
    torch.manual_seed(3)
    twin_learner = build_learner(cfg, digits, torch.device("cpu"))
    m = make_method(method)
    result = train_until_target(learner, m, x, y, idx, config=cfg, generator=torch.Generator().manual_seed(9))
    l2 = (m.c, twin_learner.initial_state) if method == "l2_init" else None
    twin = _twin_train(twin_learner.model, twin_learner.optimizer, x, y, idx, batch_size=50, target=target,
                       max_epochs=max_epochs, generator=torch.Generator().manual_seed(9), l2_init=l2)
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
        cfg = TrainConfig(data="digits", model="mlp", width=16, method="warm", optimizer=opt, batch_size=50,
                          target_accuracy=1.0, max_epochs=2, device="cpu")
        torch.manual_seed(0)
        learner = build_learner(cfg, digits, torch.device("cpu"))
        res = train_until_target(learner, make_method("warm"), x, y, idx, config=cfg,
                                 generator=torch.Generator().manual_seed(1))
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
        ("model", "", r"model must be a non-empty name"),
        ("method", None, r"method must be a non-empty name"),
        ("optimizer", "rmsprop", r"optimizer must be one of"),
        ("J", 0, r"J must be an integer >= 1"),
        ("target_accuracy", 1.5, r"target_accuracy must be in \(0, 1\]"),
        ("seeds", (), r"seeds must be a non-empty"),
        ("device", "tpu", r"device must be"),
    ]:
        with pytest.raises(ValueError, match=pattern):
            dataclasses.replace(TrainConfig(), **{field: value})
    # A method's hyper-parameters live in the method object, never in the config.
    assert "method_args" not in {f.name for f in dataclasses.fields(TrainConfig)}
    with pytest.raises(TypeError, match="method_args"):
        TrainConfig(method_args=("lam=0.9",))


def test_names_are_checked_against_the_registries_when_a_run_resolves_them(tmp_path, digits):
    # TrainConfig holds names; an unknown one is a SettingsError when a run resolves it, before any folder exists.
    for field, value, pattern in [
        ("model", "resnet50", r"model must be a registered network \(mlp, resnet18.*got 'resnet50'"),
        ("method", "magic", r"unknown method 'magic'; known: cold, warm.*dash"),
        ("data", "mnist", r"data must be a registered data set \(.*digits.*got 'mnist'"),
    ]:
        config = TrainConfig(**{"data": "digits", "model": "mlp", field: value, "device": "cpu",
                                "out": str(tmp_path / field)})
        with pytest.raises(SettingsError, match=pattern):
            engine.resolve(config)
        with pytest.raises(SettingsError, match=pattern):
            engine.run(config, engine.PROTOCOLS["incremental"]())
        assert not (tmp_path / field).exists()


def test_method_hyper_parameters_travel_typed_in_the_method_object():
    method = make_method("dash", alpha=0.5, grad_batch_size=64, granularity="filter")
    assert method.hyperparameters() == {"alpha": 0.5, "lam": 0.3, "grad_batch_size": 64, "granularity": "filter"}
    assert isinstance(method.hyperparameters()["grad_batch_size"], int)
    with pytest.raises(ValueError, match="grad_batch_size must be an integer >= 1"):
        make_method("dash", grad_batch_size=1.5)
    # The config's method name gives the paper defaults; other values come as an object.
    assert TrainConfig(method="dash").make_method() == make_method("dash") and make_method("dash").lam == 0.3
    resolved = engine.resolve(TrainConfig(data="digits", model="mlp"), method=make_method("dash", lam=0.7))
    assert resolved.method.lam == 0.7 and resolved.config.method == "dash"


def test_fixed_length_training_ignores_target(digits):
    x, y = digits.as_float("train", normalize=False)
    cfg = TrainConfig(data="digits", model="mlp", width=16, method="warm", batch_size=100, target_accuracy=0.05,
                      max_epochs=3, device="cpu")
    torch.manual_seed(0)
    learner = build_learner(cfg, digits, torch.device("cpu"))
    res = train_until_target(learner, make_method("warm"), x, y, torch.arange(250), config=cfg,
                             generator=torch.Generator().manual_seed(0), stop_at_target=False)
    assert (res.epochs, res.steps, res.converged) == (3, 9, True)


def test_resnet_channels_last_bf16_path_runs():
    gen = torch.Generator().manual_seed(0)
    x8 = torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8, generator=gen)
    y8 = torch.randint(0, 10, (32,), generator=gen)
    ds = data.ImageDataset("fashion-mnist", x8, y8, x8[:8], y8[:8], 10, (0.5,), (0.25,))
    cfg = TrainConfig(model="resnet18", method="warm", batch_size=16, max_epochs=1, bf16=True, channels_last=True,
                      device="cpu")
    torch.manual_seed(0)
    learner = build_learner(cfg, ds, torch.device("cpu"))
    conv = next(m for m in learner.model.modules()
                if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3) and m.in_channels == 64)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    before = conv.weight.detach().clone()
    x, y = ds.as_float("train", device="cpu")
    res = train_until_target(learner, make_method("warm"), x, y, torch.arange(32), config=cfg,
                             generator=torch.Generator().manual_seed(0))
    assert res.steps == 2 and res.epochs == 1 and not torch.equal(before, conv.weight)
    assert 0.0 <= evaluate(learner.model, *ds.as_float("test"), bf16=True) <= 1.0


def test_default_run_folder_depends_on_method():
    assert TrainConfig(model="mlp", method="cold", J=5).resolved_out == "runs/fashion-mnist_mlp_cold_J5"
    assert TrainConfig(out="x/y").resolved_out == "x/y"


# --- the "SoTA" variant: on-device augmentation and the restarted step schedule --------------------


def _numpy_crop_flip(x, top, left, flip, padding, fill):
    """Per image: pad with the fill value, crop at (top, left), mirror if asked (torchvision's order)."""
    x = np.asarray(x)
    B, C, H, W = x.shape
    out = np.empty_like(x)
    fill = np.broadcast_to(np.asarray(fill, dtype=x.dtype).reshape(-1), (C,))
    for b in range(B):
        for c in range(C):
            padded = np.pad(x[b, c], padding, mode="constant", constant_values=fill[c])
            crop = padded[top[b] : top[b] + H, left[b] : left[b] + W]
            out[b, c] = crop[:, ::-1] if flip[b] else crop
    return out


def test_crop_flip_matches_numpy_twin_on_random_inputs():
    rng = np.random.default_rng(0)
    for _ in range(60):
        B, C, H, W = (int(v) for v in rng.integers(1, 6, size=4))
        padding = int(rng.integers(0, 5))
        x = rng.normal(size=(B, C, H, W)).astype(np.float32)
        top, left = rng.integers(0, 2 * padding + 1, size=(2, B))
        flip = rng.random(B) < 0.5
        fill = float(rng.normal()) if rng.random() < 0.5 else tuple(rng.normal(size=C).tolist())
        got = data.crop_flip(torch.from_numpy(x), torch.from_numpy(top), torch.from_numpy(left), torch.from_numpy(flip),
                             padding=padding, fill=fill)
        np.testing.assert_array_equal(got.numpy(), _numpy_crop_flip(x, top, left, flip, padding, fill))


def test_crop_flip_special_cases_and_errors():
    x = torch.randn(3, 2, 5, 4)
    centre = torch.full((3,), 4)
    assert torch.equal(data.crop_flip(x, centre, centre, torch.zeros(3, dtype=torch.bool), padding=4), x)
    assert torch.equal(data.crop_flip(x, centre, centre, torch.ones(3, dtype=torch.bool), padding=4), x.flip(-1))
    zero = torch.zeros(3, dtype=torch.long)
    shifted = data.crop_flip(x, zero, zero, torch.zeros(3, dtype=torch.bool), padding=1, fill=-7.0)
    assert (shifted[:, :, 0, :] == -7).all() and (shifted[:, :, :, 0] == -7).all()
    assert torch.equal(shifted[:, :, 1:, 1:], x[:, :, :4, :3])
    with pytest.raises(ValueError, match="padding must be an integer >= 0"):
        data.crop_flip(x, zero, zero, zero.bool(), padding=-1)
    with pytest.raises(ValueError, match=r"fill must be one value or one per channel \(2\)"):
        data.crop_flip(x, zero, zero, zero.bool(), padding=1, fill=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match=r"top must have shape \(3,\)"):
        data.crop_flip(x, zero[:2], zero, zero.bool(), padding=1)
    with pytest.raises(ValueError, match=r"x must be a batch of images"):
        data.crop_flip(x[0], zero, zero, zero.bool(), padding=1)


def test_random_crop_flip_draws_in_documented_order_and_is_seeded():
    x = torch.randn(16, 3, 6, 6)
    a = data.random_crop_flip(x, torch.Generator().manual_seed(5), padding=2, fill=(0.1, 0.2, 0.3))
    b = data.random_crop_flip(x, torch.Generator().manual_seed(5), padding=2, fill=(0.1, 0.2, 0.3))
    c = data.random_crop_flip(x, torch.Generator().manual_seed(6), padding=2, fill=(0.1, 0.2, 0.3))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    g = torch.Generator().manual_seed(5)
    top, left = torch.randint(0, 5, (16,), generator=g), torch.randint(0, 5, (16,), generator=g)
    flip = torch.randint(0, 2, (16,), generator=g).bool()
    np.testing.assert_array_equal(a.numpy(), _numpy_crop_flip(x.numpy(), top.numpy(), left.numpy(), flip.numpy(), 2,
                                                               (0.1, 0.2, 0.3)))


def test_pixel_value_is_what_as_float_gives_a_black_pixel(digits):
    x, _ = digits.as_float("train", normalize=True)
    black = digits.x_train == 0
    assert black.any()
    (value,) = digits.pixel_value(0, normalize=True)
    assert x[black].min().item() == pytest.approx(value, rel=1e-6)
    assert x[black].max().item() == pytest.approx(value, rel=1e-6)
    assert digits.pixel_value(255, normalize=False) == (1.0,)
    with pytest.raises(ValueError, match=r"level must be an int in \[0, 255\]"):
        digits.pixel_value(256)


def test_scheduled_lr_against_hand_written_values():
    # 3 steps per epoch, one warm-up epoch (first step at lr 0), x0.5 after epochs 2 and 4.
    expected = [0.0, 1 / 3, 2 / 3, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]
    got = [scheduled_lr(s, 3, base_lr=1.0, lr_milestones=(2, 4), lr_gamma=0.5, warmup_epochs=1) for s in range(1, 16)]
    assert got == pytest.approx(expected)
    # The authors' SoTA schedule (base 0.1, x0.2 after 60/120/160/200), 10 steps per epoch, no warm-up.
    sota = {1: 0.1, 600: 0.1, 601: 0.02, 1200: 0.02, 1201: 0.004, 1601: 0.0008, 2001: 0.00016, 2600: 0.00016}
    for step, lr in sota.items():
        assert scheduled_lr(step, 10, base_lr=0.1, lr_milestones=(60, 120, 160, 200), lr_gamma=0.2) == pytest.approx(lr)
    assert scheduled_lr(7, 2, base_lr=0.3) == 0.3  # no schedule: the constant rate
    with pytest.raises(ValueError, match="step and steps_per_epoch must be >= 1"):
        scheduled_lr(0, 3, base_lr=1.0)


def _twin_train_sota(model, optimizer, x, y, idx, *, batch_size, epochs, generator, base_lr, lr_at, padding, fill):
    """Fixed-length training, written out: set the lr per step, augment with the NumPy twin."""
    model.train()
    n, step = len(idx), 0
    for _ in range(epochs):
        order = idx[torch.randperm(n, generator=generator)]
        for start in range(0, n, batch_size):
            b = order[start : start + batch_size]
            B = len(b)
            top = torch.randint(0, 2 * padding + 1, (B,), generator=generator)
            left = torch.randint(0, 2 * padding + 1, (B,), generator=generator)
            flip = torch.randint(0, 2, (B,), generator=generator).bool()
            xb = torch.from_numpy(_numpy_crop_flip(x[b].numpy(), top.numpy(), left.numpy(), flip.numpy(), padding,
                                                   fill))
            step += 1
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
            optimizer.zero_grad()
            F.cross_entropy(model(xb), y[b]).backward()
            optimizer.step()


def test_sota_loop_matches_twin_and_restarts_every_call(digits):
    cfg = TrainConfig(data="digits", model="mlp", width=32, method="warm", batch_size=64, lr=0.05, weight_decay=5e-4,
                      augment=True,
                      crop_padding=2, lr_milestones=(2,), lr_gamma=0.2, warmup_epochs=1, max_epochs=3, device="cpu")
    x, y = digits.as_float("train", normalize=True)
    fill = digits.pixel_value(0, normalize=True)
    idx = torch.arange(200)  # 4 steps per epoch (the last batch has 8 images)
    torch.manual_seed(1)
    learner = build_learner(cfg, digits, torch.device("cpu"))
    torch.manual_seed(1)
    twin = build_learner(cfg, digits, torch.device("cpu"))
    hand = [0.0, 0.0125, 0.025, 0.0375] + [0.05] * 4 + [0.01] * 4  # warm-up epoch, then x0.2 after epoch 2
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    for _ in range(2):  # the second call must restart the warm-up and the milestones
        res = train_until_target(learner, make_method("warm"), x, y, idx, config=cfg, generator=g1, fill=fill,
                                 stop_at_target=False)
        assert (res.steps, res.epochs) == (12, 3)
        assert [g["lr"] for g in learner.optimizer.param_groups] == [0.05]  # reset to the base rate
        _twin_train_sota(twin.model, twin.optimizer, x, y, idx, batch_size=64, epochs=3, generator=g2, base_lr=0.05,
                         lr_at=lambda s: hand[s - 1], padding=2, fill=fill)
        for p, q in zip(learner.model.parameters(), twin.model.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert torch.equal(g1.get_state(), g2.get_state())


def test_augmented_steps_get_the_fill_as_a_ready_tensor(digits, monkeypatch):
    """The fill is built once per call: every crop gets a tensor on x's device and dtype (no per-step host copy)."""
    cfg = TrainConfig(data="digits", model="mlp", width=16, method="warm", batch_size=32, augment=True, crop_padding=1,
                      max_epochs=2, device="cpu")
    x, y = digits.as_float("train", normalize=True)
    fills, real = [], data.crop_flip

    def spy(xb, top, left, flip, *, padding, fill):
        fills.append(fill)
        return real(xb, top, left, flip, padding=padding, fill=fill)

    monkeypatch.setattr(data, "crop_flip", spy)
    torch.manual_seed(0)
    learner = build_learner(cfg, digits, torch.device("cpu"))
    res = train_until_target(learner, make_method("warm"), x, y, torch.arange(96), config=cfg,
                             generator=torch.Generator().manual_seed(0),
                             fill=digits.pixel_value(0, normalize=True), stop_at_target=False)
    assert len(fills) == res.steps == 6
    assert all(isinstance(f, torch.Tensor) and f.dtype == x.dtype and f.device == x.device for f in fills)
    assert all(f is fills[0] for f in fills)
    torch.testing.assert_close(fills[0], torch.tensor(digits.pixel_value(0, normalize=True)))


def test_prepare_data_fill_is_a_black_pixel_of_the_normalization_and_augment_requires_it(digits):
    from dashsim.nn.train import prepare_data

    cpu = torch.device("cpu")
    for model, normalize in (("mlp", None), ("mlp", True), ("resnet18", None)):
        cfg = TrainConfig(data="digits", model=model, normalize=normalize, test_subset=7, device="cpu")
        prepared = prepare_data(cfg, digits, cpu)
        x, y = digits.as_float("train", normalize=cfg.resolved_normalize)
        assert torch.equal(prepared.x, x) and torch.equal(prepared.y, y) and prepared.x_test.shape[0] == 7
        black = digits.x_train == 0  # raw black pixels land exactly on the fill value
        assert prepared.fill == digits.pixel_value(0, normalize=cfg.resolved_normalize)
        torch.testing.assert_close(prepared.x[black], torch.full((int(black.sum()),), prepared.fill[0]))
    cfg = TrainConfig(data="digits", model="mlp", width=16, method="warm", augment=True, device="cpu", max_epochs=1)
    learner = build_learner(cfg, digits, cpu)
    with pytest.raises(ValueError, match="fill must be given with config.augment"):
        train_until_target(learner, make_method("warm"), x, y, torch.arange(10), config=cfg,
                           generator=torch.Generator())


def test_flat_models_skip_channels_last_and_only_the_mlp_skips_normalization(digits):
    from dashsim.nn.models import MODELS, is_flat
    from dashsim.nn.train import prepare_data

    FLAT_MODELS = {name for name in MODELS if MODELS[name].flat}
    assert FLAT_MODELS == {name for name in MODELS if is_flat(name)} == {"mlp", "logistic", "mlp_ash"}
    # Pinned: finished runs recorded these defaults in their configs.
    assert {m: TrainConfig(model=m).resolved_normalize for m in MODELS} == {m: m != "mlp" for m in MODELS}
    rng = np.random.default_rng(0)
    rgb = data._make("rgb", rng.integers(0, 256, (6, 3, 4, 4)), np.arange(6) % 2, rng.integers(0, 256, (2, 3, 4, 4)),
                     np.arange(2), 2)
    for model in MODELS:
        cfg = TrainConfig(data="digits", model=model, width=8, channels_last=True, device="cpu")
        prepared = prepare_data(cfg, rgb, torch.device("cpu"))
        flat = model in FLAT_MODELS
        assert prepared.x.is_contiguous() == flat, model
        assert prepared.x.is_contiguous(memory_format=torch.channels_last) != flat, model


def test_crop_flip_tensor_fill_equals_float_fill():
    x = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    top, left = torch.randint(0, 5, (4,), generator=g), torch.randint(0, 5, (4,), generator=g)
    flip = torch.tensor([True, False, True, False])
    fill = (0.25, -1.5, 3.0)
    a = data.crop_flip(x, top, left, flip, padding=2, fill=fill)
    b = data.crop_flip(x, top, left, flip, padding=2, fill=data.fill_tensor(fill, x))
    assert torch.equal(a, b) and (a == -1.5).any()


def test_sota_preset_and_new_field_validation():
    cfg = apply_preset(TrainConfig(model="resnet18"), "sota")
    assert (cfg.resolved_lr, cfg.weight_decay, cfg.augment, cfg.crop_padding) == (0.1, 5e-4, True, 4)
    assert (cfg.lr_milestones, cfg.lr_gamma, cfg.warmup_epochs, cfg.max_epochs) == ((60, 120, 160, 200), 0.2, 1, 260)
    default = TrainConfig()
    assert (default.augment, default.lr_milestones, default.warmup_epochs) == (False, (), 0)  # off by default
    with pytest.raises(ValueError, match=r"preset must be one of \['sota', 'ash_adams'\]"):
        apply_preset(default, "fast")
    for field, value, pattern in [
        ("lr_milestones", (60, 60), "lr_milestones must be strictly increasing ints >= 1"),
        ("lr_milestones", (0,), "lr_milestones must be strictly increasing"),
        ("lr_gamma", 0.0, r"lr_gamma must be in \(0, 1\]"),
        ("warmup_epochs", -1, "warmup_epochs must be an integer >= 0"),
        ("crop_padding", -2, "crop_padding must be an integer >= 0"),
    ]:
        with pytest.raises(ValueError, match=pattern):
            dataclasses.replace(default, **{field: value})


def test_augment_rejects_flat_inputs(digits):
    cfg = TrainConfig(data="digits", model="mlp", width=16, method="warm", augment=True, device="cpu", max_epochs=1)
    torch.manual_seed(0)
    learner = build_learner(cfg, digits, torch.device("cpu"))
    x, y = digits.as_float("train", normalize=False)
    with pytest.raises(ValueError, match="augment needs image inputs"):
        train_until_target(learner, make_method("warm"), x.flatten(1), y, torch.arange(10), config=cfg,
                           generator=torch.Generator())


def test_compile_flag_keeps_state_dict_keys_and_is_off_by_default(digits):
    assert TrainConfig().compile is False
    cfg = TrainConfig(data="digits", model="mlp", width=16, compile=True, device="cpu")
    torch.manual_seed(0)
    learner = build_learner(cfg, digits, torch.device("cpu"))  # compiling itself is lazy: nothing runs yet
    torch.manual_seed(0)
    plain = build_learner(dataclasses.replace(cfg, compile=False), digits, torch.device("cpu"))
    assert list(learner.model.state_dict()) == list(plain.model.state_dict()) == list(learner.initial_state)
    assert type(learner.model) is type(plain.model)


@pytest.mark.slow
def test_compiled_training_matches_eager_on_cpu(digits):
    """torch.compile on CPU takes 35-100 s for this tiny MLP (2-core machine, varying load), hence slow."""
    x, y = digits.as_float("train", normalize=False)
    results = {}
    for flag in (False, True):
        cfg = TrainConfig(data="digits", model="mlp", width=16, method="warm", compile=flag, batch_size=64,
                          max_epochs=2, device="cpu")
        torch.manual_seed(0)
        learner = build_learner(cfg, digits, torch.device("cpu"))
        res = train_until_target(learner, make_method("warm"), x, y, torch.arange(256), config=cfg,
                                 generator=torch.Generator().manual_seed(0))
        results[flag] = (res, torch.cat([p.detach().flatten() for p in learner.model.parameters()]))
    assert results[True][0].steps == results[False][0].steps == 8
    torch.testing.assert_close(results[True][1], results[False][1], rtol=1e-4, atol=1e-5)


def test_a_given_data_set_names_the_run_data(tmp_path, digits):
    # The data set passed to a run sets config.data to its name (there is no mismatch with config.data).
    resolved = engine.resolve(TrainConfig(data="fashion-mnist", model="mlp"), dataset=digits)
    assert resolved.config.data == "digits" and resolved.dataset is digits
    renamed = data.ImageDataset.from_tensors(digits.x_train, digits.y_train, digits.x_test, digits.y_test, name="mine")
    assert engine.resolve(TrainConfig(data="digits", model="mlp"), dataset=renamed).config.data == "mine"
    assert engine.resolve(TrainConfig(data="digits", model="mlp"), dataset="digits").dataset.name == "digits"
    with pytest.raises(TypeError, match="dataset must be an ImageDataset or a registered name"):
        engine.resolve(TrainConfig(data="digits", model="mlp"), dataset=(digits.x_train, digits.y_train))
    config = TrainConfig(data="fashion-mnist", model="mlp", width=8, method="warm", J=2, subset=60, max_epochs=1,
                         device="cpu", out=str(tmp_path / "run"))
    rows = engine.run(config, engine.PROTOCOLS["incremental"](), dataset=renamed)
    assert (rows["dataset"] == "mine").all()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data"] == "mine"
