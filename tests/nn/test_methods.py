"""The between-experiments methods: one contract test over the whole registry, then each rule."""

from __future__ import annotations

import copy
import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dashsim.nn import METHODS, SAM, Dash, Learner, Method, build_model, dash_, make_method

OPTIMIZERS = {
    "sgd": lambda m: torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9),
    "adam": lambda m: torch.optim.Adam(m.parameters(), lr=1e-3),
    "sam": lambda m: SAM(m.parameters(), torch.optim.SGD, rho=0.1, lr=0.05, momentum=0.9),
}


class TinyConvNet(nn.Module):
    """Conv (with bias) - BN - ReLU - Conv (no bias) - BN - ReLU - pool - Linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 4, 3, bias=True), nn.BatchNorm2d(4), nn.ReLU(),
            nn.Conv2d(4, 6, 3, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        )
        self.head = nn.Linear(24, 3)

    def forward(self, x):
        return self.head(self.body(x))


def _data(seed: int, n: int = 12, size: int = 8):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, size, size, generator=g), torch.randint(0, 3, (n,), generator=g)


def _train_step(learner: Learner, x, y, penalty=None):
    model, opt = learner.model, learner.optimizer
    model.train()

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        if penalty is not None:
            loss = loss + penalty()
        loss.backward()
        return loss

    if getattr(opt, "requires_closure", False):
        opt.step(closure)
    else:
        closure()
        opt.step()


def _trained_learner(opt_name: str, build=TinyConvNet, size: int = 8) -> Learner:
    torch.manual_seed(0)
    learner = Learner.create(build, OPTIMIZERS[opt_name])
    _train_step(learner, *_data(1, size=size))
    return learner


def _state(learner: Learner) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in learner.model.state_dict().items()}


def _opt_tensors(opt) -> list[torch.Tensor]:
    base = getattr(opt, "base_optimizer", opt)
    return [v.clone() for p_state in base.state.values() for v in p_state.values() if isinstance(v, torch.Tensor)]


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("name", sorted(METHODS))
def test_contract_over_registry(name, opt_name):
    method = make_method(name)
    assert method.name == name and isinstance(method, METHODS[name])
    chunks = [_data(2), _data(3)]
    results = []
    for global_seed in (11, 22):  # the result must depend on the generator only, not the global RNG
        learner = _trained_learner(opt_name)
        before = _state(learner)
        torch.manual_seed(global_seed)
        new = method.before_experiment(learner, chunks, generator=torch.Generator().manual_seed(5))
        assert isinstance(new, Learner)
        after = _state(new)
        assert after.keys() == before.keys()
        for k in before:
            assert after[k].shape == before[k].shape and after[k].dtype == before[k].dtype, k
            assert after[k].device.type == "cpu"
        assert all(p is q for p, q in zip(new.optimizer.param_groups[0]["params"], new.model.parameters()))
        pen = method.penalty(new)
        assert pen is None or (pen.ndim == 0 and torch.isfinite(pen))
        # A training step after the method runs, with its penalty, changes the weights.
        _train_step(new, *_data(4), penalty=None if pen is None else functools.partial(method.penalty, new))
        stepped = _state(new)
        assert any(not torch.equal(stepped[k], after[k]) for k in after)
        assert all(torch.isfinite(v).all() for v in stepped.values() if v.is_floating_point())
        results.append(after)
    for k in results[0]:
        assert torch.equal(results[0][k], results[1][k]), k


def test_unknown_method_and_hyper_parameter():
    with pytest.raises(ValueError, match="known: .*dash"):
        make_method("dahs")
    with pytest.raises(TypeError, match="'beta'.*allowed: alpha, lam"):
        make_method("dash", beta=0.5)
    with pytest.raises(TypeError, match="'lam'.*cold"):
        make_method("cold", lam=0.5)


@pytest.mark.parametrize(
    "name, hyper, field",
    [
        ("dash", dict(alpha=0.0), "alpha"),
        ("dash", dict(alpha=1.01), "alpha"),
        ("dash", dict(lam=0.0), "lam"),
        ("dash", dict(lam=2.0), "lam"),
        ("dash", dict(granularity="row"), "granularity"),
        ("sp", dict(lam=0.0), "lam"),
        ("sp", dict(sigma=-0.1), "sigma"),
        ("sp_ash", dict(shrink=1.5), "shrink"),
        ("shrink", dict(lam=-1.0), "lam"),
        ("l2_init", dict(c=-1.0), "c"),
    ],
)
def test_out_of_range_hyper_parameters(name, hyper, field):
    with pytest.raises(ValueError, match=field):
        make_method(name, **hyper)


def _conv_linear_names(model: nn.Module) -> set[str]:
    return {
        f"{mod_name}.{p_name}"
        for mod_name, mod in model.named_modules()
        if isinstance(mod, (nn.Conv2d, nn.Linear))
        for p_name, _ in mod.named_parameters(recurse=False)
    }


def test_sp_adds_gaussian_noise_to_conv_linear_only():
    build = functools.partial(build_model, "mlp", num_classes=3, in_channels=1, image_size=28, width=64)
    learner = _trained_learner("sgd", build=build, size=28)
    before, opt_before = _state(learner), _opt_tensors(learner.optimizer)
    lam, sigma = 0.5, 0.1
    make_method("sp", lam=lam, sigma=sigma).before_experiment(learner, [], generator=torch.Generator().manual_seed(0))
    after = _state(learner)
    shrinkable = _conv_linear_names(learner.model)
    noise = torch.cat([(after[k] - lam * before[k]).flatten() for k in shrinkable])
    assert noise.numel() > 50_000
    assert abs(float(noise.std()) - sigma) < 0.02 * sigma
    assert abs(float(noise.mean())) < 0.02 * sigma
    for k in before.keys() - shrinkable:  # BN weights, biases, running stats
        assert torch.equal(after[k], before[k]), k
    for a, b in zip(_opt_tensors(learner.optimizer), opt_before):
        assert torch.equal(a, b)


def test_shrink_scales_conv_linear_only():
    learner = _trained_learner("sgd")
    before = _state(learner)
    make_method("shrink", lam=0.25).before_experiment(learner, [], generator=torch.Generator())
    after = _state(learner)
    shrinkable = _conv_linear_names(learner.model)
    for k in before:
        expected = before[k] * 0.25 if k in shrinkable else before[k]
        torch.testing.assert_close(after[k], expected, rtol=0, atol=0, msg=k)


def test_sp_ash_mixes_with_a_fresh_init():
    learner_a, learner_b = _trained_learner("sgd"), _trained_learner("sgd")
    old = _state(learner_a)
    make_method("sp_ash", shrink=0.6, perturb=0.1).before_experiment(
        learner_a, [], generator=torch.Generator().manual_seed(9)
    )
    make_method("sp_ash", shrink=0.3, perturb=0.5).before_experiment(
        learner_b, [], generator=torch.Generator().manual_seed(9)
    )
    a, b = _state(learner_a), _state(learner_b)
    for name, _ in learner_a.model.named_parameters():
        fresh = (a[name] - 0.6 * old[name]) / 0.1
        torch.testing.assert_close(b[name], 0.3 * old[name] + 0.5 * fresh, rtol=1e-5, atol=1e-5)
        if name.startswith("body.1.") or name.startswith("body.4."):  # BN: fresh weight 1, bias 0
            torch.testing.assert_close(fresh,
                                       torch.ones_like(fresh) if name.endswith("weight") else torch.zeros_like(fresh),
                                       rtol=1e-5, atol=1e-5)
        else:
            assert not torch.allclose(fresh, old[name])
    for k in old:
        if "running" in k or "num_batches" in k:
            assert torch.equal(a[k], old[k])


def test_cold_gives_fresh_model_and_optimizer_without_touching_global_rng():
    learner = _trained_learner("sgd")
    old = _state(learner)
    rng = torch.get_rng_state()
    new = make_method("cold").before_experiment(learner, [], generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), rng)
    assert new.model is not learner.model and new.optimizer is not learner.optimizer
    assert len(new.optimizer.state) == 0
    assert {id(p) for p in new.optimizer.param_groups[0]["params"]} == {id(p) for p in new.model.parameters()}
    fresh = _state(new)
    assert not torch.allclose(fresh["head.weight"], old["head.weight"])
    assert torch.equal(fresh["body.1.running_mean"], torch.zeros(4))  # BN statistics reset too
    assert new.initial_state is learner.initial_state


def test_warm_and_warm_rem():
    learner = _trained_learner("sgd")
    old, opt = _state(learner), learner.optimizer
    same = make_method("warm").before_experiment(learner, [], generator=torch.Generator())
    assert same.model is learner.model and same.optimizer is opt and len(opt.state) > 0
    rem = make_method("warm_rem").before_experiment(learner, [], generator=torch.Generator())
    assert rem.model is learner.model and rem.optimizer is not opt and len(rem.optimizer.state) == 0
    assert all(p is q for p, q in zip(rem.optimizer.param_groups[0]["params"], learner.model.parameters()))
    for k, v in _state(rem).items():
        assert torch.equal(v, old[k])


def test_reset_head_reinitializes_only_the_head():
    learner = _trained_learner("sgd")
    old = _state(learner)
    make_method("reset_head").before_experiment(learner, [], generator=torch.Generator().manual_seed(0))
    new = _state(learner)
    for k in old:
        if k.startswith("head."):
            assert not torch.allclose(new[k], old[k]), k
            bound = 1 / 24**0.5  # PyTorch's default Linear init is U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            assert float(new[k].abs().max()) <= bound
        else:
            assert torch.equal(new[k], old[k]), k


def test_l2_init_penalty():
    learner = _trained_learner("sgd")
    method = make_method("l2_init", c=0.3)
    fresh = Learner.create(TinyConvNet, OPTIMIZERS["sgd"])
    assert float(method.penalty(fresh).detach()) == 0.0
    by_hand = sum(
        float(((p.detach() - learner.initial_state[n]) ** 2).sum()) for n, p in learner.model.named_parameters()
    )
    learner.optimizer.zero_grad()
    pen = method.penalty(learner)
    assert by_hand > 0
    assert abs(float(pen.detach()) - 0.3 * by_hand) < 1e-6 * by_hand
    pen.backward()
    for n, p in learner.model.named_parameters():  # d/dW c ||W - W0||^2 = 2 c (W - W0)
        torch.testing.assert_close(p.grad, 0.6 * (p.detach() - learner.initial_state[n]))


def test_dash_method_equals_dash_():
    learner = _trained_learner("sgd")
    expected = copy.deepcopy(learner.model)
    chunks = [_data(2), _data(3)]
    dash_(expected, chunks, alpha=0.5, lam=0.1)
    make_method("dash", alpha=0.5, lam=0.1).before_experiment(learner, chunks, generator=torch.Generator())
    for k, v in expected.state_dict().items():
        assert torch.equal(learner.model.state_dict()[k], v), k


def test_hyper_parameters_are_the_typed_fields_and_the_name_defaults_to_the_class_name():
    dash = make_method("dash", lam=0.9, grad_batch_size=64)
    assert dash.hyperparameters() == {"alpha": 0.3, "lam": 0.9, "grad_batch_size": 64, "granularity": "kernel"}
    assert [type(v) for v in dash.hyperparameters().values()] == [float, float, int, str]
    assert make_method("sp").hyperparameters() == {"lam": 0.3, "sigma": 0.01}
    assert make_method("cold").hyperparameters() == {}
    # DASH's micro-batch size is grad_batch_size (batch_size is the training setting).
    with pytest.raises(TypeError, match="'batch_size'.*allowed: alpha, lam, grad_batch_size, granularity"):
        make_method("dash", batch_size=64)
    with pytest.raises(ValueError, match="grad_batch_size must be an integer >= 1"):
        make_method("dash", grad_batch_size=1.5)

    class Plain(Method):  # not a dataclass: no hyper-parameters
        def before_experiment(self, learner, chunks, *, generator):
            return learner

    class Stronger(Dash):  # a subclass never reports its parent's name
        pass

    assert Plain.name == Plain().name == "Plain" and Plain().hyperparameters() == {}
    assert Stronger.name == "Stronger" and Stronger(lam=0.5).hyperparameters()["lam"] == 0.5
    assert METHODS["dash"].name == "dash"
