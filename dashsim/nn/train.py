"""Training configuration and the fast inner loop: train on T_{1:j} until the train accuracy target.

Speed without changing semantics: the whole data set lives on the training device as one float
tensor, a chunk is an index range of a seeded permutation, mini-batches are gathered by index, and
correct counts and losses are summed on the device so the host synchronizes once per epoch (to
test convergence), never per step. The same code runs on CPU, where results are bit-reproducible.

References
----------
Shin et al., "DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss of
Plasticity", NeurIPS 2024, Section 5 (protocol: mini-batches of 128 until 99.9% train accuracy).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._config import field
from ..errors import NonFiniteLossError, SettingsError
from .._validate import canonical_fields, check_int, check_seed
from . import data as _data
from .methods import METHODS, Learner, Method, make_method
from .models import MODELS, build_model, has_batchnorm, is_flat
from .sam import SAM

__all__ = ["TrainConfig", "NonFiniteLossError", "SettingsError", "ExperimentResult", "TrainingData", "prepare_data",
           "train_until_target", "evaluate", "build_learner", "resolve_device", "scheduled_lr", "PRESETS",
           "apply_preset", "batch_bounds", "check_train_sizes", "LAST_BATCHES"]

logger = logging.getLogger(__name__)

OPTIMIZERS = ("sgd", "adam", "sam")
# TrainConfig's numeric fields: checked (finite, not a string) and stored as Python numbers.
_INT_FIELDS = ("J", "batch_size", "max_epochs", "width", "subset", "test_subset", "crop_padding", "warmup_epochs")
_FLOAT_FIELDS = ("lr", "momentum", "weight_decay", "sam_rho", "target_accuracy", "lr_gamma")
LAST_BATCHES = ("keep", "drop", "merge")  # what happens to an epoch's last, smaller mini-batch
NORM_STATS = ("dataset", "half")  # channel statistics images are standardized with
SMALL_BATCHNORM_BATCH = 16  # a BatchNorm network training on a smaller last batch gets a warning


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The training settings every protocol shares; defaults are the DASH paper's (Section 5).

    ``data``, ``model`` and ``method`` are registry names (:data:`~dashsim.nn.DATASETS`,
    :data:`~dashsim.nn.MODELS`, :data:`~dashsim.nn.METHODS`). Your own data set, network or method
    object is passed to the protocol instead (``run_incremental(config, dataset=..., model=...,
    method=Dash(lam=0.9))``), which then records its name here. A method's hyper-parameters live
    in the method object, never in this config.

    The paper's "SoTA" variant (augmentation, weight decay, per-experiment step schedule with
    warm-up, epoch cap; Appendix C.4.1) is off by default: ``apply_preset(config, "sota")``.
    """

    data: str = field("fashion-mnist", choices=lambda: tuple(_data.DATASETS))  # data set
    data_root: Optional[str] = None  # folder of a local data set copy (default: the data set's standard location)
    model: str = field("resnet18", choices=lambda: tuple(MODELS))  # network
    width: int = 1000  # MLP hidden width
    method: str = field("dash", choices=lambda: tuple(METHODS))  # between-experiments method
    J: int = 50  # number of equal chunks / experiments, paper J
    seeds: tuple[int, ...] = (0,)  # random seeds, run one after another
    batch_size: int = 128  # mini-batch size
    lr: Optional[float] = None  # learning rate (default 0.001 for resnet18, 0.01 otherwise; see resolved_lr)
    momentum: float = 0.9  # SGD momentum (also SAM's base SGD)
    weight_decay: float = 0.0  # L2 weight decay
    optimizer: str = field("sgd", choices=OPTIMIZERS)  # optimizer
    sam_rho: float = 0.1  # SAM neighbourhood radius rho
    target_accuracy: float = 0.999  # epoch train accuracy at which an experiment stops
    max_epochs: int = 100  # epoch cap per experiment (hitting it is recorded as not converged)
    normalize: bool | None = None  # standardize images by channel mean/std (default: all but the MLP, as the authors)
    norm_stats: str = field("dataset", choices=NORM_STATS)  # with normalize: "dataset" mean/std, "half" 0.5/0.5 (Ash)
    last_batch: str = field("keep", choices=LAST_BATCHES)  # epoch's last short batch: keep (authors), drop, merge
    rebuild_optimizer: bool = False  # a fresh optimizer before every experiment (Ash & Adams' run.py 160-161)
    subset: Optional[int] = None  # use a seeded random subset of this many training images (quick runs; SVHN's 50,000)
    test_subset: Optional[int] = None  # evaluate on the first this-many test images (quick runs)
    device: str = "auto"  # auto, cpu, cuda or cuda:N
    bf16: bool = False  # bf16 autocast for forward/backward
    channels_last: bool = False  # channels_last memory format for conv nets (ignored by flat models: mlp, logistic)
    compile: bool = False  # torch.compile the model's forward (pays on GPU for long runs; minutes to compile on CPU)
    fast: bool = False  # on CUDA, replay each training step as a captured CUDA graph (dashsim.nn.fast); no-op on CPU
    deterministic: bool = False  # deterministic kernels only (cuDNN, use_deterministic_algorithms); slower on CUDA
    augment: bool = False  # random crop (black padding crop_padding) + horizontal flip per mini-batch ('SoTA')
    crop_padding: int = 4  # padding of the random crop in pixels (the paper: 4)
    lr_milestones: tuple[int, ...] = ()  # epochs after which lr *= lr_gamma, per experiment ('SoTA': 60 120 160 200)
    lr_gamma: float = 0.2  # lr factor at each milestone
    warmup_epochs: int = 0  # linear lr warm-up at the start of every experiment, in epochs ('SoTA': 1)
    out: str = ""  # run folder (default runs/<data>_<model>_<method>_J<J>); re-running the same command resumes it
    tensorboard: bool = False  # also log each round's metrics to <run folder>/tensorboard/ (needs tensorboard)

    def __post_init__(self) -> None:
        for name in ("data", "model", "method"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} must be a non-empty name (pass your own object to the protocol instead); "
                                 f"got {getattr(self, name)!r}")
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        canonical_fields(self, "TrainConfig", ints=_INT_FIELDS, floats=_FLOAT_FIELDS, optional=("lr", "subset",
                                                                                                 "test_subset"))
        if not isinstance(self.seeds, (tuple, list)):
            raise ValueError(f"seeds must be a tuple of ints in [0, 2**32), got {self.seeds!r}")
        object.__setattr__(self, "seeds", tuple(check_seed("seeds", s) for s in self.seeds))
        check_int("J", self.J)
        check_int("batch_size", self.batch_size)
        check_int("max_epochs", self.max_epochs)
        check_int("width", self.width)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be a non-empty tuple of distinct ints, got {self.seeds!r}")
        for name in ("subset", "test_subset"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name))
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not self.sam_rho > 0:
            raise ValueError(f"sam_rho must be > 0, got {self.sam_rho}")
        if not 0.0 < self.target_accuracy <= 1.0:
            raise ValueError(f"target_accuracy must be in (0, 1], got {self.target_accuracy}")
        check_int("crop_padding", self.crop_padding, 0)
        milestones = self.lr_milestones
        if any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in milestones) \
                or list(milestones) != sorted(set(milestones)):
            raise ValueError(f"lr_milestones must be strictly increasing ints >= 1, got {milestones!r}")
        if not 0.0 < self.lr_gamma <= 1.0:
            raise ValueError(f"lr_gamma must be in (0, 1], got {self.lr_gamma}")
        check_int("warmup_epochs", self.warmup_epochs, 0)
        _choice("last_batch", self.last_batch, LAST_BATCHES)
        _choice("norm_stats", self.norm_stats, NORM_STATS)
        if self.device != "auto" and not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")

    @property
    def resolved_lr(self) -> float:
        """The learning rate: ``lr`` if given, else 0.001 for ResNet-18 and 0.01 otherwise.

        The two sources disagree for the MLP: the DASH paper's text (Appendix C) gives 0.01, the
        authors' ``main.py`` (line 160, ``--learning_rate`` default) and README command 0.001; the
        default here is the paper's text, and the sign of "DASH takes fewer steps than cold" depends
        on it (docs/faithfulness.md). For ResNet-18 both say 0.001. Ash & Adams use 0.001
        (``run.py`` line 17; preset ``"ash_adams"``).
        """
        if self.lr is not None:
            return self.lr
        return 0.001 if self.model == "resnet18" else 0.01

    @property
    def resolved_out(self) -> str:
        """The run folder: ``out`` if given, else ``runs/<data>_<model>_<method>_J<J>`` (so methods do not collide)."""
        return self.out or f"runs/{self.data}_{self.model}_{self.method}_J{self.J}"

    @property
    def resolved_normalize(self) -> bool:
        """Normalize images by channel statistics: ``normalize`` if given, else for every model but the MLP.

        Deliberately ``model != "mlp"``, not "every non-flat model": the authors fed their MLP raw
        ``[0, 1]`` pixels, while logistic regression has always been standardized here, and changing
        its default would change the recorded configuration of finished runs.
        """
        return self.normalize if self.normalize is not None else self.model != "mlp"

    def make_method(self) -> Method:
        """The registered method ``self.method`` at its paper defaults (pass a method object for other values)."""
        return make_method(self.method)


