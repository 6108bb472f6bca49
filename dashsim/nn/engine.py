"""The one resumable experiment engine: seeding, the unit x round loop, checkpoints, probes, progress, rows.

Every training protocol is a small :class:`Plan` run by :func:`run`: the plan says which units a
run has (by default one per seed), how many rounds each unit trains, and, for round ``r``, which
samples train, whether the between-experiments method is applied first and with which chunks, how
long to train, and which test samples score. The engine does everything else, identically for all
protocols:

1. resolve the user's pieces (data set, model, method: registry names or objects) and check the
   settings against the data, before anything is written;
2. open the run folder (:class:`dashsim.runs.RunFolder`: locked, config checked, resumed);
3. for each unit: seed it (:func:`seed_run`), build a fresh learner, start the plan's state; for
   each round ``r``: ``plan.round`` -> method step (``method.before_experiment``) -> ``probe`` ->
   train (:func:`~dashsim.nn.train.train_until_target`) -> test accuracy -> ``probe_after`` ->
   one row -> an atomic checkpoint (learner, every RNG, the plan's state) and ``metrics.csv``.

A re-run of the same call continues after the last finished round and, on CPU, ends with exactly
the rows and weights of an uninterrupted run.

Rows have the columns :data:`ROW_COLUMNS` (with the method's hyper-parameters, typed, after
``method``, and the unit's variables after ``seed``), then the plan's measurements, then the
probes' columns.
"""

from __future__ import annotations

import dataclasses
import logging
import numbers
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Iterator, Optional

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from .. import runs
from .._config import config_to_dict
from .._progress import progress_bar
from .._validate import check_memory
from . import data as _data
from .fast import deterministic_mode, device_change_note
from .methods import Learner, Method, resolve_method
from .models import MODELS, check_input_shape
from .train import (ExperimentResult, NonFiniteLossError, SettingsError, TrainConfig, TrainingData, build_learner,
                    evaluate, prepare_data, resolve_device, train_until_target)

__all__ = ["Plan", "Round", "ProbeContext", "Probe", "run", "ROW_COLUMNS", "PROTOCOLS", "register_protocol",
           "setting_int", "seed_run", "learner_state", "restore_learner", "chunk_permutation", "IndexedChunk",
           "run_folder_name", "run_config_dict", "Resolved", "resolve"]

logger = logging.getLogger(__name__)

# What every row holds (the method's hyper-parameters follow "method", the unit's variables "seed").
ROW_COLUMNS = (
    "protocol", "dataset", "model", "method", "seed", "experiment", "n_train", "test_accuracy", "steps", "epochs",
    "train_accuracy", "train_loss", "converged", "method_applied", "wall_time_s", "method_time_s",
)
RUN_FORMAT = 2  # the run folder format this engine writes (dashsim.runs.SCHEMA_KEY)


# --- seeding and checkpoints -----------------------------------------------------------------


def _seed_streams(seed: int) -> tuple[int, int, int]:
    """Independent integer seeds for (chunk permutation, mini-batch shuffles, method noise) from ``seed``.

    SeedSequence spawning keeps the streams of seed s and seed s+1 unrelated, unlike ``seed + k``.
    """
    children = np.random.SeedSequence(seed).spawn(3)
    return tuple(int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for c in children)  # type: ignore[return-value]


def seed_run(seed: int) -> tuple[torch.Generator, torch.Generator]:
    """Seed the global RNGs for run seed ``seed`` and return its (mini-batch shuffle, method noise) generators.

    With ``(s_perm, s_shuffle, s_method)`` the three independent streams spawned from ``seed`` by
    ``numpy.random.SeedSequence`` (``s_perm`` is :func:`chunk_permutation`'s): torch, NumPy and
    Python's global RNGs are seeded with ``seed`` (the model initialization draws from torch's),
    and the returned CPU generators are seeded with ``s_shuffle`` and ``s_method``. The engine
    calls it once per unit, before building the learner.

    Parameters
    ----------
    seed : the run seed (an int >= 0).

    Returns
    -------
    (shuffle_gen, method_gen) : ``torch.Generator`` for the mini-batch order (and crop offsets) and
    for the method's noise (S&P, DASH); both belong in the checkpoint (:func:`learner_state`).

    References
    ----------
    DASH paper, Section 5 (every result is a mean over seeds).
    """
    _, shuffle_seed, method_seed = _seed_streams(seed)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
    return torch.Generator().manual_seed(shuffle_seed), torch.Generator().manual_seed(method_seed)


def learner_state(learner: Learner, shuffle_gen: torch.Generator, method_gen: torch.Generator) -> dict[str, Any]:
    """The part of a checkpoint that restores training exactly: model, optimizer, first initialization, RNGs.

    Returns
    -------
    dict with keys ``model``, ``optimizer``, ``initial_state`` and ``rng`` (every RNG state,
    :func:`dashsim.runs.capture_rng_state`); :func:`restore_learner` reads it back.
    """
    return {
        "model": learner.model.state_dict(), "optimizer": learner.optimizer.state_dict(),
        "initial_state": learner.initial_state,
        "rng": runs.capture_rng_state({"shuffle": shuffle_gen, "method": method_gen}),
    }


