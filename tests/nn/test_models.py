"""The paper's networks: parameter counts by hand formula, output shapes, init, a few training steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dashsim.nn import MODELS, build_model
from dashsim.nn.models import is_flat


def _conv(i: int, o: int, k: int) -> int:
    return i * o * k * k


def _bn(c: int) -> int:
    return 2 * c


def _resnet18_count(c: int, k: int) -> int:
    def block(i: int, o: int) -> int:
        shortcut = _conv(i, o, 1) + _bn(o) if i != o else 0
        return _conv(i, o, 3) + _bn(o) + _conv(o, o, 3) + _bn(o) + shortcut

    body = sum(block(i, o) + block(o, o) for i, o in ((64, 64), (64, 128), (128, 256), (256, 512)))
    return _conv(c, 64, 3) + _bn(64) + body + 512 * k + k


def _vgg16_count(c: int, k: int) -> int:
    total, i = 0, c
    for o in (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512):
        total += _conv(i, o, 3) + o + _bn(o)
        i = o
    return total + 512 * k + k


def _mlp_count(d: int, w: int, k: int) -> int:
    return (d * w + w) + _bn(w) + (w * w + w) + _bn(w) + (w * k + k)


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts():
    assert _resnet18_count(3, 10) == 11_173_962  # the well-known CIFAR ResNet-18 count
    for c, k in ((3, 10), (1, 100), (3, 200)):
        assert _count(build_model("resnet18", num_classes=k, in_channels=c)) == _resnet18_count(c, k)
        assert _count(build_model("resnet18_cifar", num_classes=k, in_channels=c)) == _resnet18_count(c, k)
        assert _count(build_model("vgg16_bn", num_classes=k, in_channels=c)) == _vgg16_count(c, k)
        for s in (28, 32, 64):
            mlp = build_model("mlp", num_classes=k, in_channels=c, image_size=s, width=50)
            assert _count(mlp) == _mlp_count(c * s * s, 50, k)
    assert _count(build_model("mlp", num_classes=10, in_channels=3, width=1000)) == _mlp_count(3072, 1000, 10)


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("name", MODELS)
def test_output_shape_and_head(name, in_channels, size):
    torch.manual_seed(0)
    model = build_model(name, num_classes=7, in_channels=in_channels, image_size=size, width=32).eval()
    with torch.no_grad():
        out = model(torch.randn(2, in_channels, size, size))
    assert out.shape == (2, 7) and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert isinstance(model.head, nn.Linear) and model.head.out_features == 7


def test_resnet_architecture_and_init():
    torch.manual_seed(0)
    authors = build_model("resnet18", num_classes=10)
    cifar = build_model("resnet18_cifar", num_classes=10)
    assert isinstance(authors.maxpool, nn.MaxPool2d) and isinstance(cifar.maxpool, nn.Identity)
    assert authors.conv1.kernel_size == (3, 3) and authors.conv1.stride == (1, 1)
    convs = [m for m in authors.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 20 and all(m.bias is None for m in convs)
    w = authors.layer4[1].conv2.weight
    expected_std = (2.0 / (w.shape[0] * 9)) ** 0.5  # Kaiming-normal, fan_out, ReLU gain
    assert abs(float(w.detach().std()) / expected_std - 1) < 0.02
    bns = [m for m in authors.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) and not m.bias.any() for m in bns)
    # Without the max-pool the last feature map is larger: 32 -> 4x4 vs 2x2 before the average pool.
    x = torch.randn(1, 3, 32, 32)
    stem = lambda m: m.maxpool(m.relu(m.bn1(m.conv1(x))))  # noqa: E731
    assert stem(authors).shape[-1] == 16 and stem(cifar).shape[-1] == 32


@pytest.mark.parametrize("name", MODELS)
def test_a_few_sgd_steps_reduce_the_loss(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=4, in_channels=1, image_size=28, width=64)
    x, y = torch.randn(4, 1, 28, 28), torch.arange(4)
    opt = torch.optim.SGD(model.parameters(), lr=0.01 if name != "mlp" else 0.05, momentum=0.9)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]


def test_bad_arguments():
    with pytest.raises(ValueError, match="known: mlp, resnet18"):
        build_model("resnet50", num_classes=10)
    # A conv net's pooling arithmetic takes only some image sides: the error names them.
    for name in ("resnet18", "resnet18_cifar", "vgg16_bn"):
        with pytest.raises(ValueError, match=rf"model '{name}' needs square images of side 28 or 32 or 64.* 30x30"):
            build_model(name, num_classes=10, image_size=30)
    with pytest.raises(ValueError, match="num_classes must be an int >= 1"):
        build_model("mlp", num_classes=0)
    with pytest.raises(TypeError, match="num_classes must be an int >= 1, got float"):
        build_model("mlp", num_classes=10.0)
    with pytest.raises(TypeError, match="in_channels"):
        build_model("vgg16_bn", num_classes=10, in_channels=3.0)


def test_input_shape_vectors_for_flat_models_only():
    assert {name for name in MODELS if is_flat(name)} == {"mlp", "logistic", "mlp_ash"}
    assert all(MODELS[name].flat == is_flat(name) for name in MODELS) and not is_flat("no-such-model")
    mlp = build_model("mlp", num_classes=3, input_shape=(12,), width=8)
    assert _count(mlp) == _mlp_count(12, 8, 3) and mlp(torch.zeros(2, 12)).shape == (2, 3)
    # input_shape is the same as (in_channels, image_size, image_size) when it is an image's shape.
    torch.manual_seed(0)
    a = build_model("resnet18_cifar", num_classes=4, input_shape=(2, 28, 28))
    torch.manual_seed(0)
    b = build_model("resnet18_cifar", num_classes=4, in_channels=2, image_size=28)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    with pytest.raises(ValueError, match=r"model 'resnet18' takes images \(C, H, W\); the data's inputs have shape"):
        build_model("resnet18", num_classes=3, input_shape=(12,))
    with pytest.raises(ValueError, match="needs square images"):
        build_model("vgg16_bn", num_classes=3, input_shape=(3, 32, 28))
    with pytest.raises(ValueError, match="input_shape must be a non-empty tuple of ints >= 1"):
        build_model("mlp", num_classes=3, input_shape=(0, 4))


def test_mlp_takes_any_image_size():
    model = build_model("mlp", num_classes=10, in_channels=1, image_size=8, width=16)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(ValueError, match="image_size"):
        build_model("mlp", num_classes=10, image_size=0)


def test_logistic_is_one_affine_map_on_flattened_pixels():
    rng = np.random.default_rng(0)
    for c, s, k in ((1, 8, 10), (3, 32, 7), (1, 28, 3)):
        torch.manual_seed(int(rng.integers(1000)))
        model = build_model("logistic", num_classes=k, in_channels=c, image_size=s, width=5)
        assert model.head is list(model.children())[-1] and isinstance(model.head, nn.Linear)
        assert _count(model) == c * s * s * k + k  # width is ignored
        x = rng.standard_normal((4, c, s, s)).astype(np.float32)
        w, b = model.head.weight.detach().numpy(), model.head.bias.detach().numpy()
        expected = x.reshape(4, -1).astype(np.float64) @ w.T.astype(np.float64) + b
        np.testing.assert_allclose(model(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="image_size"):
        build_model("logistic", num_classes=10, image_size=0)