# The paper's "SoTA" variant (Appendix C.4.1; values of the authors' code and README command).
PRESETS: dict[str, dict[str, Any]] = {
    "sota": {
        "lr": 0.1, "weight_decay": 5e-4, "augment": True, "crop_padding": 4,
        "lr_milestones": (60, 120, 160, 200), "lr_gamma": 0.2, "warmup_epochs": 1, "max_epochs": 260,
    },
    # Ash & Adams' recipe (JordanAsh/warm_start @896176b, run.py 17-19, 38-41, 160-161, 171): SGD
    # without momentum at lr 1e-3 (or --optimizer adam), a new optimizer every round, images
    # normalized with mean = std = 0.5, train to 99% accuracy with no epoch cap in practice.
    "ash_adams": {
        "lr": 1e-3, "momentum": 0.0, "weight_decay": 0.0, "rebuild_optimizer": True, "normalize": True,
        "norm_stats": "half", "target_accuracy": 0.99, "max_epochs": 10_000,
    },
}


def apply_preset(config: TrainConfig, name: str) -> TrainConfig:
    """``config`` with the fields of preset ``name`` (one of :data:`PRESETS`) replaced.

    ``"ash_adams"``: Ash & Adams' recipe: SGD without momentum at lr 1e-3, a fresh optimizer every
    experiment, inputs normalized with mean = std = 0.5, train to 99% train accuracy, cap 10,000
    epochs (pair it with ``model="mlp_ash"`` or ``"resnet18_ash"``; ``optimizer="adam"`` for their
    Adam runs).

    ``"sota"``: lr 0.1, weight decay 5e-4, random crop (padding 4) and horizontal flip, lr x0.2
    after epochs 60/120/160/200 restarted every experiment with a one-epoch linear warm-up, at
    most 260 epochs per experiment (DASH paper, Appendix C.4.1; the paper's text lists 60/120/200,
    the authors' code 60/120/160/200).
    """
    _choice("preset", name, tuple(PRESETS))
    return dataclasses.replace(config, **PRESETS[name])