def restore_learner(learner: Learner, state: dict[str, Any], shuffle_gen: torch.Generator,
                    method_gen: torch.Generator, device: torch.device) -> Learner:
    """Load what :func:`learner_state` saved into a freshly built learner and the generators (in place).

    Returns
    -------
    Learner : ``learner`` with the saved model and optimizer states and initial parameters, so that
    training continues exactly (bit-identical on CPU) as if it had not been interrupted.
    """
    learner.model.load_state_dict(state["model"])
    learner.optimizer.load_state_dict(state["optimizer"])
    runs.restore_rng_state(state["rng"], {"shuffle": shuffle_gen, "method": method_gen})
    return dataclasses.replace(learner, initial_state={k: v.to(device) for k, v in state["initial_state"].items()})


def chunk_permutation(n_total: int, *, seed: int, J: int, subset: int | None = None) -> tuple[Tensor, int]:
    """The seeded permutation whose consecutive ranges are the chunks, and the chunk size.

    ``perm = randperm(n_total)[:subset]``; chunk ``T_i = perm[(i-1) n_per_chunk : i n_per_chunk]``
    with ``n_per_chunk = len(perm) // J`` (a remainder of fewer than ``J`` samples is left out).

    Parameters
    ----------
    n_total : size of the training set.
    seed : run seed (the permutation uses its own derived stream).
    J : number of chunks.
    subset : keep only this many samples (a seeded random subset), or all if None.

    Returns
    -------
    (perm, n_per_chunk) : int64 CPU tensor of length ``J * n_per_chunk`` and the chunk size.
    """
    if subset is not None and subset > n_total:
        raise SettingsError(f"subset must be at most the training set size {n_total}, got {subset}")
    gen = torch.Generator().manual_seed(_seed_streams(seed)[0])
    perm = torch.randperm(n_total, generator=gen)[: subset or n_total]
    n_per_chunk = perm.numel() // J
    if n_per_chunk < 1:
        raise SettingsError(f"J={J} chunks need at least J training samples, have {perm.numel()}")
    return perm[: J * n_per_chunk], n_per_chunk


class IndexedChunk:
    """One chunk as a re-iterable of (inputs, targets) mini-batches gathered by index (no copy of the chunk)."""

    def __init__(self, x: Tensor, y: Tensor, idx: Tensor, batch_size: int = 1024):
        self.x, self.y, self.idx, self.batch_size = x, y, idx, batch_size

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for start in range(0, self.idx.numel(), self.batch_size):
            batch = self.idx[start : start + self.batch_size]
            yield self.x[batch], self.y[batch]

    def __len__(self) -> int:
        return self.idx.numel()


# --- plans -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Round:
    """What a plan decides for round ``r`` of a unit, before it trains."""

    train: Tensor  # indices (into the training tensors) of the samples trained on
    chunks: Optional[list[Tensor]] = None  # the data as the method sees it, oldest first (index tensors)
    apply_method: bool = False  # run method.before_experiment(learner, chunks) first
    epochs: Optional[int] = None  # epoch cap of this round (default config.max_epochs); 0 trains nothing
    until_target: bool = True  # stop when an epoch's train accuracy reaches config.target_accuracy
    test: Optional[Tensor] = None  # boolean mask of the test samples that score this round (default: all)


