"""Every between-experiments method of the DASH paper behind one interface, in one registry.

A :class:`Method` is called when new data arrive, before training on T_{1:j} (j >= 2):
``learner = method.before_experiment(learner, chunks, generator=g)``; the training loop then adds
``method.penalty(learner)`` (if not None) to every step's loss. Each method is a frozen dataclass
whose fields are its hyper-parameters with the paper's defaults.

References
----------
Shin et al., "DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss of
Plasticity", NeurIPS 2024 (Section 5.1, Appendix C); Ash & Adams, "On Warm-Starting Neural Network
Training", NeurIPS 2020 (Section 4); Kumar et al., "Maintaining Plasticity in Continual Learning via
Regenerative Regularization", 2023.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from .._validate import check_int
from .dash import GRANULARITIES, dash_, shrinkable_parameters

__all__ = [
    "Learner",
    "Method",
    "Cold",
    "ColdReseeded",
    "Warm",
    "WarmReM",
    "ShrinkPerturb",
    "AshShrinkPerturb",
    "Shrink",
    "ResetHead",
    "L2Init",
    "L2_INIT_VARIANTS",
    "Dash",
    "METHODS",
    "make_method",
    "register_method",
    "resolve_method",
]


@dataclass
class Learner:
    """What a method may change: the model, its optimizer, and how to build fresh ones."""

    model: nn.Module  # the network being warm-started
    optimizer: torch.optim.Optimizer  # its optimizer (SGD, Adam, SAM, ...)
    build_model: Callable[[], nn.Module]  # a fresh randomly initialized model, on the right device
    build_optimizer: Callable[[nn.Module], torch.optim.Optimizer]  # a fresh optimizer for a model
    initial_state: dict[str, Tensor] = field(repr=False)  # detached copy of the first model's state_dict

    @classmethod
    def create(
        cls, build_model: Callable[[], nn.Module], build_optimizer: Callable[[nn.Module], torch.optim.Optimizer]
    ) -> "Learner":
        """Build the first model and optimizer and remember the model's initial state (for L2 Init)."""
        model = build_model()
        initial_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return cls(model, build_optimizer(model), build_model, build_optimizer, initial_state)


def _fresh_model(learner: Learner, generator: torch.Generator) -> nn.Module:
    """A freshly initialized model whose init depends only on ``generator`` (global RNG left as it was)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    # manual_seed also seeds the CUDA generators, so their states are saved and restored as well.
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return learner.build_model()


def _check_range(name: str, value: object, low: float, high: float, *, low_open: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    ok = (value > low if low_open else value >= low) and value <= high and math.isfinite(value)
    if not ok:
        bracket = "(" if low_open else "["
        allowed = (f"in {bracket}{low}, {high}]" if math.isfinite(high)
                   else f"a finite number {'>' if low_open else '>='} {low}")
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


class Method(ABC):
    """A between-experiments method: one call when new data arrive, an optional loss penalty.

    Subclass it to bring your own method: implement :meth:`before_experiment` (and :meth:`penalty`
    if the method regularizes training) and declare its hyper-parameters as fields of a frozen
    dataclass, as the built-in methods do; they then reach ``config.json`` and one ``metrics.csv``
    column each, typed. The results name the method ``name``, by default the class name.
    """

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__ or not cls.__dict__["name"]:
            cls.name = cls.__name__  # a subclass never reports its parent's name

    @abstractmethod
    def before_experiment(self, learner: Learner, chunks: Sequence[Any], *, generator: torch.Generator) -> Learner:
        """Prepare ``learner`` for training on T_{1:j}; ``chunks`` = T_1..T_j oldest first (as in ``dash_``)."""

    def penalty(self, learner: Learner) -> Tensor | None:
        """Extra term added to every training step's loss; None for methods without one."""
        return None

    def hyperparameters(self) -> dict[str, Any]:
        """The method's hyper-parameters by name, typed, in declaration order (its dataclass fields; none otherwise)."""
        if not dataclasses.is_dataclass(self):
            return {}
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        # numpy scalars (np.float64(0.3)) as the Python numbers they are, so config.json and CSVs hold numbers.
        return {k: v.item() if hasattr(v, "item") and type(v).__module__ == "numpy" else v for k, v in values.items()}


