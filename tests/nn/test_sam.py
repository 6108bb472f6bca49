"""SAM against a hand transcription of Foret et al.'s update, with SGD and Adam bases."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dashsim.nn import SAM


def _problem(seed: int):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    x = torch.randn(16, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (16,))
    return model, x, y


def _grads(model, x, y, params):
    """Gradient of the loss at the given parameter values, by a functional call (no optimizer)."""
    names = [n for n, _ in model.named_parameters()]
    leaves = [p.detach().clone().requires_grad_(True) for p in params]
    out = torch.func.functional_call(model, dict(zip(names, leaves)), (x,))
    return torch.autograd.grad(F.cross_entropy(out, y), leaves)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("rho", [0.05, 0.5])
def test_sgd_base_matches_transcription(seed, rho):
    model, x, y = _problem(seed)
    lr = 0.1
    w = [p.detach().clone() for p in model.parameters()]
    # Foret et al. Algorithm 1: e = rho g / ||g||; w <- w - lr * grad L(w + e).
    g = _grads(model, x, y, w)
    norm = torch.sqrt(sum((gi**2).sum() for gi in g))
    g_adv = _grads(model, x, y, [wi + rho * gi / norm for wi, gi in zip(w, g)])
    expected = [wi - lr * gi for wi, gi in zip(w, g_adv)]

    opt = SAM(model.parameters(), torch.optim.SGD, rho=rho, lr=lr)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    # Both usages: gradient already computed outside, and step(closure) alone.
    closure()
    opt.step(closure)
    for p, e in zip(model.parameters(), expected):
        torch.testing.assert_close(p.detach(), e)
    assert all(p.grad is None for p in model.parameters())

    model2, _, _ = _problem(seed)
    opt2 = SAM(model2.parameters(), torch.optim.SGD, rho=rho, lr=lr)

    def closure2():
        opt2.zero_grad()
        loss = F.cross_entropy(model2(x), y)
        loss.backward()
        return loss

    loss = opt2.step(closure2)
    torch.testing.assert_close(loss.detach(), F.cross_entropy(_problem(seed)[0](x), y).detach())
    for p, e in zip(model2.parameters(), expected):
        torch.testing.assert_close(p.detach(), e)


def test_adam_base_keeps_its_state_and_reduces_loss():
    model, x, y = _problem(0)
    opt = SAM(model.parameters(), torch.optim.Adam, rho=0.1, lr=0.01)
    assert opt.requires_closure is True
    assert not getattr(torch.optim.Adam(model.parameters()), "requires_closure", False)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    first = float(closure().detach())
    for _ in range(30):
        opt.step(closure)
    assert float(closure().detach()) < first
    p0 = next(model.parameters())
    assert int(opt.base_optimizer.state[p0]["step"]) == 30
    state = opt.state_dict()
    opt2 = SAM(model.parameters(), torch.optim.Adam, rho=0.1, lr=0.01)
    opt2.load_state_dict(state)
    torch.testing.assert_close(opt2.base_optimizer.state[p0]["exp_avg"], opt.base_optimizer.state[p0]["exp_avg"])
    assert opt.param_groups is opt.base_optimizer.param_groups


def test_bad_arguments():
    model, _, _ = _problem(0)
    with pytest.raises(ValueError, match="rho"):
        SAM(model.parameters(), torch.optim.SGD, rho=-0.1, lr=0.1)
    with pytest.raises(TypeError, match="base_optimizer_cls"):
        SAM(model.parameters(), "sgd", lr=0.1)
    opt = SAM(model.parameters(), torch.optim.SGD, lr=0.1)
    with pytest.raises(ValueError, match="closure"):
        opt.step()