@dataclasses.dataclass(frozen=True)
class Plan:
    """A training protocol: its settings (the subclass's dataclass fields) and its rounds.

    Subclass it as a frozen dataclass whose fields are the protocol's own settings (with the
    paper's defaults and a trailing comment each; they become ``dashsim train`` flags), set
    ``name``, and implement :meth:`n_rounds`, :meth:`start` and :meth:`round`; register it with
    :func:`dashsim.nn.register_protocol` to run it by name. Everything else (seeding, training,
    checkpoints, rows) is the engine's.
    """

    name: ClassVar[str] = ""

    def settings(self) -> dict[str, Any]:
        """The protocol's settings as recorded in ``config.json`` (its dataclass fields)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def configure(self, config: TrainConfig) -> TrainConfig:
        """The training settings this protocol runs with (e.g. one epoch per round); ``config`` by default.

        It must be idempotent (``configure(configure(c)) == configure(c)``): run folders are named
        after the configured settings.
        """
        return config

    def units(self, config: TrainConfig) -> list[dict[str, Any]]:
        """The run's independent units, each trained from a fresh seeded learner: one per seed by default.

        Each is a dict with a ``"seed"`` and any variables of the unit (which become row columns).
        """
        return [{"seed": seed} for seed in config.seeds]

    def n_rounds(self, config: TrainConfig, data: TrainingData) -> int:
        """The number of rounds of every unit; raise :class:`SettingsError` for settings the data cannot satisfy."""
        raise NotImplementedError

    def start(self, config: TrainConfig, data: TrainingData, unit: dict[str, Any]) -> dict[str, Tensor]:
        """The unit's protocol state (tensors, checkpointed with the learner).

        It may draw only from its own seeded streams.
        """
        return {}

    def round(self, r: int, learner: Learner, data: TrainingData, state: dict[str, Tensor]) -> Round:
        """Round ``r`` (1-based) of a unit; may update ``state`` in place (e.g. active learning's pool)."""
        raise NotImplementedError

    def train_sizes(self, config: TrainConfig, data: TrainingData) -> Optional[list[int]]:
        """The numbers of samples the rounds train on, if known before training (None: not known).

        The engine checks them against the batch size before any run folder exists (a one-sample
        last batch cannot train a BatchNorm network).
        """
        return None

    def measure(self, when: str, learner: Learner, context: "ProbeContext", state: dict[str, Tensor]) -> dict[str, Any]:
        """The protocol's own measurements ``"before"`` training or ``"after"`` it; the same keys every round."""
        return {}

    def folder_suffix(self) -> str:
        """The default run folder's suffix after ``runs/<data>_<model>_<method>_J<J>``."""
        return "_" + self.name.replace("-", "_")


PROTOCOLS: dict[str, type[Plan]] = {}


def register_protocol(cls: type[Plan]) -> type[Plan]:
    """Add a protocol (a :class:`Plan` subclass) to :data:`PROTOCOLS`, so it runs by name; usable as a decorator.

    ``dashsim train --protocol NAME`` then runs it, with one flag per field of the plan.
    """
    if not (isinstance(cls, type) and issubclass(cls, Plan) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"register_protocol takes a dataclass subclass of Plan, got {cls!r}")
    if not cls.name or not isinstance(cls.name, str):
        raise ValueError(f"{cls.__qualname__} needs a class attribute name (the protocol's name)")
    if PROTOCOLS.get(cls.name, cls) is not cls:
        raise ValueError(f"protocol name {cls.name!r} is already registered for {PROTOCOLS[cls.name].__qualname__}")
    from .train_cli import check_flag_names

    check_flag_names("protocol", cls)
    PROTOCOLS[cls.name] = cls
    return cls


def setting_int(name: str, value: Any, low: int) -> int:
    """``value`` as an int, or a :class:`SettingsError` naming ``name`` unless it is an integer ``>= low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise SettingsError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


@dataclasses.dataclass(frozen=True)
class ProbeContext:
    """What a probe sees besides the learner: the unit, round ``j`` and its data."""

    seed: int  # the unit's seed
    j: int  # the round (the experiment), 1-based
    chunks: Optional[list[Any]]  # the data as the method sees it, oldest first (re-iterable mini-batches), if any
    x: Tensor  # the whole (normalized) training set on the training device
    y: Tensor  # its labels
    train_indices: Tensor  # indices into x of the samples round j trains on
    x_test: Tensor  # the test samples round j is scored on
    y_test: Tensor  # their labels
    unit: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # the unit's variables (seed, ...)


Probe = Callable[[Learner, ProbeContext], Mapping[str, Any]]


# --- resolving the user's pieces -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Resolved:
    """A run's settings with every piece resolved to an object: what :func:`run` trains."""

    config: TrainConfig  # with data, model and method set to the pieces' names
    dataset: _data.ImageDataset
    model: Optional[Callable[[], nn.Module]]  # None: the registered config.model, sized for the data
    method: Method


def _callable_name(model: Callable[[], nn.Module]) -> str:
    name = getattr(model, "__qualname__", None) or type(model).__qualname__
    return name.replace("<", "").replace(">", "")


def resolve(config: TrainConfig, *, dataset: Any = None, model: Any = None, method: Any = None) -> Resolved:
    """Resolve registry names or objects for the data set, model and method; check the model takes the data.

    Parameters
    ----------
    config : the training settings (its ``data``, ``model`` and ``method`` names are the defaults).
    dataset : an :class:`~dashsim.nn.ImageDataset` (e.g. from ``ImageDataset.from_tensors``), a
        registered name, or None (``config.data`` from ``config.data_root``).
    model : a zero-argument callable returning a fresh ``nn.Module``, a registered name, or None
        (``config.model``).
    method : a :class:`~dashsim.nn.Method` object (e.g. ``Dash(lam=0.9)``), a registered name, or
        None (``config.method`` at its defaults).

    Returns
    -------
    Resolved, whose config names each piece (``dataset.name``, the callable's ``__qualname__``,
    ``method.name``).

    Raises
    ------
    SettingsError for unknown names or a registered model that cannot take the data's inputs;
    FileNotFoundError for a data set missing on disk.
    """
    if isinstance(dataset, _data.ImageDataset):
        config = dataclasses.replace(config, data=dataset.name)
    elif dataset is None or isinstance(dataset, str):
        config = dataclasses.replace(config, data=dataset or config.data)
        if config.data not in _data.DATASETS:
            raise SettingsError(f"data must be a registered data set ({', '.join(sorted(_data.DATASETS))}) or an "
                                f"ImageDataset passed as dataset=; got {config.data!r}")
        try:
            dataset = _data.load_dataset(config.data, config.data_root)
        except ValueError as err:
            raise SettingsError(str(err)) from None
    else:
        raise TypeError(f"dataset must be an ImageDataset or a registered name, got {type(dataset).__name__}")
    if callable(model) and not isinstance(model, str):
        config = dataclasses.replace(config, model=_callable_name(model))
    elif model is None or isinstance(model, str):
        config = dataclasses.replace(config, model=model or config.model)
        if config.model not in MODELS:
            raise SettingsError(f"model must be a registered network ({', '.join(MODELS)}) or a zero-argument "
                                f"callable returning an nn.Module; got {config.model!r}")
        try:
            check_input_shape(config.model, dataset.input_shape)
        except ValueError as err:
            raise SettingsError(f"{err} (data set {dataset.name!r})") from None
        model = None
    else:
        raise TypeError(f"model must be a zero-argument callable or a registered name, got {type(model).__name__}")
    try:
        method = resolve_method(config.method if method is None else method)
    except ValueError as err:
        raise SettingsError(str(err)) from None
    config = dataclasses.replace(config, method=method.name)
    if (config.augment or config.channels_last) and len(dataset.input_shape) != 3:
        raise SettingsError(f"augment and channels_last need images (N, C, H, W); data set {dataset.name!r} has inputs "
                            f"of shape {dataset.input_shape}")
    return Resolved(config, dataset, model, method)


# --- run folders -----------------------------------------------------------------------------


def run_config_dict(config: TrainConfig) -> dict[str, Any]:
    """The training part of a run folder's ``config.json``: the fields that define the run, plus resolved defaults.

    ``out`` (where the run is written) and ``tensorboard`` (whether it is also logged) are left out.
    """
    values = config_to_dict(config)
    values.pop("out")
    values.pop("tensorboard")
    values["lr_used"] = config.resolved_lr
    values["normalize_used"] = config.resolved_normalize
    return values


def _with_hyperparameters(row: dict[str, Any], hyper: dict[str, Any]) -> dict[str, Any]:
    """A resumed row with every hyper-parameter column, in the order new rows have them.

    A hyper-parameter added to a method after the row was written takes the run's value, which the
    folder's config check has shown to be the added default (the earlier behaviour).
    """
    if all(name in row for name in hyper):
        return row
    keys = list(row)
    head = keys[: keys.index("method") + 1]
    rest = [k for k in keys[len(head):] if k not in hyper]
    return {**{k: row[k] for k in head}, **{k: row.get(k, v) for k, v in hyper.items()}, **{k: row[k] for k in rest}}


def _field_defaults(cls: type) -> dict[str, Any]:
    """The defaults of dataclass ``cls``'s fields that have one (those added later keep the earlier behaviour)."""
    if not dataclasses.is_dataclass(cls):
        return {}
    return {f.name: f.default for f in dataclasses.fields(cls) if f.init and f.default is not dataclasses.MISSING}


def run_folder_name(config: TrainConfig, plan: "Plan | None" = None) -> str:
    """The run folder of ``plan`` with settings ``config``: ``config.out`` if given, else a default per protocol.

    The main protocol's default is :attr:`TrainConfig.resolved_out` (``runs/<data>_<model>_<method>_J<J>``);
    every other protocol appends its :meth:`Plan.folder_suffix` (``_two_phase``, ...), so that
    folders of different protocols never collide.
    """
    if plan is not None:
        config = plan.configure(config)  # the settings the run folder is named after (two-phase: J = 2)
    if config.out or plan is None or plan.name == "incremental":
        return config.resolved_out
    return config.resolved_out + plan.folder_suffix()


def _probe_name(probe: Optional[Probe]) -> Optional[str]:
    return None if probe is None else getattr(probe, "__qualname__", type(probe).__qualname__)


def _scalar(key: str, value: Any, source: str) -> Any:
    """``value`` as a plain Python scalar (a row cell), or a TypeError naming ``source`` and ``key``."""
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)) and np.ndim(value) == 0:
        value = value.item()
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"{source} returned {type(value).__name__} for column {key!r}; "
                    "a column holds a number, bool or str")