def scheduled_lr(step: int, steps_per_epoch: int, *, base_lr: float, lr_milestones: tuple[int, ...] = (),
                 lr_gamma: float = 0.2, warmup_epochs: int = 0) -> float:
    """The learning rate of the ``step``-th optimizer step (1-based) of an experiment.

    With ``B = steps_per_epoch``, ``e = ceil(step / B)`` the step's epoch and ``W = warmup_epochs``:
    ``lr = base_lr * (step - 1) / (W B)`` while ``step <= W B`` (linear warm-up; like the authors'
    ``WarmUpLR``, the first step has lr 0), else
    ``lr = base_lr * lr_gamma ** #{m in lr_milestones : m < e}`` (a ``MultiStepLR`` stepped after
    every epoch, so milestone 60 lowers the lr from epoch 61 on). The schedule restarts with
    every experiment, as the authors re-create both schedulers per chunk.

    Parameters
    ----------
    step : 1-based step index within the experiment.
    steps_per_epoch : mini-batches per epoch, ``len(batch_bounds(n, batch_size, last_batch))``.
    base_lr : the configured learning rate.
    lr_milestones : epochs after which the lr is multiplied by ``lr_gamma``.
    lr_gamma : the factor per milestone.
    warmup_epochs : length of the warm-up in epochs (0: none).

    Returns
    -------
    float

    References
    ----------
    DASH paper, Appendix C.4.1 ("SoTA" setting); the authors' code (``MultiStepLR`` with
    milestones 60/120/160/200 and gamma 0.2, ``WarmUpLR`` over the first epoch).
    """
    if step < 1 or steps_per_epoch < 1:
        raise ValueError(f"step and steps_per_epoch must be >= 1, got {step} and {steps_per_epoch}")
    warmup_steps = warmup_epochs * steps_per_epoch
    if step <= warmup_steps:
        return base_lr * (step - 1) / warmup_steps
    epoch = (step - 1) // steps_per_epoch + 1
    return base_lr * lr_gamma ** sum(1 for m in lr_milestones if m < epoch)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def resolve_device(device: str) -> torch.device:
    """The training device: ``"auto"`` is the first CUDA device if there is one, else the CPU.

    Raises :class:`SettingsError` (before any run folder exists) for a CUDA device this machine
    does not have.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise SettingsError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r} ({err})") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise SettingsError(f"device {device!r} asked for, but this machine's torch has no CUDA device "
                                f"(torch {torch.__version__}); use --device cpu or auto")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise SettingsError(f"device {device!r} does not exist: "
                                f"this machine has {torch.cuda.device_count()} CUDA devices")
    elif resolved.type != "cpu":
        raise SettingsError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return resolved


def model_factory(config: TrainConfig, dataset: _data.ImageDataset, device: torch.device,
                  model: Optional[Callable[[], nn.Module]] = None) -> Callable[[], nn.Module]:
    """A zero-argument builder of fresh models on ``device``: ``model()`` if given, else registered ``config.model``.

    A registered model is sized for the data (classes, input shape, ``config.width``); a model of
    your own is built as it is. Either way the result goes to ``device``, in channels_last layout
    when ``config.channels_last`` and the network is not a flat one, and is compiled in place when
    ``config.compile``.
    """
    def build() -> nn.Module:
        if model is None:
            net = build_model(config.model, num_classes=dataset.num_classes, input_shape=dataset.input_shape,
                              width=config.width)
        else:
            net = model()
            if not isinstance(net, nn.Module):
                raise TypeError(f"model() must return a torch.nn.Module, got {type(net).__name__}")
        net = net.to(device)
        if config.channels_last and not is_flat(config.model):
            net = net.to(memory_format=torch.channels_last)
        if config.compile:
            # In place (not torch.compile(model)), so state_dict keys, checkpoints, L2 Init's initial
            # state and DASH's module traversal stay those of the plain model.
            net.compile()
        return net

    return build


def _optimizer_factory(config: TrainConfig) -> Callable[[nn.Module], torch.optim.Optimizer]:
    lr, momentum, wd = config.resolved_lr, config.momentum, config.weight_decay

    def build(model: nn.Module) -> torch.optim.Optimizer:
        if config.optimizer == "sgd":
            return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=wd)
        if config.optimizer == "adam":
            return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
        return SAM(model.parameters(), torch.optim.SGD, rho=config.sam_rho, lr=lr, momentum=momentum, weight_decay=wd)

    return build


def build_learner(config: TrainConfig, dataset: _data.ImageDataset, device: torch.device,
                  model: Optional[Callable[[], nn.Module]] = None) -> Learner:
    """A :class:`Learner` whose first model is drawn from torch's global RNG (seed it first).

    See :func:`model_factory`.
    """
    return Learner.create(model_factory(config, dataset, device, model), _optimizer_factory(config))


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """A run's tensors on the training device, and the crop padding that matches their normalization."""

    x: Tensor  # training inputs as the model sees them (images normalized iff config.resolved_normalize)
    y: Tensor  # their int64 labels
    x_test: Tensor  # test inputs (the first config.test_subset, if set), same units as x
    y_test: Tensor  # their labels
    fill: tuple[float, ...]  # a black pixel in x's units, per channel: what augmentation pads with
    num_classes: int  # the data set's number of classes


