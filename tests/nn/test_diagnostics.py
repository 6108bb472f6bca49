"""dashsim.nn.diagnostics against plain NumPy / one-batch autograd twins on many small random models."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dashsim.nn import build_model, dash_, data, protocols
from dashsim.nn import diagnostics as diag
from dashsim.nn.dash import group_cosines, mean_loss_gradients, shrinkable_parameters
from dashsim.nn.train import TrainConfig


def _small_net(seed: int, conv: bool) -> nn.Module:
    """A random little network with BatchNorm (so eval vs train mode matters) and biases."""
    torch.manual_seed(seed)
    if conv:
        return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                             nn.Conv2d(4, 3, 2, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    return nn.Sequential(nn.Flatten(), nn.Linear(10, 7), nn.BatchNorm1d(7), nn.ReLU(), nn.Linear(7, 6), nn.ReLU(),
                         nn.Linear(6, 5))


def _data(seed: int, conv: bool, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1000 + seed)
    x = torch.randn((n, 2, 5, 5) if conv else (n, 10), generator=g)
    return x, torch.randint(0, 5, (n,), generator=g)


def _twin_gradients(model: nn.Module, x, y) -> dict[str, np.ndarray]:
    """One-batch eval-mode gradient of the mean cross-entropy, on a copy, as NumPy arrays."""
    twin = copy.deepcopy(model).eval()
    params = {n: p for n, p in twin.named_parameters() if p.requires_grad}
    grads = torch.autograd.grad(F.cross_entropy(twin(x), y), list(params.values()))
    return {name: g.double().numpy() for name, g in zip(params, grads)}


def _np_groups(name: str, w: np.ndarray, granularity: str) -> np.ndarray:
    """DASH's groups written out per case: bias -> one, Linear -> rows, Conv -> kernels or filters."""
    if w.ndim == 1:
        return w[None, :]
    if w.ndim == 2:
        return w
    out, inp = w.shape[:2]
    if granularity == "filter":
        return np.stack([w[o].ravel() for o in range(out)])
    return np.stack([w[o, i].ravel() for o in range(out) for i in range(inp)])


@pytest.mark.parametrize("conv", [False, True])
def test_gradient_norm_matches_one_batch_autograd(conv):
    for seed in range(12):
        model = _small_net(seed, conv)
        if seed % 2:
            # Non-trivial BatchNorm statistics: eval mode must use them.
            with torch.no_grad():
                model(_data(seed + 50, conv, 64)[0] * 3 + 1)
        x, y = _data(seed, conv, 9 + 7 * seed)
        grads = _twin_gradients(model, x, y)
        expected = np.sqrt(sum((g ** 2).sum() for g in grads.values()))
        got = diag.gradient_norm(model, x, y, batch_size=1 + seed % 5)
        assert got == pytest.approx(expected, rel=1e-5)


def test_gradients_leave_the_model_as_it_was():
    model = _small_net(0, conv=False).train()
    model[-1].bias.requires_grad_(False)  # a frozen parameter is not in the norm, and stays frozen
    sentinel = torch.full_like(model[1].weight, 7.0)
    model[1].weight.grad = sentinel
    before = copy.deepcopy(model.state_dict())
    x, y = _data(0, False, 20)
    grads = _twin_gradients(model, x, y)
    expected = np.sqrt(sum((g ** 2).sum() for name, g in grads.items() if name != "6.bias"))
    assert diag.gradient_norm(model, x, y) == pytest.approx(expected, rel=1e-5)
    diag.filter_cosines(model, x, y)
    assert model.training and all(m.training for m in model.modules())
    assert model[1].weight.grad is sentinel and model[4].weight.grad is None
    assert not model[-1].bias.requires_grad and model[1].weight.requires_grad
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key  # BatchNorm running statistics included


@pytest.mark.parametrize("granularity", ["kernel", "filter"])
def test_filter_cosines_match_numpy_twin(granularity):
    for seed in range(10):
        conv = seed % 2 == 0
        model = _small_net(seed, conv)
        if seed == 4:
            with torch.no_grad():
                model[0].weight[1].zero_()  # zero-norm groups get cosine 0, as in DASH
        x, y = _data(seed, conv, 11 + 3 * seed)
        grads = _twin_gradients(model, x, y)
        got = diag.filter_cosines(model, x, y, granularity=granularity, batch_size=4)
        weights = {n: p.detach().double().numpy() for n, p in model.named_parameters() if not n.startswith(("1.", "2."))
                   or not conv and n.startswith("1.")}
        assert list(got) == [n for n in weights]
        for name, w in weights.items():
            wg, gg = _np_groups(name, w, granularity), _np_groups(name, -grads[name], granularity)
            norms = np.linalg.norm(wg, axis=1) * np.linalg.norm(gg, axis=1)
            expected = np.where(norms > 0, (wg * gg).sum(axis=1) / np.where(norms > 0, norms, 1), 0.0)
            np.testing.assert_allclose(got[name].numpy(), expected, rtol=1e-4, atol=1e-6, err_msg=name)
        if seed == 4:
            assert ((got["0.weight"].numpy().reshape(4, -1)[1] == 0).all() if granularity == "kernel"
                    else got["0.weight"][1] == 0)