def _measure(source: str, function: Callable[[], Mapping[str, Any]], taken: set[str]) -> dict[str, Any]:
    """``function()`` as a dict of row cells, with the global RNG left as it was; its columns must be new."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    # Forking the RNG keeps a probe that draws random numbers from changing the run it observes.
    with torch.random.fork_rng(devices=devices):
        values = function()
    if not isinstance(values, Mapping):
        raise TypeError(f"{source} must return a mapping of column name to value, got {type(values).__name__}")
    out = {}
    for key, value in values.items():
        if not isinstance(key, str) or key in taken:
            raise ValueError(f"{source} returned the column {key!r}, which is taken (or not a string); "
                             f"taken: {sorted(taken)}")
        out[key] = _scalar(key, value, source)
    return out


def _check_model(spec: Resolved, data: TrainingData, device: torch.device,
                 train_sizes: Optional[list[int]] = None) -> str:
    """Build one model and pass two training samples through it, before any run folder exists; its signature.

    Raises :class:`SettingsError` if the network cannot take the data's inputs or does not give one
    logit per class, or (:func:`~dashsim.nn.train.check_train_sizes`) if a round of ``train_sizes``
    samples would train a BatchNorm network on a one-sample batch. Returns a short hash of the
    network's class, parameter and buffer names and shapes, recorded in ``config.json`` so that
    another network under the same name is another run. The global RNG is left as it was (the run's
    own models are drawn after seeding).
    """
    import hashlib

    from .train import check_train_sizes, model_factory

    build = model_factory(dataclasses.replace(spec.config, compile=False), spec.dataset, device, spec.model)
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        net = build()
    check_train_sizes(spec.config, train_sizes or [], net)
    config = spec.config
    if config.augment and data.x.dim() == 4 and config.crop_padding > max(data.x.shape[2:]):
        _, C, H, W = data.x.shape  # a padded mini-batch as random_crop_flip builds it
        check_memory("crop_padding", config.batch_size * C * (H + 2 * config.crop_padding)
                     * (W + 2 * config.crop_padding) * data.x.element_size(),
                     f"a mini-batch of {config.batch_size} images padded by {config.crop_padding} pixels")
    shapes = [(name, tuple(t.shape)) for name, t in [*net.named_parameters(), *net.named_buffers()]]
    signature = hashlib.sha1(repr((type(net).__qualname__, shapes)).encode()).hexdigest()[:12]
    net.eval()
    try:
        with torch.no_grad():
            out = net(data.x[:2])
    except Exception as err:  # any failure here is the model not fitting the data
        raise SettingsError(f"model {spec.config.model!r} cannot take the inputs of data set {spec.dataset.name!r} "
                            f"(one sample has shape {tuple(data.x.shape[1:])}): {type(err).__name__}: {err}") from None
    if not isinstance(out, Tensor) or tuple(out.shape) != (min(2, data.x.shape[0]), data.num_classes):
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise SettingsError(f"model {spec.config.model!r} must return one logit per class, shape (batch, "
                            f"{data.num_classes}), for data set {spec.dataset.name!r}; it returned {shape}")
    return signature


def _tensorboard_writer():
    """``torch.utils.tensorboard.SummaryWriter``, or a SettingsError saying how to install it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise SettingsError("tensorboard logging (TrainConfig.tensorboard, --tensorboard) needs the tensorboard "
                            "package: pip install tensorboard (or dashsim's [tensorboard] extra)") from None
    return SummaryWriter