@dataclass(frozen=True)
class Cold(Method):
    """Cold start (Random Init): ``theta <- theta_fresh`` and a fresh optimizer, every experiment.

    References: DASH paper, Section 5.1 ("Random Init"); Ash & Adams 2020, Section 2.
    """

    name: ClassVar[str] = "cold"

    def before_experiment(self, learner: Learner, chunks: Sequence[Any], *, generator: torch.Generator) -> Learner:
        model = _fresh_model(learner, generator)
        return dataclasses.replace(learner, model=model, optimizer=learner.build_optimizer(model))


@dataclass(frozen=True)
class Warm(Method):
    """Warm start: keep ``theta`` and the optimizer state unchanged.

    References: DASH paper, Section 5.1 ("Warm Init"); Ash & Adams 2020, Section 2.
    """

    name: ClassVar[str] = "warm"

    def before_experiment(self, learner: Learner, chunks: Sequence[Any], *, generator: torch.Generator) -> Learner:
        return learner


@dataclass(frozen=True)
class WarmReM(Method):
    """Warm start with Re-initialized Momentum: keep ``theta``, build a fresh optimizer (state reset).

    References: DASH paper, Section 5.1 and Appendix C ("Warm ReM").
    """

    name: ClassVar[str] = "warm_rem"

    def before_experiment(self, learner: Learner, chunks: Sequence[Any], *, generator: torch.Generator) -> Learner:
        return dataclasses.replace(learner, optimizer=learner.build_optimizer(learner.model))


@dataclass(frozen=True)
class ShrinkPerturb(Method):
    """Shrink & Perturb as the DASH paper ran it: ``w <- lam * w + N(0, sigma^2)`` on Conv/Linear.

    Applies to every Linear/Conv weight and bias ``w`` (``lam`` = ``lam``, noise std = ``sigma``);
    BatchNorm parameters, buffers and optimizer state are kept.

    References: DASH paper, Section 5.1 and Appendix C (S&P baseline); Ash & Adams 2020, Section 4.
    """

    name: ClassVar[str] = "sp"
    lam: float = 0.3  # shrink factor lambda in (0, 1] (authors' code default)
    sigma: float = 0.01  # std of the added Gaussian noise (>= 0)

    def __post_init__(self) -> None:
        _check_range("lam", self.lam, 0.0, 1.0, low_open=True)
        _check_range("sigma", self.sigma, 0.0, float("inf"), low_open=False)

    def before_experiment(self, learner: Learner, chunks: Sequence[Any], *, generator: torch.Generator) -> Learner:
        with torch.no_grad():
            for p in shrinkable_parameters(learner.model):
                # Noise drawn on CPU from the generator so results do not depend on the device.
                noise = torch.randn(p.shape, generator=generator, dtype=p.dtype)
                p.mul_(self.lam).add_(noise.to(p.device), alpha=self.sigma)
        return learner


@dataclass(frozen=True)
class AshShrinkPerturb(Method):
    """Shrink & Perturb as Ash & Adams defined it: ``theta <- shrink * theta + perturb * theta_fresh``.

    For every parameter ``theta`` (BatchNorm included), ``theta_fresh`` is the same parameter in a
    freshly initialized copy of the network (``learner.build_model``). Buffers and optimizer state kept.

    References: Ash & Adams, "On Warm-Starting Neural Network Training", NeurIPS 2020, Section 4.
    """

    name: ClassVar[str] = "sp_ash"
    shrink: float = 0.6  # shrink factor lambda in (0, 1] (Ash & Adams' suggested trade-off)
    perturb: float = 0.01  # scale of the fresh-init copy added (>= 0)

    def __post_init__(self) -> None:
        _check_range("shrink", self.shrink, 0.0, 1.0, low_open=True)
        _check_range("perturb", self.perturb, 0.0, float("inf"), low_open=False)

    def before_experiment(self, learner: Learner, chunks: Sequence[Any], *, generator: torch.Generator) -> Learner:
        fresh = dict(_fresh_model(learner, generator).named_parameters())
        with torch.no_grad():
            for name, p in learner.model.named_parameters():
                p.mul_(self.shrink).add_(fresh[name].to(device=p.device, dtype=p.dtype), alpha=self.perturb)
        return learner