def test_filter_cosines_are_the_factors_dash_applies_with_one_chunk():
    model = _small_net(3, conv=True)
    x, y = _data(3, True, 30)
    lam = 0.2
    cosines = diag.filter_cosines(model, x, y)
    shrunk = dash_(copy.deepcopy(model), [(x, y)], alpha=1.0, lam=lam)
    for name, p in model.named_parameters():
        if name in cosines:
            factor = cosines[name].clamp(lam, 1.0).float()
            q = dict(shrunk.named_parameters())[name]
            expected = (p.reshape(factor.numel(), -1) * factor[:, None]).reshape(p.shape) if p.ndim > 1 else p * factor
            torch.testing.assert_close(q, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("granularity", ["kernel", "filter"])
def test_filter_cosines_are_dash_group_cosines_of_the_mean_gradient(granularity):
    # Figure 14 and DASH's shrink factor share one cosine: the numbers must be identical, not close.
    for seed, conv in [(0, False), (1, True), (2, True)]:
        model = _small_net(seed, conv)
        x, y = _data(seed, conv, 17)
        got = diag.filter_cosines(model, x, y, granularity=granularity, batch_size=5)
        params = shrinkable_parameters(model)
        grads = mean_loss_gradients(model, params, (x, y), batch_size=5)
        names = {id(p): n for n, p in model.named_parameters()}
        assert list(got) == [names[id(p)] for p in params]
        for p, g in zip(params, grads):
            expected = group_cosines(p.detach().double(), -g.double(), granularity)
            assert got[names[id(p)]].dtype == torch.float64
            assert torch.equal(got[names[id(p)]], expected), names[id(p)]


def _np_dead_mlp(model: nn.Sequential, x: np.ndarray) -> list[tuple[int, int]]:
    """(units, dead) of each ReLU of Linear-ReLU-Linear-ReLU-Linear, by explicit matrix products."""
    h = x.reshape(len(x), -1)
    out = []
    for layer in (model[1], model[3]):
        h = np.maximum(h @ layer.weight.detach().double().numpy().T + layer.bias.detach().double().numpy(), 0.0)
        out.append((h.shape[1], int((h.max(axis=0) <= 0).sum())))
    return out


def test_dead_neurons_match_numpy_twin():
    for seed in range(15):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Flatten(), nn.Linear(6, 9), nn.ReLU(), nn.Linear(9, 8), nn.ReLU(), nn.Linear(8, 3))
        with torch.no_grad():  # push some units dead: large negative biases
            model[1].bias[: seed % 4].fill_(-50.0)
            model[3].bias[seed % 3 :: 3].sub_(seed / 5)
        x = torch.randn(5 + seed, 6, generator=torch.Generator().manual_seed(seed))
        table = diag.dead_neurons(model, x, batch_size=1 + seed % 4)
        expected = _np_dead_mlp(model, x.double().numpy())
        assert list(table["block"]) == ["2", "4"]
        assert list(zip(table["units"], table["dead"])) == expected
        np.testing.assert_allclose(table["dead_fraction"], [d / u for u, d in expected])
        assert table["dead"].iloc[0] >= seed % 4


def test_dead_channels_of_a_conv_net_and_resnet_blocks():
    model = _small_net(1, conv=True)
    with torch.no_grad():
        model[0].bias[2] = -100.0  # channel 2 of the first conv never fires (BN at its initial statistics)
    x = torch.randn(6, 2, 5, 5)
    table = diag.dead_neurons(model, x)
    with torch.no_grad():
        a = torch.relu(model[1].eval()(model[0](x)))
        b = torch.relu(model[3](a))
    expected = [int((a.amax(dim=(0, 2, 3)) <= 0).sum()), int((b.amax(dim=(0, 2, 3)) <= 0).sum())]
    assert list(table["units"]) == [4, 3] and list(table["dead"]) == expected and expected[0] >= 1
    torch.manual_seed(0)
    resnet = build_model("resnet18", num_classes=10, in_channels=1, image_size=28)
    blocks = diag.dead_neurons(resnet, torch.randn(4, 1, 28, 28))
    # The stem ReLU, then each BasicBlock's two ReLU applications (inner and output) pooled.
    assert list(blocks["block"]) == ["relu"] + [f"layer{i}.{k}" for i in range(1, 5) for k in range(2)]
    assert list(blocks["units"]) == [64, 128, 128, 256, 256, 512, 512, 1024, 1024]
    assert resnet.training
    with pytest.raises(ValueError, match="no nn.ReLU"):
        diag.dead_neurons(nn.Linear(3, 2), torch.randn(2, 3))