def _no_training() -> ExperimentResult:
    return ExperimentResult(steps=0, epochs=0, train_accuracy=float("nan"), train_loss=float("nan"), converged=False)


# --- the loop --------------------------------------------------------------------------------


def run(config: TrainConfig, plan: Plan, *, dataset: Any = None, model: Any = None, method: Any = None,
        progress: bool = False, probe: Optional[Probe] = None, probe_after: Optional[Probe] = None,
        keep_going: bool = False) -> pd.DataFrame:
    """Run (or resume) protocol ``plan`` with settings ``config``; one row per (unit, round).

    Round ``r`` of a unit: ``rnd = plan.round(r, ...)``; if ``rnd.apply_method``,
    ``learner <- method.before_experiment(learner, chunks)``; ``probe(learner, context)``; train on
    ``rnd.train`` (:func:`~dashsim.nn.train.train_until_target`, capped at ``rnd.epochs``); test
    accuracy in eval mode on ``rnd.test``; ``probe_after(learner, context)``; then the row and an
    atomic checkpoint in the run folder (``config.out``, or :func:`run_folder_name`).

    Parameters
    ----------
    config : the training settings.
    plan : the protocol (a :class:`Plan` instance).
    dataset, model, method : your own pieces or registry names; see :func:`resolve`.
    progress : show progress bars.
    probe : optional ``probe(learner, context) -> {column: value}``, called after the method's step
        and before training; its values become extra columns of the round's row (kept in the run
        folder, so a resumed run returns them too). It must not change the learner (use eval mode);
        the global RNG is restored after it, and its time is not counted in ``wall_time_s``. Its
        name (``__qualname__``) is part of the run folder's config.
    probe_after : the same, called after training and the test evaluation.
    keep_going : when a unit's loss diverges (:class:`NonFiniteLossError`), log which seed failed, drop
        that unit's rows and go on with the other units instead of stopping. The failed units are
        listed in the result's ``attrs["failed_seeds"]``; once every other unit is done, re-running the
        same call retries them (and, to keep the rows in unit order, recomputes the units after the
        first failed one, bit-identically on CPU).

    Returns
    -------
    pandas.DataFrame with :data:`ROW_COLUMNS` (hyper-parameters after ``method``, unit variables
    after ``seed``), the plan's measurements and the probes' columns: every unit and round so far;
    ``attrs["failed_seeds"]`` lists the seeds of failed units (``keep_going``).

    Raises
    ------
    SettingsError (before any run folder exists) for settings the data or machine cannot satisfy;
    dashsim.runs.ConfigMismatchError if the run folder holds a run with other settings;
    dashsim.runs.RunFolderBusyError if another process is running it;
    NonFiniteLossError if the loss diverges (finished rounds stay in the run folder).
    """
    if not isinstance(plan, Plan):
        raise TypeError(f"plan must be a Plan instance, got {type(plan).__name__}")
    spec = resolve(plan.configure(config), dataset=dataset, model=model, method=method)
    config, method = spec.config, spec.method
    device = resolve_device(config.device)
    if config.fast and device.type != "cuda":
        logger.info("fast=True has no effect on %s: the standard training loop runs (captured steps need CUDA)", device)
    data = prepare_data(config, spec.dataset, device)
    R = plan.n_rounds(config, data)
    units = plan.units(config)
    hyper = method.hyperparameters()
    clash = set(hyper) & (set(ROW_COLUMNS) | {key for unit in units for key in unit})
    if clash:
        raise SettingsError(f"method {method.name!r} has hyper-parameters named like row columns or the protocol's "
                            f"unit variables: {sorted(clash)}")
    signature = _check_model(spec, data, device, plan.train_sizes(config, data))
    board = _tensorboard_writer() if config.tensorboard else None
    folder_config = {
        runs.SCHEMA_KEY: RUN_FORMAT, **run_config_dict(config), "protocol": plan.name,
        "protocol_settings": plan.settings(), "method_params": hyper, "rounds": R,
        "model_source": ("registry" if spec.model is None
                         else f"callable {getattr(spec.model, '__module__', '?')}.{config.model}"),
        "model_signature": signature,
    }
    if probe is not None or probe_after is not None:
        folder_config.update(probe=_probe_name(probe), probe_after=_probe_name(probe_after))
    # Training settings added to TrainConfig after a folder was written take their defaults there.
    added = run_config_dict(TrainConfig(data=config.data, model=config.model, method=config.method))
    added.update(protocol_settings=_field_defaults(type(plan)), method_params=_field_defaults(type(method)))
    # How the run executes, not what it computes: another value resumes the folder, with a warning.
    volatile = ("device", "fast", "deterministic")
    with deterministic_mode(config.deterministic), \
            runs.RunFolder(run_folder_name(config, plan), folder_config, added_defaults=added,
                           volatile=volatile) as folder:
        resumed = folder.resume_state()
        saved, rows = resumed if resumed is not None else (None, [])
        _check_saved(folder, saved, rows, units, R)
        rows = [_with_hyperparameters(row, hyper) for row in rows]
        failed = list(saved.get("failed", [])) if saved is not None else []
        at_end = saved is not None and saved["unit"] == len(units) - 1 and saved["round"] == R
        finished = at_end and not failed
        if failed and at_end:
            # Retry the failed units: recompute from the first of them (seeded per unit, so the units
            # after it come out identical), keeping the rows in unit order.
            first = min(failed)
            logger.info("%s: retrying the failed seed(s) %s from unit %d", folder.path,
                        [units[i]["seed"] for i in failed], first)
            del rows[first * R:]
            saved = {"unit": first - 1, "round": R, "failed": []} if first > 0 else None
            failed = []
        if not finished:  # re-opening a finished run (to read its rows) records nothing
            _warn_device_change(folder, device)
            folder.write_environment(device=str(device), seeds=config.seeds, extra={"torch_device": str(device)})
        if finished:
            logger.info("%s holds the finished run (%d rounds): nothing to train", folder.path, len(rows))
        elif saved is not None:
            unit = ", ".join(f"{key} {value}" for key, value in units[saved["unit"]].items())
            logger.info("resuming %s after %s round %d of %d", folder.path, unit, saved["round"], R)
        loop = _Loop(config, plan, spec, data, device, folder, hyper, probe, probe_after, rows, progress, board)
        loop.failed, loop.keep_going = failed, keep_going
        loop.run_units(units, R, saved)
    frame = pd.DataFrame(rows)
    frame.attrs["failed_seeds"] = [units[i]["seed"] for i in loop.failed]
    return frame


