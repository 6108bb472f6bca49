"""The networks of both papers, defined here (no torchvision): the DASH paper's MLP, ResNet-18 (two stems) and
VGG-16-BN (two heads), and Ash & Adams' logistic regression, MLP 100-100 and quarter-width ResNet-18.

Every model accepts any number of input channels and image sizes 28, 32 and 64, any class count, and
exposes its final classifier layer as ``model.head`` (the layer the head-reset baseline re-initializes).

References
----------
Shin et al., "DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss of
Plasticity", NeurIPS 2024, Section 5 and Appendix C (architectures); He et al., "Deep Residual
Learning for Image Recognition", CVPR 2016 (ResNet-18, BasicBlock [2, 2, 2, 2]); Simonyan & Zisserman,
"Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015 (VGG-16); Ash & Adams, "On
Warm-Starting Neural Network Training", NeurIPS 2020, Section 2 (their code: JordanAsh/warm_start @896176b,
``run.py`` 63-73 and ``resnet.py`` 72-104).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Callable, Optional

import torch
from torch import Tensor, nn

from .._validate import check_memory

__all__ = ["MODELS", "ModelSpec", "register_model", "is_flat", "check_input_shape", "build_model", "MLP", "Logistic",
           "ResNet18", "VGG16BN", "AshMLP", "AshResNet18", "has_batchnorm"]

_IMAGE_SIZES = (28, 32, 64)


class MLP(nn.Module):
    """Three-layer MLP with BatchNorm: Linear-BN-ReLU, Linear-BN-ReLU, Linear (``head``)."""

    def __init__(self, *, num_classes: int, in_features: int, width: int = 1000) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_features, width),
            nn.BatchNorm1d(width),
            nn.ReLU(inplace=True),
            nn.Linear(width, width),
            nn.BatchNorm1d(width),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


class Logistic(nn.Module):
    """Multinomial logistic regression: ``logits = W flatten(x) + b``, one Linear layer that is also ``head``.

    References
    ----------
    Ash & Adams, "On Warm-Starting Neural Network Training", NeurIPS 2020, Table 1 (logistic regression row).
    """

    def __init__(self, *, num_classes: int, in_features: int) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.head = nn.Linear(in_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.flatten(x))


class AshMLP(nn.Module):
    """Ash & Adams' MLP: Linear-ReLU, Linear-ReLU, Linear (``head``), hidden width 100, no BatchNorm.

    ``logits = W3 relu(W2 relu(W1 flatten(x) + b1) + b2) + b3`` with PyTorch's default Linear init.

    References
    ----------
    Ash & Adams 2020, Section 2; JordanAsh/warm_start @896176b, ``run.py`` 63-73 (class ``mlp``).
    """

    def __init__(self, *, num_classes: int, in_features: int, width: int = 100) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(in_features, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
        )
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs with BN, identity or 1x1-conv shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """ResNet-18 with a 3x3 stride-1 stem; ``maxpool=True`` is the authors' net, False the CIFAR one."""

    def __init__(self, *, num_classes: int, in_channels: int = 3, maxpool: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if maxpool else nn.Identity()
        layers, in_planes = [], 64
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers.append(nn.Sequential(BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes, 1)))
            in_planes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(512, num_classes)
        # The authors' (torchvision's) init: Kaiming-normal fan_out for convs, BN at identity;
        # the Linear head keeps PyTorch's default init.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.head(torch.flatten(self.avgpool(x), 1))