def prepare_data(config: TrainConfig, dataset: _data.ImageDataset, device: torch.device) -> TrainingData:
    """The train and test tensors of ``dataset`` as ``config`` trains on them, with the matching crop fill.

    ``x = dataset.as_float("train", normalize=config.resolved_normalize, stats=config.norm_stats)`` (likewise the test
    split, cut to ``config.test_subset``), in channels_last layout when ``config.channels_last``
    and the model is a conv net; ``fill = dataset.pixel_value(0, normalize=config.resolved_normalize)``,
    the black pixel that torchvision's ``RandomCrop(padding=4)`` inserts before ``Normalize`` in
    the authors' pipeline. Computing it here, next to the normalization, keeps the two in step
    (pass it as ``train_until_target(..., fill=data.fill)``).

    Parameters
    ----------
    config : normalization, test subset, channels_last flag and model.
    dataset : the images.
    device : the training device.

    Returns
    -------
    TrainingData
    """
    normalize = config.resolved_normalize
    stats = config.norm_stats
    x, y = dataset.as_float("train", normalize=normalize, device=device, stats=stats)
    x_test, y_test = dataset.as_float("test", normalize=normalize, device=device, stats=stats)
    if config.test_subset is not None:
        x_test, y_test = x_test[: config.test_subset], y_test[: config.test_subset]
    if config.channels_last and x.dim() == 4 and not is_flat(config.model):
        x = x.contiguous(memory_format=torch.channels_last)
        x_test = x_test.contiguous(memory_format=torch.channels_last)
    fill = dataset.pixel_value(0, normalize=normalize, stats=stats)
    return TrainingData(x, y, x_test, y_test, fill, dataset.num_classes)