def _check_saved(folder: runs.RunFolder, saved: Optional[dict[str, Any]], rows: list, units: list, R: int) -> None:
    """The checkpoint's position lies in this run (unit index, seed, round, row count), or RunFolderCorruptError."""
    if saved is None:
        return
    path = folder.path / folder.CHECKPOINT
    remedy = runs.CHECKPOINT_REMEDY
    keys = {"unit", "seed", "round", "learner", "plan_state"}
    if not keys <= set(saved):
        raise runs.RunFolderCorruptError(path, f"lacks the entries {sorted(keys - set(saved))}", remedy)
    unit, r = saved["unit"], saved["round"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (unit, r)) or not 0 <= unit < len(units) \
            or not 1 <= r <= R:
        raise runs.RunFolderCorruptError(path, f"claims unit {unit!r}, round {r!r}, but this run has units 0.."
                                         f"{len(units) - 1} and rounds 1..{R}", remedy)
    if saved["seed"] != units[unit]["seed"]:
        raise runs.RunFolderCorruptError(path, f"claims seed {saved['seed']!r} for unit {unit}, whose seed is "
                                         f"{units[unit]['seed']}", remedy)
    failed = saved.get("failed", [])
    if not isinstance(failed, list) or not all(isinstance(i, int) and 0 <= i <= unit for i in failed):
        raise runs.RunFolderCorruptError(path, f"lists failed units {failed!r} outside 0..{unit}", remedy)
    # Failed units keep no rows; the unit in progress has r of them.
    expected = sum(R for i in range(unit) if i not in failed) + (0 if unit in failed else r)
    if len(rows) != expected:
        raise runs.RunFolderCorruptError(path, f"holds {len(rows)} rows, but unit {unit} round {r} means "
                                         f"{expected}", remedy)
    if not isinstance(saved["learner"], dict) or not isinstance(saved["plan_state"], dict):
        raise runs.RunFolderCorruptError(path, "'learner' and 'plan_state' must be dicts", remedy)