@dataclass(frozen=True)
class Shrink(Method):
    """Shrink only: ``w <- lam * w`` for every Conv/Linear weight and bias (no noise).

    References: DASH paper, Appendix (Figure 13 diagnostic).
    """

    name: ClassVar[str] = "shrink"
    lam: float = 0.3  # shrink factor lambda in (0, 1]

    def __post_init__(self) -> None:
        _check_range("lam", self.lam, 0.0, 1.0, low_open=True)

    def before_experiment(self, learner: Learner, chunks: Sequence[Any], *, generator: torch.Generator) -> Learner:
        with torch.no_grad():
            for p in shrinkable_parameters(learner.model):
                p.mul_(self.lam)
        return learner


@dataclass(frozen=True)
class ResetHead(Method):
    """Reset: ``head <- head_fresh``, the classifier ``model.head`` re-initialized; all else kept.

    The new head's values are those of a freshly built model's head; optimizer state is kept.

    References: DASH paper, Section 5.1 / Appendix C ("Reset" baseline).
    """

    name: ClassVar[str] = "reset_head"

    def before_experiment(self, learner: Learner, chunks: Sequence[Any], *, generator: torch.Generator) -> Learner:
        head = getattr(learner.model, "head", None)
        if not isinstance(head, nn.Module):
            raise ValueError("reset_head needs the classifier layer as model.head (an nn.Module)")
        fresh_head = _fresh_model(learner, generator).head
        with torch.no_grad():
            for (_, p), (_, q) in zip(head.named_parameters(), fresh_head.named_parameters()):
                p.copy_(q)
        return learner


L2_INIT_VARIANTS = ("authors", "sum_of_squares")


@dataclass(frozen=True)
class L2Init(Method):
    """L2 Init: a penalty pulling the weights toward ``W^(0)``, the very first initialization.

    ``variant="authors"`` (the DASH authors' code; pass it to reproduce their runs):
    ``c * (sum_l ||W_l - W_l^(0)||_F)^2`` over the
    ``.weight`` of every module that has one (Linear, Conv and BatchNorm; no biases): the sum of
    the per-layer Frobenius norms, squared. ``variant="sum_of_squares"`` (Kumar et al.'s Eq. (1),
    this package's first formula): ``c * sum_p ||p - p^(0)||^2`` over every parameter tensor ``p``
    (biases and BatchNorm included; the default, so earlier runs keep their numbers). ``W^(0)`` is
    taken from ``learner.initial_state``; ``c`` =
    ``c``. The between-experiments step does nothing.

    References: Kumar et al., "Maintaining Plasticity in Continual Learning via Regenerative
    Regularization", 2023, Eq. (1); DASH paper, Appendix C (L2 Init baseline);
    baekrok/DASH-Direction-Aware-SHrinking @3d3cea6, ``utils/train_utils.py`` 73-82 and ``main.py`` 39, 169.
    """

    name: ClassVar[str] = "l2_init"
    c: float = 1e-2  # regularization coefficient (authors' --l2_init_lambda 1e-2; their Gaudi port 1e-5), >= 0
    variant: str = "sum_of_squares"  # formula: "authors" (DASH authors' code) or "sum_of_squares" (Kumar et al.)

    def __post_init__(self) -> None:
        _check_range("c", self.c, 0.0, float("inf"), low_open=False)
        if self.variant not in L2_INIT_VARIANTS:
            raise ValueError(f"variant must be one of {L2_INIT_VARIANTS}, got {self.variant!r}")

    def before_experiment(self, learner: Learner, chunks: Sequence[Any], *, generator: torch.Generator) -> Learner:
        return learner

    def penalty(self, learner: Learner) -> Tensor:
        terms = []
        if self.variant == "sum_of_squares":
            for name, p in learner.model.named_parameters():
                w0 = learner.initial_state[name].to(device=p.device, dtype=p.dtype)
                terms.append((p - w0).pow(2).sum())
            return self.c * torch.stack(terms).sum()
        for prefix, module in learner.model.named_modules():
            w = getattr(module, "weight", None)
            if isinstance(w, Tensor):
                w0 = learner.initial_state[f"{prefix}.weight" if prefix else "weight"]
                terms.append(torch.linalg.vector_norm(w - w0.to(device=w.device, dtype=w.dtype)))
        return self.c * torch.stack(terms).sum().pow(2)