class AshResNet18(nn.Module):
    """Ash & Adams' CIFAR ResNet-18: widths 16-32-64-128, 3x3 stride-1 stem, no max-pool, PyTorch default init.

    BasicBlock ``[2, 2, 2, 2]``; the final map is averaged over all positions (their
    ``F.avg_pool2d(out, 4)`` on 32x32 inputs is the same global mean; adaptive here so 28x28 works).

    References
    ----------
    Ash & Adams 2020, Section 2; JordanAsh/warm_start @896176b, ``resnet.py`` 72-104 (``ResNet``, ``ResNet18``).
    """

    def __init__(self, *, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        layers, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2), (128, 2)):
            layers.append(nn.Sequential(BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes, 1)))
            in_planes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(128, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.head(torch.flatten(self.avgpool(x), 1))


VGG_HEADS = ("linear", "authors")
_VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG16BN(nn.Module):
    """VGG-16 with BatchNorm; ``head="linear"``: global average pool and one Linear; ``"authors"``: the authors' head.

    ``head="authors"`` is the DASH authors' classifier: a 7x7 adaptive average pool, then
    ``Linear(25088, 4096)-ReLU-Dropout-Linear(4096, 4096)-ReLU-Dropout-Linear(4096, C)``, every
    Linear drawn from ``N(0, 0.01^2)`` with zero bias; ``model.head`` is that whole classifier (so
    the head-reset baseline resets all three layers). ``head="linear"`` (a single ``Linear(512, C)``
    after a global pool, PyTorch's default init) is the CIFAR-style net this package had first.
    Convs: Kaiming-normal fan_out with zero bias; BatchNorm at identity (both heads). The registered
    name ``"vgg16_bn"`` is the linear head; pass the authors' as a model object
    (``run_incremental(config, model=lambda: VGG16BN(num_classes=10, head="authors"))``), or
    register it (:func:`register_model`); its 134M parameters make it a GPU model.

    References
    ----------
    baekrok/DASH-Direction-Aware-SHrinking @3d3cea6, ``models/VGG.py`` 29-38 (classifier) and 53-67 (init).
    """

    def __init__(self, *, num_classes: int, in_channels: int = 3, head: str = "linear") -> None:
        super().__init__()
        if head not in VGG_HEADS:
            raise ValueError(f"head must be one of {VGG_HEADS}, got {head!r}")
        layers: list[nn.Module] = []
        channels = in_channels
        for v in _VGG16_CFG:
            if v == "M":
                # ceil_mode so that 28x28 inputs survive five halvings (28-14-7-4-2-1).
                layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
            else:
                layers += [nn.Conv2d(channels, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                channels = v
        self.features = nn.Sequential(*layers)
        if head == "linear":
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Linear(512, num_classes)
        else:
            self.avgpool = nn.AdaptiveAvgPool2d(7)
            self.head = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
                nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(),
                nn.Linear(4096, num_classes),
            )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif head == "authors" and isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(torch.flatten(self.avgpool(self.features(x)), 1))


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A registered network: how to build it for a data set, and what inputs it takes."""

    build: Callable[..., nn.Module]  # build(num_classes=, input_shape=, width=) -> a fresh nn.Module
    flat: bool = False  # flattens its input: any input shape, no channels_last layout
    image_sizes: Optional[tuple[int, ...]] = None  # square image sides a conv net accepts (None: any)


def _in_features(input_shape: tuple[int, ...]) -> int:
    return int(math.prod(input_shape))


MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec(lambda *, num_classes, input_shape, width: MLP(num_classes=num_classes,
                                                                    in_features=_in_features(input_shape),
                                                                    width=width),
                     flat=True),
    "resnet18": ModelSpec(lambda *, num_classes, input_shape, width: ResNet18(num_classes=num_classes,
                                                                              in_channels=input_shape[0], maxpool=True),
                          image_sizes=_IMAGE_SIZES),
    "resnet18_cifar": ModelSpec(lambda *, num_classes, input_shape, width: ResNet18(
        num_classes=num_classes, in_channels=input_shape[0], maxpool=False), image_sizes=_IMAGE_SIZES),
    "vgg16_bn": ModelSpec(lambda *, num_classes, input_shape, width: VGG16BN(num_classes=num_classes,
                                                                             in_channels=input_shape[0]),
                          image_sizes=_IMAGE_SIZES),
    "logistic": ModelSpec(lambda *, num_classes, input_shape, width: Logistic(num_classes=num_classes,
                                                                              in_features=_in_features(input_shape)),
                          flat=True),
    # Ash & Adams' networks; the MLP's width is theirs (100) whatever TrainConfig.width says.
    "mlp_ash": ModelSpec(lambda *, num_classes, input_shape, width: AshMLP(num_classes=num_classes,
                                                                           in_features=_in_features(input_shape)),
                         flat=True),
    "resnet18_ash": ModelSpec(lambda *, num_classes, input_shape, width: AshResNet18(
        num_classes=num_classes, in_channels=input_shape[0]), image_sizes=_IMAGE_SIZES),
}


def register_model(name: str, build: Callable[..., nn.Module], *, flat: bool = False,
                   image_sizes: Optional[tuple[int, ...]] = None) -> None:
    """Make a network available by name (``TrainConfig(model=name)``, ``--model name``).

    A model can always be passed to the protocols directly as a zero-argument callable
    (``run_incremental(config, model=lambda: MyNet())``); registering adds a name, and lets the
    network be sized for each data set.

    Parameters
    ----------
    name : the new name (an identifier-like string not yet registered).
    build : ``build(*, num_classes, input_shape, width) -> nn.Module``, a fresh network drawn from
        torch's global RNG; ``input_shape`` is one input's shape, ``(C, H, W)`` for images;
        ``width`` is the configured hidden width (ignore it if meaningless).
    flat : the network flattens its input (no channels_last layout is applied).
    image_sizes : the square image sides it accepts (checked before any run), or None for any.
    """
    if not isinstance(name, str) or not name.replace("-", "_").isidentifier():
        raise ValueError(f"a model name must be an identifier-like string, got {name!r}")
    if name in MODELS:
        raise ValueError(f"model name {name!r} is already registered")
    if not callable(build):
        raise TypeError(f"build must be callable, got {type(build).__name__}")
    MODELS[name] = ModelSpec(build, flat=bool(flat), image_sizes=None if image_sizes is None else tuple(image_sizes))


def has_batchnorm(model: nn.Module) -> bool:
    """Whether ``model`` holds a BatchNorm layer (whose training-mode statistics depend on the batch size)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def is_flat(name: str) -> bool:
    """Whether registered model ``name`` flattens its input (no channels_last layout for it)."""
    return name in MODELS and MODELS[name].flat


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 1, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value}")
    return int(value)


def check_input_shape(name: str, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """``input_shape`` as a tuple of ints after checking registered model ``name`` accepts it.

    Raises ValueError naming both otherwise.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model name {name!r}; known: {', '.join(MODELS)}")
    shape = tuple(int(v) for v in input_shape)
    spec = MODELS[name]
    if spec.flat:
        return shape
    if len(shape) != 3:
        raise ValueError(f"model {name!r} takes images (C, H, W); the data's inputs have shape {shape}")
    if spec.image_sizes is not None and (shape[1] != shape[2] or shape[1] not in spec.image_sizes):
        raise ValueError(f"model {name!r} needs square images of side {' or '.join(map(str, spec.image_sizes))}; "
                         f"the data's images are {shape[1]}x{shape[2]} (use a flat model such as mlp, or other data)")
    return shape


def build_model(
    name: str, *, num_classes: int, in_channels: int = 3, image_size: int = 32, width: int = 1000,
    input_shape: Optional[tuple[int, ...]] = None,
) -> nn.Module:
    """Build a registered network, freshly initialized from torch's global RNG.

    Parameters
    ----------
    name : one of :data:`MODELS` ("mlp", "resnet18", "resnet18_cifar", "vgg16_bn", "logistic", "mlp_ash",
        "resnet18_ash", or a name added by :func:`register_model`).
    num_classes : number of output classes (>= 1).
    in_channels : input channels (1 for grayscale, 3 for RGB; any >= 1 works).
    image_size : input height = width; 28, 32 or 64 for the conv nets (their pooling arithmetic),
        any size >= 1 for the MLP and logistic regression (they see flattened pixels, e.g. 8x8 digits).
    width : hidden width of the DASH paper's MLP (ignored by the other models; "mlp_ash" is 100 wide).
    input_shape : one input's shape, instead of ``(in_channels, image_size, image_size)`` (e.g.
        ``(D,)`` for vectors, which only the flat models take).

    Returns
    -------
    nn.Module on CPU in float32, train mode; the built-in models expose their classifier as ``model.head``.

    References
    ----------
    DASH paper, Section 5 and Appendix C (models used in every experiment).
    """
    if name not in MODELS:
        raise ValueError(f"unknown model name {name!r}; known: {', '.join(MODELS)}")
    num_classes = _check_positive_int("num_classes", num_classes)
    width = _check_positive_int("width", width)
    if input_shape is None:
        in_channels = _check_positive_int("in_channels", in_channels)
        image_size = _check_positive_int("image_size", image_size)
        input_shape = (in_channels, image_size, image_size)
    elif not input_shape or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1
                                for v in input_shape):
        raise ValueError(f"input_shape must be a non-empty tuple of ints >= 1, got {input_shape!r}")
    input_shape = check_input_shape(name, input_shape)
    # Its size first, on the meta device (no memory): weights, gradients, optimizer state and a copy, 4 bytes each.
    with torch.device("meta"):
        shapes = MODELS[name].build(num_classes=num_classes, input_shape=input_shape, width=width)
    n_params = sum(p.numel() for p in shapes.parameters())
    check_memory("width" if is_flat(name) else "num_classes / input_shape", n_params * 4 * 4,
                 f"model {name!r} with {n_params:,} parameters (width={width}, num_classes={num_classes}, "
                 f"input_shape={input_shape})")
    return MODELS[name].build(num_classes=num_classes, input_shape=input_shape, width=width)
