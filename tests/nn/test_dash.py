"""dash_ against the direct transcription of Algorithm 1 in dash_reference.py, plus its invariants."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from dashsim.nn import dash_, dash_shrink
from dashsim.nn.dash import eval_gradients, group_cosines, mean_loss_gradients

from dash_reference import dash_reference


def _random_net(gen: torch.Generator) -> nn.Module:
    """A small float64 net with Conv (bias and no bias), BN with non-trivial stats, Linear with bias."""
    c1, c2, hidden = (int(torch.randint(1, 5, (1,), generator=gen)) for _ in range(3))
    torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=gen)))
    net = nn.Sequential(
        nn.Conv2d(2, c1, 3, bias=True),
        nn.BatchNorm2d(c1),
        nn.ReLU(),
        nn.Conv2d(c1, c2, 2, bias=False),
        nn.BatchNorm2d(c2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(c2 * 4 * 4, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        nn.Linear(hidden, 3),
    ).double()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0.0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
    return net


def _chunks(gen: torch.Generator, sizes: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [
        (torch.randn(n, 2, 7, 7, generator=gen, dtype=torch.float64), torch.randint(0, 3, (n,), generator=gen))
        for n in sizes
    ]


def _assert_same_state(a: nn.Module, b: nn.Module, atol: float = 1e-12) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=1e-10, atol=atol, msg=k)


@pytest.mark.parametrize("seed", range(12))
def test_matches_reference_transcription(seed):
    gen = torch.Generator().manual_seed(seed)
    net = _random_net(gen)
    n_chunks = int(torch.randint(1, 5, (1,), generator=gen))
    chunks = _chunks(gen, [int(torch.randint(1, 9, (1,), generator=gen)) for _ in range(n_chunks)])
    alpha = float(torch.empty(1).uniform_(0.05, 1.0, generator=gen))
    # Squared so small lam (where the cosines, not the clamp, decide) are common.
    lam = float(torch.empty(1).uniform_(0.03, 1.0, generator=gen)) ** 2
    granularity = "kernel" if seed % 3 else "filter"
    expected = dash_reference(net, chunks, alpha=alpha, lam=lam, granularity=granularity)
    got = dash_(copy.deepcopy(net), chunks, alpha=alpha, lam=lam, batch_size=3, granularity=granularity)
    _assert_same_state(got, expected)
    # The rule actually changed something (so the comparison is not vacuous).
    assert any(not torch.equal(got.state_dict()[k], net.state_dict()[k]) for k in net.state_dict())


def test_kernel_and_filter_groupings_differ():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 3)).double()
    chunks = _chunks(torch.Generator().manual_seed(0), [16, 16])
    # A tiny lam so that the cosines, not the clamp, decide the factors.
    a = dash_(copy.deepcopy(net), chunks, lam=1e-3, granularity="kernel")
    b = dash_(copy.deepcopy(net), chunks, lam=1e-3, granularity="filter")
    ratio_a, ratio_b = a[0].weight / net[0].weight, b[0].weight / net[0].weight
    # Filter grouping: one factor per output filter; kernel grouping: one per (out, in) slice.
    torch.testing.assert_close(ratio_b, ratio_b[:, :1, :1, :1].expand_as(ratio_b))
    assert not torch.allclose(ratio_a, ratio_a[:, :1, :1, :1].expand_as(ratio_a))
    torch.testing.assert_close(a[-1].weight, b[-1].weight)  # Linear rows are the same groups


def test_lam_one_changes_nothing():
    gen = torch.Generator().manual_seed(1)
    net, chunks = _random_net(gen), _chunks(gen, [5, 4])
    got = dash_(copy.deepcopy(net), chunks, lam=1.0)
    for k, v in net.state_dict().items():
        assert torch.equal(got.state_dict()[k], v), k


def test_alpha_one_uses_only_newest_chunk():
    gen = torch.Generator().manual_seed(2)
    net, chunks = _random_net(gen), _chunks(gen, [5, 4, 6])
    all_chunks = dash_(copy.deepcopy(net), chunks, alpha=1.0, lam=0.2)
    newest = dash_(copy.deepcopy(net), chunks[-1:], alpha=1.0, lam=0.2)
    _assert_same_state(all_chunks, newest)
    older = dash_(copy.deepcopy(net), chunks[:1], alpha=1.0, lam=0.2)
    assert not torch.allclose(older[-1].weight, newest[-1].weight)


def test_mini_batches_equal_pair_form():
    gen = torch.Generator().manual_seed(3)
    net, chunks = _random_net(gen), _chunks(gen, [7, 9])
    pair = dash_(copy.deepcopy(net), chunks, batch_size=1024)
    small = dash_(copy.deepcopy(net), chunks, batch_size=2)
    # Iterable form with uneven mini-batches (and a generator, so it is consumed once).
    split = [[(x[:1], y[:1]), (x[1:5], y[1:5]), (x[5:], y[5:])] for x, y in chunks]
    iterable = dash_(copy.deepcopy(net), [split[0], (b for b in split[1])])
    _assert_same_state(small, pair)
    _assert_same_state(iterable, pair)


def test_zero_weights_and_zero_gradients_give_no_nan():
    gen = torch.Generator().manual_seed(4)
    net, chunks = _random_net(gen), _chunks(gen, [5])
    zero = copy.deepcopy(net)
    with torch.no_grad():
        for m in zero.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                m.weight.zero_()
                if m.bias is not None:
                    m.bias.zero_()
    dash_(zero, chunks)
    assert all(torch.isfinite(v).all() for v in zero.state_dict().values() if v.is_floating_point())

    # Zero loss gradient: every group has similarity 0, so every Conv/Linear tensor is scaled by lam.
    lam = 0.4
    got = dash_(copy.deepcopy(net), chunks, lam=lam, loss_fn=lambda out, y: 0.0 * out.sum())
    for layer, new_layer in zip(net, got):
        factor = lam if isinstance(layer, (nn.Linear, nn.Conv2d)) else 1.0
        for (name, p), (_, q) in zip(layer.named_parameters(), new_layer.named_parameters()):
            torch.testing.assert_close(q, p * factor, rtol=0, atol=0, msg=name)


def test_optimizer_state_bn_mode_and_grad_untouched():
    gen = torch.Generator().manual_seed(5)
    net, chunks = _random_net(gen), _chunks(gen, [6, 3])
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net.train()
    torch.nn.functional.cross_entropy(net(chunks[0][0]), chunks[0][1]).backward()
    opt.step()
    net[1].eval()  # a mixed mode must come back exactly
    grads = {n: p.grad.clone() for n, p in net.named_parameters()}
    momentum = {n: opt.state[p]["momentum_buffer"].clone() for n, p in net.named_parameters()}
    bn_before = {k: v.clone() for k, v in net.state_dict().items() if k.startswith(("1.", "4.", "8."))}
    modes = [m.training for m in net.modules()]

    dash_(net, chunks)

    assert [m.training for m in net.modules()] == modes
    for n, p in net.named_parameters():
        assert torch.equal(p.grad, grads[n]), n
        assert torch.equal(opt.state[p]["momentum_buffer"], momentum[n]), n
    for k, v in bn_before.items():
        assert torch.equal(net.state_dict()[k], v), k


def test_works_under_no_grad_frozen_parameters_and_channels_last():
    gen = torch.Generator().manual_seed(6)
    net, chunks = _random_net(gen), _chunks(gen, [5])
    expected = dash_reference(net, chunks, alpha=0.3, lam=0.3)
    net[0].weight.requires_grad_(False)
    with torch.no_grad():
        got = dash_(copy.deepcopy(net), chunks)
    _assert_same_state(got, expected)
    # Non-contiguous weights (channels_last convs) are shrunk in place too.
    got = dash_(copy.deepcopy(net).to(memory_format=torch.channels_last), chunks)
    assert not got[0].weight.is_contiguous()
    assert got[0].weight.requires_grad is False
    _assert_same_state(got, expected)


def test_dash_shrink_hand_example():
    w = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 0.0]])
    g = torch.tensor([[3.0, 4.0], [0.0, 2.0], [1.0, 1.0]])
    out = dash_shrink(w, g, 0.25)
    # row 0: cos 1 -> kept; row 1: cos 0 -> lam; row 2: zero weight -> 0 (finite).
    torch.testing.assert_close(out, torch.tensor([[3.0, 4.0], [0.25, 0.0], [0.0, 0.0]]))
    assert torch.equal(w, torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 0.0]]))  # pure
    # Negative alignment is clamped up to lam, partial alignment keeps cos.
    out = dash_shrink(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 0.0]), 0.1)
    torch.testing.assert_close(out, torch.tensor([1.0, 1.0]) * 2**-0.5)
    out = dash_shrink(torch.tensor([1.0, 1.0]), torch.tensor([-1.0, 0.0]), 0.1)
    torch.testing.assert_close(out, torch.tensor([0.1, 0.1]))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(alpha=0.0), "alpha"),
        (dict(alpha=1.5), "alpha"),
        (dict(lam=0.0), "lam"),
        (dict(lam=-0.2), "lam"),
        (dict(lam=float("nan")), "lam"),
        (dict(granularity="neuron"), "granularity"),
        (dict(batch_size=0), "batch_size"),
    ],
)
def test_bad_hyper_parameters(kwargs, match):
    gen = torch.Generator().manual_seed(7)
    net, chunks = _random_net(gen), _chunks(gen, [3])
    with pytest.raises(ValueError, match=match):
        dash_(net, chunks, **kwargs)


def test_bad_chunks_and_model():
    gen = torch.Generator().manual_seed(8)
    net, chunks = _random_net(gen), _chunks(gen, [3])
    x, y = chunks[0]
    with pytest.raises(ValueError, match="empty"):
        dash_(net, [])
    with pytest.raises(ValueError, match="targets"):
        dash_(net, [x])
    with pytest.raises(ValueError, match="targets"):
        dash_(net, [(x, None)])
    with pytest.raises(ValueError, match="targets"):
        dash_(net, [[(x,)]])
    with pytest.raises(ValueError, match="empty"):
        dash_(net, [(x[:0], y[:0])])
    with pytest.raises(TypeError, match="sequence of chunks"):
        dash_(net, (x, y))
    with pytest.raises(TypeError, match="alpha"):
        dash_(net, chunks, alpha=True)
    with pytest.raises(ValueError, match="no shrinkable layer"):
        dash_(nn.Sequential(nn.BatchNorm1d(3)).double(), [(torch.randn(4, 3, dtype=torch.float64), y[:1].repeat(4))])


def test_layer_unused_by_forward_is_scaled_by_lam():
    class WithSpare(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.spare = nn.Linear(3, 2), nn.Linear(3, 3)

        def forward(self, x):
            return self.used(x)

    torch.manual_seed(0)
    net = WithSpare()
    spare = net.spare.weight.detach().clone()
    dash_(net, [(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]))], lam=0.5)
    # Its gradient is zero, so its similarity is 0 and it is scaled by lam (no error, no NaN).
    torch.testing.assert_close(net.spare.weight.detach(), 0.5 * spare)


def test_group_cosines_match_a_loop_over_groups():
    gen = torch.Generator().manual_seed(5)
    for shape, granularity in [((4, 3, 2, 2), "kernel"), ((4, 3, 2, 2), "filter"), ((5, 6), "kernel"),
                               ((7,), "filter")]:
        w = torch.randn(shape, generator=gen, dtype=torch.float64)
        g = torch.randn(shape, generator=gen, dtype=torch.float64)
        w.reshape(-1)[: w.numel() // shape[0]] = 0.0  # the first group (or the whole bias) has no direction
        if len(shape) == 4 and granularity == "kernel":
            pairs = [(w[o, i].reshape(-1), g[o, i].reshape(-1)) for o in range(shape[0]) for i in range(shape[1])]
        elif len(shape) == 1:
            pairs = [(w, g)]
        else:
            pairs = [(w[o].reshape(-1), g[o].reshape(-1)) for o in range(shape[0])]
        expected = [float(a @ b / (a.norm() * b.norm())) if a.norm() * b.norm() > 0 else 0.0 for a, b in pairs]
        got = group_cosines(w, g, granularity)
        assert got.shape == (len(pairs),)
        torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=1e-12)
        assert not torch.isnan(got).any()


def test_mean_loss_gradients_equal_one_batch_autograd_and_restore_the_model():
    gen = torch.Generator().manual_seed(11)
    net = _random_net(gen).train()
    (x, y), = _chunks(gen, [13])
    twin = copy.deepcopy(net).eval()
    params = list(net.parameters())
    sentinel = torch.ones_like(params[0])
    params[0].grad = sentinel
    params[1].requires_grad_(False)  # a frozen parameter still gets its gradient, and stays frozen
    expected = torch.autograd.grad(torch.nn.functional.cross_entropy(twin(x), y), list(twin.parameters()))
    got = mean_loss_gradients(net, params, (x, y), batch_size=4)
    for u, e in zip(got, expected):
        torch.testing.assert_close(u, e, rtol=1e-10, atol=1e-12)
    assert net.training and params[0].grad is sentinel and not params[1].requires_grad
    with pytest.raises(RuntimeError, match="boom"), eval_gradients(net, params):
        raise RuntimeError("boom")
    assert all(m.training for m in net.modules()) and params[0].grad is sentinel and not params[1].requires_grad