def test_weight_correlation_matches_numpy_corrcoef():
    for seed in range(10):
        conv = seed % 2 == 1
        reference = _small_net(seed, conv)
        model = copy.deepcopy(reference)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(0.5 + seed / 10).add_(torch.randn(p.shape, generator=g) * 0.1 * seed)
        got = diag.weight_correlation(model, reference.state_dict() if seed % 3 else reference)
        layer_names = [n for n, p in model.named_parameters() if n in got]
        now = {n: p.detach().double().numpy().ravel() for n, p in model.named_parameters()}
        before = {n: p.detach().double().numpy().ravel() for n, p in reference.named_parameters()}
        for name in layer_names:
            assert got[name] == pytest.approx(np.corrcoef(now[name], before[name])[0, 1], rel=1e-9, abs=1e-12)
        assert list(got)[-1] == "overall"
        expected = np.corrcoef(np.concatenate([now[n] for n in layer_names]),
                               np.concatenate([before[n] for n in layer_names]))[0, 1]
        assert got["overall"] == pytest.approx(expected, rel=1e-9)
        assert not any(n.startswith("1.") for n in layer_names) if conv else "2.weight" not in got  # BatchNorm excluded


def test_weight_correlation_edge_cases():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    ref = copy.deepcopy(model)
    with torch.no_grad():
        ref[0].bias.zero_()  # constant: the correlation is undefined
    r = diag.weight_correlation(model, ref)
    assert np.isnan(r["0.bias"]) and r["0.weight"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="reference has no tensor '1.weight'"):
        diag.weight_correlation(model, nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 5)))
    with pytest.raises(TypeError, match="reference must be"):
        diag.weight_correlation(model, [1, 2])


def test_bad_inputs_are_errors():
    model = _small_net(0, conv=False)
    x, y = _data(0, False, 5)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        diag.gradient_norm(model, x, y, batch_size=0)
    with pytest.raises(ValueError, match="granularity must be one of"):
        diag.filter_cosines(model, x, y, granularity="row")
    with pytest.raises(TypeError, match="y must be a tensor of 5 class labels"):
        diag.gradient_norm(model, x, y[:3])
    with pytest.raises(TypeError, match="x must be a non-empty tensor"):
        diag.dead_neurons(model, x.numpy())


def test_probes_inside_the_incremental_protocol(tmp_path):
    cfg = TrainConfig(data="digits", model="mlp", width=16, method="warm", J=2, seeds=(0,), max_epochs=3,
                      device="cpu", out=str(tmp_path / "run"))
    ds = data.load_digits()
    df = protocols.run_incremental(cfg, dataset=ds,
                                   probe=lambda learner, context: {**diag.gradient_norm_probe(learner, context),
                                                                   **diag.filter_cosine_probe(learner, context)},
                                   probe_after=lambda learner, context: {
                                       **diag.dead_neuron_probe(learner, context),
                                       **diag.weight_correlation_probe(learner, context)})
    assert (df["grad_norm"] > 0).all() and df["cos_mean"].between(-1, 1).all()
    assert {"cos:head.weight", "dead:body.3", "dead:body.6", "dead_all", "corr:body.1.weight",
            "corr_overall"} <= set(df.columns)
    assert df["dead_all"].between(0, 1).all()
    # Training moves the weights away from the first initialization, more so the longer it runs.
    assert (df["corr_overall"] < 1).all() and df["corr_overall"].iloc[1] < df["corr_overall"].iloc[0]


def test_start_correlation_probe_pair(tmp_path):
    cfg = TrainConfig(data="digits", model="mlp", width=16, method="sp", J=3, seeds=(0,), max_epochs=3,
                      device="cpu", out=str(tmp_path / "run"))
    pair = diag.StartCorrelation()
    starts = []
    real_probe = pair.probe

    def probe(learner, context):
        starts.append(copy.deepcopy(learner.model.state_dict()))
        return real_probe(learner, context)

    ends = []

    def probe_after(learner, context):
        ends.append(copy.deepcopy(learner.model))
        return pair.probe_after(learner, context)

    df = protocols.run_incremental(cfg, dataset=data.load_digits(), probe=probe, probe_after=probe_after)
    for j in range(3):
        assert df["corr_start_overall"].iloc[j] == pytest.approx(diag.weight_correlation(ends[j], starts[j])["overall"])
    # S&P shrinks and perturbs: the start of experiment 2 is not the end of experiment 1, so the two
    # correlations differ.
    end_to_end = diag.weight_correlation(ends[1], ends[0].state_dict())["overall"]
    assert df["corr_start_overall"].iloc[1] != pytest.approx(end_to_end)
    with pytest.raises(RuntimeError, match="needs StartCorrelation.probe"):
        diag.StartCorrelation().probe_after(None, None)