@dataclasses.dataclass(frozen=True)
class ExperimentResult:
    """What one experiment's training loop measured."""

    steps: int  # optimizer steps taken
    epochs: int  # epochs taken
    train_accuracy: float  # running train accuracy of the last epoch (mean over its samples as trained)
    train_loss: float  # running mean cross-entropy of the last epoch (penalty excluded)
    converged: bool  # train_accuracy reached the target before the epoch cap


def epoch_statistics(correct: Tensor, loss_sum: Tensor, objective_sum: Tensor, n_seen: int, *, epoch: int,
                     steps: int) -> tuple[float, float]:
    """An epoch's train accuracy and mean cross-entropy from its device-side sums: the epoch's one host sync.

    Raises :class:`NonFiniteLossError` if the cross-entropy or the full objective (with a method's
    penalty, e.g. L2 Init's) is not finite, so a diverging run stops at once.
    """
    acc = int(correct) / n_seen
    loss_mean = float(loss_sum) / n_seen
    objective_total = float(objective_sum)
    if not (math.isfinite(loss_mean) and math.isfinite(objective_total)):
        raise NonFiniteLossError(f"training loss became non-finite (cross-entropy {loss_mean}, with penalty "
                                 f"summed {objective_total}) in epoch {epoch} ({steps} steps) on {n_seen} samples")
    return acc, loss_mean