@dataclass(frozen=True)
class ColdReseeded(Method):
    """Cold start from the same initialization every time: ``theta <- theta^(0)`` and a fresh optimizer.

    ``theta^(0)`` is the run's first initialization (``learner.initial_state``), as the DASH
    authors' VGG constructor re-seeds torch with the run seed, so each of their cold restarts draws
    the first initialization again (``Cold`` draws a new one). It goes with their VGG-16
    (:class:`~dashsim.nn.models.VGG16BN` with ``head="authors"``) and, like it, is passed as an
    object (``method=ColdReseeded()``), not registered by name.

    References: baekrok/DASH-Direction-Aware-SHrinking @3d3cea6, ``models/VGG.py`` 15-16 and 53-55;
    ``utils/train_utils.py`` 190-193 (cold restart = a newly constructed model).
    """

    name: ClassVar[str] = "cold_reseeded"

    def before_experiment(self, learner: Learner, chunks: Sequence[Any], *, generator: torch.Generator) -> Learner:
        model = learner.build_model()
        model.load_state_dict(learner.initial_state)
        return dataclasses.replace(learner, model=model, optimizer=learner.build_optimizer(model))


@dataclass(frozen=True)
class Dash(Method):
    """DASH: ``theta <- theta * clamp(cos(G, theta), lam, 1)``, G the EMA of negative chunk gradients.

    See :func:`dashsim.nn.dash_` (this calls it with these fields).

    References: Shin et al., NeurIPS 2024, Section 4, Algorithm 1.
    """

    name: ClassVar[str] = "dash"
    alpha: float = 0.3  # EMA coefficient alpha in (0, 1]
    lam: float = 0.3  # minimum shrink factor lambda in (0, 1]
    grad_batch_size: int = 1024  # micro-batch size of the gradient pass (memory and speed only)
    granularity: str = "kernel"  # "kernel" (paper) or "filter" (per output filter)

    def __post_init__(self) -> None:
        _check_range("alpha", self.alpha, 0.0, 1.0, low_open=True)
        _check_range("lam", self.lam, 0.0, 1.0, low_open=True)
        check_int("grad_batch_size", self.grad_batch_size)
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}, got {self.granularity!r}")

    def before_experiment(self, learner: Learner, chunks: Sequence[Any], *, generator: torch.Generator) -> Learner:
        dash_(
            learner.model,
            chunks,
            alpha=self.alpha,
            lam=self.lam,
            batch_size=self.grad_batch_size,
            granularity=self.granularity,
        )
        return learner


METHODS: dict[str, type[Method]] = {
    m.name: m for m in (Cold, Warm, WarmReM, ShrinkPerturb, AshShrinkPerturb, Shrink, ResetHead, L2Init, Dash)
}


def register_method(cls: type[Method]) -> type[Method]:
    """Add a method class to :data:`METHODS` under its ``name``, so that it can be named (``--method NAME``).

    Usable as a decorator. A method object can always be passed to the protocols directly
    (``run_incremental(config, method=MyMethod(...))``); registering only adds the name, which is
    the one its results carry (``cls.name``, by default the class name). Its hyper-parameters
    become typed ``dashsim train`` flags, so their names must not clash with other flags.

    Parameters
    ----------
    cls : a :class:`Method` subclass, constructible with its hyper-parameters as keywords.

    Returns
    -------
    ``cls``, unchanged.

    Raises
    ------
    ValueError for a name registered for another class, or a hyper-parameter whose flag clashes.
    """
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise TypeError(f"register_method takes a Method subclass, got {cls!r}")
    name = cls.name
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a method name must be an identifier-like string, got {name!r}")
    if METHODS.get(name, cls) is not cls:
        raise ValueError(f"method name {name!r} is already registered for {METHODS[name].__qualname__}")
    from .train_cli import check_flag_names

    check_flag_names("method", cls)
    METHODS[name] = cls
    return cls


def make_method(name: str, **hyper: Any) -> Method:
    """Build the registered method ``name`` with hyper-parameters ``hyper`` (others at paper defaults).

    Raises ValueError for an unknown name (listing the known ones) and TypeError for an unknown
    hyper-parameter (naming it and the allowed ones).
    """
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    cls = METHODS[name]
    allowed = [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []
    for key in hyper:
        if key not in allowed:
            raise TypeError(
                f"unknown hyper-parameter {key!r} for method {name!r}; allowed: {', '.join(allowed) or '(none)'}"
            )
    return cls(**hyper)


def resolve_method(method: "str | Method") -> Method:
    """``method`` itself if it is a :class:`Method`, else the registered method of that name at its defaults."""
    if isinstance(method, Method):
        return method
    if isinstance(method, str):
        return make_method(method)
    raise TypeError(f"method must be a Method instance or a registered name, got {type(method).__name__}")