def _warn_device_change(folder: runs.RunFolder, device: torch.device) -> None:
    """Log what changes when ``folder`` resumes on another device type, or with other execution settings."""
    for key, (before, now) in folder.changed.items():
        logger.warning("%s: %s: %r -> %r (the folder keeps %r in config.json; environment.json records each resume)",
                       folder.path, key, before, now, before)
    path = folder.path / folder.ENVIRONMENT
    if not path.exists():
        return
    env = runs.read_json(path, "delete environment.json (only a record: the resume writes a new one)")
    previous = (env.get("resumes") or [env])[-1].get("device")
    note = None if previous is None else device_change_note(previous, device)
    if note is not None:
        logger.warning("%s: %s", folder.path, note)


class _Loop:
    """The unit x round loop of :func:`run` (one object so the per-round steps read as short methods)."""

    def __init__(self, config, plan, spec, data, device, folder, hyper, probe, probe_after, rows, progress, board):
        self.config, self.plan, self.spec, self.data, self.device = config, plan, spec, data, device
        self.folder, self.hyper, self.probe, self.probe_after = folder, hyper, probe, probe_after
        self.rows, self.progress, self.board = rows, progress, board
        self.method = spec.method
        self.failed: list[int] = []  # indices of units whose loss diverged (keep_going)
        self.keep_going = False
        # Micro-batch size of gradient passes over chunks (memory only); DASH exposes its own.
        self.chunk_batch = getattr(self.method, "grad_batch_size", 1024)

    def run_units(self, units: list[dict[str, Any]], R: int, saved: Optional[dict[str, Any]]) -> None:
        bar = progress_bar(total=len(units) * R, initial=len(self.rows), desc=self.plan.name, unit="round",
                           disable=not self.progress)
        try:
            for index, unit in enumerate(units):
                if saved is not None and (index < saved["unit"] or (index == saved["unit"] and saved["round"] == R)):
                    continue  # this unit finished before the interruption
                self.run_unit(index, unit, R, saved if saved is not None and index == saved["unit"] else None, bar)
                saved = None
        finally:
            bar.close()

    def run_unit(self, index: int, unit: dict[str, Any], R: int, saved: Optional[dict[str, Any]], bar) -> None:
        seed = unit["seed"]
        shuffle_gen, method_gen = seed_run(seed)
        learner = build_learner(self.config, self.spec.dataset, self.device, self.spec.model)
        state = self.plan.start(self.config, self.data, unit)
        first = 1
        if saved is not None:
            try:
                learner = restore_learner(learner, saved["learner"], shuffle_gen, method_gen, self.device)
                state = {k: v.to(self.device) for k, v in saved["plan_state"].items()}
            except (KeyError, RuntimeError, TypeError, ValueError, AttributeError) as err:
                raise runs.RunFolderCorruptError(self.folder.path / self.folder.CHECKPOINT, "does not fit this run's "
                                                 f"model, optimizer or generators ({type(err).__name__}: {err})",
                                                 runs.CHECKPOINT_REMEDY) from None
            first = saved["round"] + 1
        # TensorBoard: one log folder per unit (a "run" to TensorBoard), one scalar per metric and round.
        board = None if self.board is None else self.board(
            str(Path(self.folder.path) / "tensorboard" / "_".join(f"{k}_{v}" for k, v in unit.items())))
        start_rows = len(self.rows)
        try:
            for r in range(first, R + 1):
                try:
                    learner, row = self.run_round(r, unit, learner, state, shuffle_gen, method_gen)
                except NonFiniteLossError as err:
                    if not self.keep_going:
                        raise
                    # This unit's rows so far go (it is retried whole); the other units carry on.
                    del self.rows[start_rows - (first - 1):]
                    self.failed.append(index)
                    logger.error("seed %s failed (%s); continuing with the other seeds (keep_going); re-run the "
                                 "same command to retry it", seed, err)
                    self.folder.save_checkpoint(
                        {"unit": index, "seed": seed, "round": R, "failed": list(self.failed),
                         "learner": learner_state(learner, shuffle_gen, method_gen),
                         "plan_state": {k: v.cpu() for k, v in state.items()}}, self.rows)
                    bar.update(R - r + 1)
                    return
                if self.rows and list(row) != list(self.rows[0]):
                    raise ValueError(f"round {r} of unit {unit} has columns {list(row)}, but the rows so far in "
                                     f"{self.folder.path} have {list(self.rows[0])}; probes and measurements must "
                                     "return the same names every round")
                self.rows.append(row)
                self.folder.save_checkpoint(
                    {"unit": index, "seed": seed, "round": r, **({"failed": list(self.failed)} if self.failed else {}),
                     "learner": learner_state(learner, shuffle_gen, method_gen),
                     "plan_state": {k: v.cpu() for k, v in state.items()}},
                    self.rows,
                )
                if board is not None:
                    ids = {"seed", "experiment", *unit, *self.hyper}
                    for key, value in row.items():
                        if isinstance(value, (int, float)) and key not in ids:  # bools (converged) as 0/1
                            board.add_scalar(key, float(value), global_step=r)
                    board.flush()
                bar.update(1)
                bar.set_postfix(test_acc=f"{row['test_accuracy']:.4f}", steps=row["steps"])
        finally:
            if board is not None:
                board.close()

    def run_round(self, r, unit, learner, state, shuffle_gen, method_gen) -> tuple[Learner, dict[str, Any]]:
        config, data = self.config, self.data
        started = time.perf_counter()
        rnd = self.plan.round(r, learner, data, state)
        chunks = (None if rnd.chunks is None
                  else [IndexedChunk(data.x, data.y, idx, self.chunk_batch) for idx in rnd.chunks])
        if rnd.apply_method:
            if chunks is None:
                raise ValueError(f"protocol {self.plan.name!r} applies the method in round {r} without chunks")
            learner = self.method.before_experiment(learner, chunks, generator=method_gen)
        if config.rebuild_optimizer and r > 1:
            # Ash & Adams build a new optimizer every round (run.py 160-161); round 1's is new already.
            learner = dataclasses.replace(learner, optimizer=learner.build_optimizer(learner.model))
        method_time = time.perf_counter() - started
        x_test, y_test = data.x_test, data.y_test
        if rnd.test is not None:
            x_test, y_test = x_test[rnd.test], y_test[rnd.test]
        context = ProbeContext(unit["seed"], r, chunks, data.x, data.y, rnd.train, x_test, y_test, dict(unit))
        taken = set(ROW_COLUMNS) | set(self.hyper) | set(unit)
        (plan_before, probe_before), before_time = self._measure("before", learner, context, state, taken)
        result = self._train(r, unit, rnd, learner, shuffle_gen)
        test_accuracy = evaluate(learner.model, x_test, y_test, bf16=config.bf16)
        taken |= set(plan_before) | set(probe_before)
        (plan_after, probe_after), after_time = self._measure("after", learner, context, state, taken)
        row = {
            "protocol": self.plan.name, "dataset": config.data, "model": config.model, "method": config.method,
            **self.hyper, "seed": unit["seed"], **{k: v for k, v in unit.items() if k != "seed"},
            "experiment": r, "n_train": int(rnd.train.numel()), "test_accuracy": test_accuracy,
            "steps": result.steps, "epochs": result.epochs, "train_accuracy": result.train_accuracy,
            "train_loss": result.train_loss, "converged": result.converged, "method_applied": rnd.apply_method,
            "wall_time_s": time.perf_counter() - started - before_time - after_time, "method_time_s": method_time,
            **plan_before, **plan_after, **probe_before, **probe_after,
        }
        return learner, row

    def _measure(self, when: str, learner: Learner, context: ProbeContext, state: dict[str, Tensor],
                 taken: set[str]) -> tuple[tuple[dict[str, Any], dict[str, Any]], float]:
        """The plan's measurements and the user's probe, ``when`` = "before"/"after" training; and their time."""
        started = time.perf_counter()
        planned = _measure(f"protocol {self.plan.name!r}'s measure",
                           lambda: self.plan.measure(when, learner, context, state), taken)
        user, probed = self.probe if when == "before" else self.probe_after, {}
        if user is not None:
            probed = _measure("probe" if when == "before" else "probe_after", lambda: user(learner, context),
                              taken | set(planned))
        return (planned, probed), time.perf_counter() - started

    def _train(self, r, unit, rnd: Round, learner: Learner, shuffle_gen) -> ExperimentResult:
        epochs = self.config.max_epochs if rnd.epochs is None else rnd.epochs
        if epochs == 0:
            return _no_training()
        config = (self.config if epochs == self.config.max_epochs
                  else dataclasses.replace(self.config, max_epochs=epochs))
        epoch_bar = progress_bar(total=epochs, desc=f"seed {unit['seed']} round {r}", unit="ep", leave=False,
                                 disable=not self.progress)

        def on_epoch(epoch: int, acc: float, steps: int) -> None:
            epoch_bar.update(1)
            epoch_bar.set_postfix(train_acc=f"{acc:.4f}", steps=steps)

        try:
            return train_until_target(learner, self.method, self.data.x, self.data.y, rnd.train, config=config,
                                      generator=shuffle_gen, on_epoch=on_epoch, stop_at_target=rnd.until_target,
                                      fill=self.data.fill)
        except NonFiniteLossError as err:
            raise NonFiniteLossError(f"{err}; unit {unit}, round {r}: the {len(self.rows)} finished rounds are kept "
                                     f"in {self.folder.path}") from err
        finally:
            epoch_bar.close()