def batch_bounds(n: int, batch_size: int, last_batch: str = "keep") -> list[tuple[int, int]]:
    """The ``(start, stop)`` of each mini-batch of an epoch over ``n`` shuffled samples.

    With ``B = batch_size``, ``q = n // B`` full batches and ``r = n - q B`` samples left:
    ``"keep"`` (PyTorch's ``DataLoader`` default, the authors' loaders) adds a last batch of ``r``;
    ``"drop"`` (``drop_last=True``) leaves those ``r`` samples out of this epoch (they are in
    other batches next epoch, the order being reshuffled); ``"merge"`` trains them with the last
    full batch (one batch of ``B + r``). With ``r = 0`` the three agree; with ``q = 0`` there is one
    batch of ``n`` (``"drop"`` keeps it rather than training on nothing).

    Parameters
    ----------
    n : samples in the epoch (>= 1).
    batch_size : ``B`` (>= 1).
    last_batch : one of :data:`LAST_BATCHES`.

    Returns
    -------
    list of (start, stop) index pairs into the epoch's order, in training order.

    References
    ----------
    baekrok/DASH-Direction-Aware-SHrinking @3d3cea6, ``main.py`` 57-60 and JordanAsh/warm_start
    @896176b, ``run.py`` 152 (``DataLoader`` without ``drop_last``: the short batch is kept).
    """
    check_int("n", n)
    check_int("batch_size", batch_size)
    _choice("last_batch", last_batch, LAST_BATCHES)
    q, r = divmod(n, batch_size)
    bounds = [(i * batch_size, (i + 1) * batch_size) for i in range(q)]
    if q == 0:
        return [(0, n)]
    if r and last_batch == "keep":
        bounds.append((q * batch_size, n))
    elif r and last_batch == "merge":
        bounds[-1] = ((q - 1) * batch_size, n)
    return bounds


def check_train_sizes(config: TrainConfig, sizes: list[int], model: nn.Module) -> None:
    """Refuse, before training, rounds of ``sizes`` samples that would give BatchNorm ``model`` a one-sample batch.

    For each size ``n``, the epoch's batches are :func:`batch_bounds` ``(n, config.batch_size,
    config.last_batch)``; a batch of one sample is a :class:`SettingsError` naming the size, the
    batch size and the fixes, if ``model`` has a BatchNorm layer.
    """
    if not has_batchnorm(model):
        return
    for n in sorted(set(sizes)):
        if n >= 1:
            bounds = batch_bounds(n, config.batch_size, config.last_batch)
            if min(stop - start for start, stop in bounds) == 1:
                _check_last_batch(model, bounds, n, config)


def _check_last_batch(model: nn.Module, bounds: list[tuple[int, int]], n: int, config: TrainConfig) -> None:
    """Refuse a one-sample batch under BatchNorm (it cannot train); warn about a small one."""
    smallest = min(stop - start for start, stop in bounds)
    short = smallest < min(SMALL_BATCHNORM_BATCH, config.batch_size)  # a short last batch (not a small batch_size)
    if not (smallest == 1 or short) or not has_batchnorm(model):
        return
    where = (f"an epoch over {n} samples with batch_size {config.batch_size} and last_batch={config.last_batch!r} "
             f"has a batch of {smallest}")
    if smallest == 1:
        raise SettingsError(f"{where}: a BatchNorm network cannot train on one sample (its batch statistics are "
                            "undefined); set last_batch to 'drop' or 'merge' (--last-batch), or choose a data size "
                            "(subset, J) that does not leave one sample")
    if where not in _WARNED:  # once per epoch size: a protocol with many rounds repeats them
        _WARNED.add(where)
        logger.warning("%s: a BatchNorm network's statistics on so small a batch are noisy and can decide when (or "
                       "whether) training reaches the target; last_batch='drop' or 'merge' avoids it", where)


_WARNED: set[str] = set()  # the small-batch warnings given in this process


def _autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def train_until_target(
    learner: Learner,
    method: Method,
    x: Tensor,
    y: Tensor,
    indices: Tensor,
    *,
    config: TrainConfig,
    generator: torch.Generator,
    on_epoch: Callable[[int, float, int], None] | None = None,
    stop_at_target: bool = True,
    fill: float | tuple[float, ...] | Tensor | None = None,
) -> ExperimentResult:
    """Train ``learner`` on ``x[indices]`` in shuffled mini-batches until the epoch's train accuracy reaches the target.

    Each epoch draws a permutation of ``indices`` from ``generator`` and cuts it into mini-batches
    by :func:`batch_bounds` (``config.last_batch``); the epoch's train accuracy is
    ``sum_b correct_b / n_b`` over its mini-batches ``b`` as they were trained (so it lags the model;
    ``n_b`` sums their sizes, ``n`` but for a dropped last batch);
    training stops when it is ``>= config.target_accuracy`` or after ``config.max_epochs`` epochs.
    Every step minimizes ``CE(model(x_b), y_b) + penalty`` with ``penalty = method.penalty(learner)``
    (L2 Init), through ``optimizer.step(closure)`` for optimizers with ``requires_closure`` (SAM).

    With ``config.augment`` every mini-batch is replaced by
    :func:`~dashsim.nn.data.random_crop_flip` of it (offsets and flips drawn from ``generator``
    after the epoch's permutation); with ``config.lr_milestones`` or ``config.warmup_epochs`` the
    optimizer's learning rate before step ``s`` is :func:`scheduled_lr` ``(s, len(batch_bounds(...)))``,
    restarted at every call, and reset to the base rate on return.

    With ``config.fast`` on a CUDA device the loop is :func:`~dashsim.nn.fast.train_until_target_fast`
    (the same draws and semantics, each step a replayed CUDA graph; equal within floating-point
    tolerance); on the CPU ``config.fast`` changes nothing.

    Parameters
    ----------
    learner : the model and optimizer to train (in place).
    method : supplies the loss penalty.
    x, y : the whole training set on the training device (float images, int64 labels).
    indices : int64 indices of T_{1:j} into ``x`` (on ``x``'s device).
    config : batch size, target accuracy, epoch cap, bf16 flag.
    generator : CPU generator for the mini-batch shuffles (its state is checkpointed).
    on_epoch : optional callback ``(epoch, train_accuracy, steps)`` for progress bars.
    stop_at_target : False trains exactly ``config.max_epochs`` epochs (the two-phase protocol's
        fixed-length pretraining); ``converged`` then still reports whether the target was reached.
    fill : with ``config.augment`` (required then), the crop's padding value in ``x``'s units (one
        float or one per channel): :attr:`TrainingData.fill` of :func:`prepare_data`, the black
        pixel the authors' torchvision pipeline pads with. Unused without augmentation.

    Returns
    -------
    ExperimentResult

    Raises
    ------
    NonFiniteLossError if an epoch's summed loss is NaN or infinite (checked once per epoch).
    SettingsError, before the first step, if a BatchNorm network would train on a one-sample batch
    (a last batch smaller than 16 only logs a warning).
    """
    model, optimizer = learner.model, learner.optimizer
    device = x.device
    n = int(indices.numel())
    bs = config.batch_size
    closure_needed = bool(getattr(optimizer, "requires_closure", False))
    channels_last = config.channels_last and x.dim() == 4 and not is_flat(config.model)
    autocast = _autocast(device, config.bf16)
    if config.augment and x.dim() != 4:
        raise ValueError(f"augment needs image inputs (N, C, H, W), got x of shape {tuple(x.shape)}")
    if config.augment:
        if fill is None:
            # A default would be black only for un-normalized data; the caller knows the normalization.
            raise ValueError("fill must be given with config.augment: the crop's padding value in x's units, "
                             "e.g. prepare_data(config, dataset, device).fill (a black pixel)")
        fill = _data.fill_tensor(fill, x)  # once per call: a per-step host copy would block every CUDA step
    scheduled = bool(config.lr_milestones) or config.warmup_epochs > 0
    base_lr = config.resolved_lr
    bounds = batch_bounds(n, bs, config.last_batch)
    _check_last_batch(model, bounds, n, config)
    if config.fast and device.type == "cuda":
        from .fast import train_until_target_fast  # the same loop, each step a replayed CUDA graph

        return train_until_target_fast(learner, method, x, y, indices, config=config, generator=generator,
                                       on_epoch=on_epoch, stop_at_target=stop_at_target, fill=fill)
    n_seen = sum(stop - start for start, stop in bounds)  # samples trained per epoch (fewer with "drop")
    steps_per_epoch = len(bounds)
    model.train()
    steps = 0
    acc = loss_mean = 0.0
    try:
        for epoch in range(1, config.max_epochs + 1):
            order = indices[torch.randperm(n, generator=generator).to(device, non_blocking=True)]
            correct = torch.zeros((), dtype=torch.int64, device=device)
            loss_sum = torch.zeros((), dtype=torch.float32, device=device)
            objective_sum = torch.zeros((), dtype=torch.float32, device=device)
            for start, stop in bounds:
                batch = order[start:stop]
                xb, yb = x[batch], y[batch]
                if config.augment:
                    xb = _data.random_crop_flip(xb, generator, padding=config.crop_padding, fill=fill)
                if scheduled:
                    _set_lr(optimizer, scheduled_lr(steps + 1, steps_per_epoch, base_lr=base_lr,
                                                    lr_milestones=config.lr_milestones,
                                                    lr_gamma=config.lr_gamma, warmup_epochs=config.warmup_epochs))
                if channels_last:
                    # Gathering rows by index returns a contiguous NCHW tensor; restore the format.
                    xb = xb.contiguous(memory_format=torch.channels_last)

                def objective() -> tuple[Tensor, Tensor, Tensor]:
                    with autocast:
                        logits = model(xb)
                        ce = F.cross_entropy(logits, yb)
                    penalty = method.penalty(learner)
                    total = ce if penalty is None else ce + penalty
                    total.backward()
                    return ce, logits, total

                optimizer.zero_grad(set_to_none=True)
                ce, logits, total = objective()
                if closure_needed:
                    # SAM re-evaluates the loss at the perturbed weights; the statistics use the first pass.
                    optimizer.step(lambda: objective()[0])
                else:
                    optimizer.step()
                steps += 1
                correct += (logits.detach().argmax(dim=1) == yb).sum()
                loss_sum += ce.detach().float() * batch.numel()
                # The full objective too: a diverging penalty (L2 Init) must also stop the run.
                objective_sum += total.detach().float()
            acc, loss_mean = epoch_statistics(correct, loss_sum, objective_sum, n_seen, epoch=epoch, steps=steps)
            if on_epoch is not None:
                on_epoch(epoch, acc, steps)
            if stop_at_target and acc >= config.target_accuracy:
                return ExperimentResult(steps, epoch, acc, loss_mean, True)
        return ExperimentResult(steps, config.max_epochs, acc, loss_mean, acc >= config.target_accuracy)
    finally:
        if scheduled:
            # The schedule restarts next experiment; leave the optimizer at its configured rate.
            _set_lr(optimizer, base_lr)


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 1024, bf16: bool = False) -> float:
    """Accuracy of ``model`` on ``(x, y)`` in eval mode (BatchNorm running statistics); mode restored."""
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    with _autocast(x.device, bf16):
        for start in range(0, x.shape[0], batch_size):
            correct += (model(x[start : start + batch_size]).argmax(dim=1) == y[start : start + batch_size]).sum()
    model.train(was_training)
    return int(correct) / x.shape[0]
