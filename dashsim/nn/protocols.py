"""The paper's incremental-training protocols as resumable runs returning tidy pandas DataFrames.

Main protocol (DASH paper, Section 5): a seeded permutation splits the training set into ``J``
equal chunks ``T_1..T_J``; experiment ``j`` applies the method's between-experiments step (for
``j >= 2``) and trains on ``T_{1:j}`` until the epoch's running train accuracy reaches the target,
then measures test accuracy in eval mode. Every experiment is checkpointed into the run folder, so
re-running the same configuration after a crash (even SIGKILL) continues at the next experiment
and, on CPU, ends with exactly the metrics of an uninterrupted run.

References
----------
Shin et al., "DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss of
Plasticity", NeurIPS 2024, Section 5, Figure 1, Table 1.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, Iterator, Optional

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from tqdm.auto import tqdm

from .. import runs
from .._config import config_to_dict
from . import data as _data
from .methods import Learner
from .train import NonFiniteLossError, SettingsError, TrainConfig, build_learner, evaluate, prepare_data, resolve_dataset, resolve_device, train_until_target

__all__ = ["run_incremental", "run_two_phase", "summarize", "chunk_permutation", "run_config_dict", "ProbeContext", "Probe",
           "seed_run", "learner_state", "restore_learner", "run_folder_name"]

logger = logging.getLogger(__name__)

METRIC_COLUMNS = (
    "dataset", "model", "method", "seed", "experiment", "n_train", "test_accuracy", "steps", "epochs",
    "train_accuracy", "train_loss", "converged", "wall_time_s", "method_time_s",
)


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
    and the returned CPU generators are seeded with ``s_shuffle`` and ``s_method``. Every protocol
    calls it once per seed, before :func:`~dashsim.nn.train.build_learner`.

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

    Parameters
    ----------
    learner : the model and optimizer (and L2 Init's ``initial_state``).
    shuffle_gen, method_gen : the generators of :func:`seed_run`.

    Returns
    -------
    dict with keys ``model``, ``optimizer``, ``initial_state`` and ``rng`` (every RNG state,
    :func:`dashsim.runs.capture_rng_state`), to merge into :meth:`dashsim.runs.RunFolder.save_checkpoint`'s
    state; :func:`restore_learner` reads it back.
    """
    return {
        "model": learner.model.state_dict(), "optimizer": learner.optimizer.state_dict(),
        "initial_state": learner.initial_state,
        "rng": runs.capture_rng_state({"shuffle": shuffle_gen, "method": method_gen}),
    }


def restore_learner(learner: Learner, state: dict[str, Any], shuffle_gen: torch.Generator,
                    method_gen: torch.Generator, device: torch.device) -> Learner:
    """Load what :func:`learner_state` saved into a freshly built learner and the generators.

    Parameters
    ----------
    learner : built by :func:`~dashsim.nn.train.build_learner` after :func:`seed_run` (same config).
    state : a checkpoint's state holding :func:`learner_state`'s keys.
    shuffle_gen, method_gen : the generators of :func:`seed_run`, set to their saved states in place
        (the global RNGs too).
    device : where L2 Init's initial parameters go.

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
    with ``n_per_chunk = len(perm) // J`` (a remainder of fewer than ``J`` images is left out).

    Parameters
    ----------
    n_total : size of the training set.
    seed : run seed (the permutation uses its own derived stream).
    J : number of chunks.
    subset : keep only this many images (a seeded random subset), or all if None.

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
        raise SettingsError(f"J={J} chunks need at least J training images, have {perm.numel()}")
    return perm[: J * n_per_chunk], n_per_chunk


class _IndexedChunk:
    """One chunk as a re-iterable of (inputs, targets) mini-batches gathered by index (no copy of the chunk)."""

    def __init__(self, x: Tensor, y: Tensor, idx: Tensor, batch_size: int = 1024):
        self.x, self.y, self.idx, self.batch_size = x, y, idx, batch_size

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for start in range(0, self.idx.numel(), self.batch_size):
            batch = self.idx[start : start + self.batch_size]
            yield self.x[batch], self.y[batch]

    def __len__(self) -> int:
        return self.idx.numel()


@dataclasses.dataclass(frozen=True)
class ProbeContext:
    """What a probe of :func:`run_incremental` sees besides the learner: experiment ``j`` and its data."""

    seed: int  # the run seed
    j: int  # the experiment, 1..J
    chunks: list[Any]  # T_1..T_j oldest first, as the methods get them (re-iterable (inputs, targets) mini-batches)
    x: Tensor  # the whole (normalized) training set on the training device
    y: Tensor  # its labels
    train_indices: Tensor  # indices of T_{1:j} into x (the data experiment j trains on)
    x_test: Tensor  # the test images the run evaluates on
    y_test: Tensor  # their labels


Probe = Callable[[Learner, ProbeContext], Mapping[str, float]]


def _call_probe(probe: Probe, learner: Learner, context: ProbeContext) -> dict[str, float]:
    """``probe(learner, context)`` as a dict of floats; the global RNG is left as it was.

    Forking the RNG keeps a probe that draws random numbers (a random subset, say) from changing
    the run it observes: the metrics with and without probes are the same.
    """
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        values = probe(learner, context)
    if not isinstance(values, Mapping):
        raise TypeError(f"a probe must return a mapping of column name to float, got {type(values).__name__}")
    out = {}
    for key, value in values.items():
        if not isinstance(key, str) or key in METRIC_COLUMNS:
            raise ValueError(f"probe column names must be strings other than the metric columns {METRIC_COLUMNS}, got {key!r}")
        out[key] = float(value)
    return out


def _probe_name(probe: Optional[Probe]) -> Optional[str]:
    return None if probe is None else getattr(probe, "__qualname__", type(probe).__qualname__)


def run_config_dict(config: TrainConfig) -> dict[str, Any]:
    """What a run folder's ``config.json`` holds: every field but ``out``, plus resolved defaults."""
    values = config_to_dict(config)
    values.pop("out")
    values["lr_used"] = config.resolved_lr
    values["normalize_used"] = config.resolved_normalize
    values["method_hyper"] = dataclasses.asdict(config.make_method())
    return values


def run_folder_name(config: TrainConfig, protocol: str = "incremental") -> str:
    """The run folder of ``protocol`` with settings ``config``: ``config.out`` if given, else a default per protocol.

    The main protocol's default is :attr:`TrainConfig.resolved_out`
    (``runs/<data>_<model>_<method>_J<J>``); every other protocol appends ``_<protocol>`` (hyphens
    as underscores: ``two-phase`` -> ``_two_phase``) so that folders of different protocols never collide.

    Parameters
    ----------
    config : the settings (``out``, ``data``, ``model``, ``method``, ``J``).
    protocol : ``"incremental"``, ``"two_phase"``, ``"passive_online"``, ... (the command line's
        hyphenated names work too).

    Returns
    -------
    str
    """
    if protocol == "incremental":
        return config.resolved_out
    return config.out or config.resolved_out + "_" + protocol.replace("-", "_")


def run_incremental(
    config: TrainConfig, *, dataset: _data.ImageDataset | None = None, progress: bool = False,
    probe: Optional[Probe] = None, probe_after: Optional[Probe] = None,
) -> pd.DataFrame:
    """Run (or resume) the main incremental protocol for every seed; one row per (seed, experiment).

    Experiment ``j`` of seed ``s``: ``learner <- method.before_experiment(learner, [T_1..T_j])``
    for ``j >= 2``; ``probe(learner, context)`` (every ``j``, after the method's step, before
    training); train on ``T_{1:j}`` (:func:`~dashsim.nn.train.train_until_target`); record the
    test accuracy in eval mode; ``probe_after(learner, context)``. After each experiment the
    checkpoint and ``metrics.csv`` in ``config.resolved_out`` are replaced atomically.

    Parameters
    ----------
    config : the run's settings; ``config.resolved_out`` is the run folder (resumed if it holds this config).
    dataset : the data (default: ``load_dataset(config.data, config.data_root)``).
    progress : show tqdm bars for experiments and epochs.
    probe : optional ``probe(learner, context) -> {column: float}`` (a :data:`Probe`, e.g. the
        gradient norm of :mod:`dashsim.nn.diagnostics`), called with a :class:`ProbeContext`
        after the method's step and before training; its values become extra columns of the
        experiment's row (kept in the run folder, so a resumed run returns them too). It must not
        change the learner (use eval mode); the global RNG is restored after it, and its time is
        not counted in ``wall_time_s``. Its name (``__qualname__``) is part of the run folder's config.
    probe_after : the same, called after training and the test evaluation (columns after ``probe``'s).

    Returns
    -------
    pandas.DataFrame with columns :data:`METRIC_COLUMNS` and then the probes' columns (every probe
    call must return the same names), all seeds and experiments so far.

    Raises
    ------
    dashsim.runs.ConfigMismatchError if ``config.resolved_out`` holds a run with other settings;
    NonFiniteLossError if the loss diverges (finished experiments stay in the run folder).

    References
    ----------
    DASH paper, Section 5 (protocol), Figure 1 (test accuracy and steps per experiment).
    """
    device = resolve_device(config.device)
    dataset = resolve_dataset(config, dataset)
    folder_config = run_config_dict(config)
    if probe is not None or probe_after is not None:
        # Only with probes, so the folders of runs without them keep their configuration.
        folder_config.update(probe=_probe_name(probe), probe_after=_probe_name(probe_after))
    folder = runs.RunFolder(run_folder_name(config), folder_config)
    resumed = folder.resume_state()
    folder.write_environment(device=str(device), seeds=config.seeds, extra={"torch_device": str(device)})
    state, rows = resumed if resumed is not None else (None, [])
    if state is not None:
        logger.info("resuming %s after seed %s experiment %d", folder.path, state["seed"], state["experiment"])
    prepared = prepare_data(config, dataset, device)
    x, y, x_test, y_test, fill = prepared.x, prepared.y, prepared.x_test, prepared.y_test, prepared.fill
    method = config.make_method()
    # Micro-batch size of gradient passes over chunks (memory only); DASH exposes its own.
    chunk_batch = getattr(method, "batch_size", 1024)
    J = config.J
    bar = tqdm(total=len(config.seeds) * J, initial=len(rows), desc="experiments", unit="exp", disable=not progress)
    try:
        for seed_index, seed in enumerate(config.seeds):
            if state is not None and (seed_index < state["seed_index"] or (seed_index == state["seed_index"] and state["experiment"] == J)):
                continue  # this seed finished before the interruption
            perm_cpu, n_per_chunk = chunk_permutation(x.shape[0], seed=seed, J=J, subset=config.subset)
            perm = perm_cpu.to(device)
            shuffle_gen, method_gen = seed_run(seed)
            learner = build_learner(config, dataset, device)
            first = 1
            if state is not None and seed_index == state["seed_index"]:
                learner = restore_learner(learner, state, shuffle_gen, method_gen, device)
                first = state["experiment"] + 1
            for j in range(first, J + 1):
                started = time.perf_counter()
                chunks = [_IndexedChunk(x, y, perm[i * n_per_chunk : (i + 1) * n_per_chunk], chunk_batch) for i in range(j)]
                if j >= 2:
                    learner = method.before_experiment(learner, chunks, generator=method_gen)
                method_time = time.perf_counter() - started
                context = ProbeContext(seed, j, chunks, x, y, perm[: j * n_per_chunk], x_test, y_test)
                probed: dict[str, float] = {}
                probe_time = 0.0
                if probe is not None:
                    probe_started = time.perf_counter()
                    probed.update(_call_probe(probe, learner, context))
                    probe_time += time.perf_counter() - probe_started
                epoch_bar = tqdm(total=config.max_epochs, desc=f"seed {seed} exp {j}/{J}", unit="ep", leave=False, disable=not progress)

                def on_epoch(epoch: int, acc: float, steps: int) -> None:
                    epoch_bar.update(1)
                    epoch_bar.set_postfix(train_acc=f"{acc:.4f}", steps=steps)

                try:
                    result = train_until_target(learner, method, x, y, perm[: j * n_per_chunk], config=config, generator=shuffle_gen, on_epoch=on_epoch, fill=fill)
                except NonFiniteLossError as err:
                    raise NonFiniteLossError(f"{err}; seed {seed}, experiment {j}: the {len(rows)} finished experiments are kept in {folder.path}") from err
                finally:
                    epoch_bar.close()
                test_accuracy = evaluate(learner.model, x_test, y_test, bf16=config.bf16)
                if probe_after is not None:
                    probe_started = time.perf_counter()
                    after = _call_probe(probe_after, learner, context)
                    probe_time += time.perf_counter() - probe_started
                    if set(after) & set(probed):
                        raise ValueError(f"probe and probe_after return the same column names {sorted(set(after) & set(probed))}")
                    probed.update(after)
                row = {
                    "dataset": config.data, "model": config.model, "method": config.method, "seed": seed,
                    "experiment": j, "n_train": j * n_per_chunk, "test_accuracy": test_accuracy,
                    "steps": result.steps, "epochs": result.epochs, "train_accuracy": result.train_accuracy,
                    "train_loss": result.train_loss, "converged": result.converged,
                    "wall_time_s": time.perf_counter() - started - probe_time, "method_time_s": method_time,
                    **probed,
                }
                if rows and list(row) != list(rows[0]):
                    raise ValueError(f"the probes returned columns {list(probed)}, but the rows so far in {folder.path} have {list(rows[0])[len(METRIC_COLUMNS):]}; a probe must return the same names every call")
                rows.append(row)
                folder.save_checkpoint(
                    {
                        "seed_index": seed_index, "seed": seed, "experiment": j,
                        **learner_state(learner, shuffle_gen, method_gen),
                    },
                    rows,
                )
                bar.update(1)
                bar.set_postfix(test_acc=f"{test_accuracy:.4f}", steps=result.steps)
            state = None
    finally:
        bar.close()
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else list(METRIC_COLUMNS))


def summarize(metrics: pd.DataFrame) -> pd.DataFrame:
    """Final (j = J) and experiment-averaged metrics per method, mean and std over seeds.

    For each seed: ``final_* = value at the last experiment``, ``avg_* = mean over experiments``;
    then mean and sample standard deviation over seeds (std is NaN for one seed).

    Parameters
    ----------
    metrics : rows as returned by :func:`run_incremental` (several runs may be concatenated).

    Returns
    -------
    pandas.DataFrame indexed by (dataset, model, method) with ``<metric>_mean`` / ``<metric>_std``
    columns for final/avg test accuracy and steps, total steps, and ``n_seeds``.
    """
    keys = ["dataset", "model", "method"]
    per_seed = (
        metrics.sort_values("experiment")
        .groupby(keys + ["seed"])
        .agg(
            final_test_accuracy=("test_accuracy", "last"),
            avg_test_accuracy=("test_accuracy", "mean"),
            final_steps=("steps", "last"),
            avg_steps=("steps", "mean"),
            total_steps=("steps", "sum"),
            converged_fraction=("converged", "mean"),
        )
    )
    stats = per_seed.groupby(keys).agg(["mean", "std"])
    stats.columns = [f"{name}_{stat}" for name, stat in stats.columns]
    stats["n_seeds"] = per_seed.groupby(keys).size()
    return stats


TWO_PHASE_COLUMNS = (
    "dataset", "model", "method", "seed", "pretrain_epochs", "pretrain_train_accuracy", "pretrain_test_accuracy",
    "test_accuracy", "steps", "epochs", "train_accuracy", "train_loss", "converged", "wall_time_s",
)


def run_two_phase(config: TrainConfig, pretrain_epochs: tuple[int, ...], *, dataset: _data.ImageDataset | None = None, progress: bool = False) -> pd.DataFrame:
    """Pretrain on half the data for E epochs, then train on all of it to the target; E swept.

    For each seed and each ``E`` in ``pretrain_epochs``: split the training set into two equal
    chunks with the seeded permutation (``J = 2``; ``config.J`` is ignored); train a fresh model on
    ``T_1`` for exactly ``E`` epochs (none for ``E = 0``, which is the cold start); apply
    ``method.before_experiment`` with ``[T_1, T_2]`` (``E > 0``); train on ``T_{1:2}`` until the
    epoch's train accuracy reaches ``config.target_accuracy``. Warm-start damage appears as a
    lower final test accuracy for larger ``E`` (past about 50% pretrain accuracy in the paper).

    Each finished ``(seed, E)`` row is checkpointed into ``config.out`` (default: the main protocol's
    folder name + ``_two_phase``; its config records the
    protocol and the sweep), so a re-run skips finished pairs; a killed pair restarts from scratch.

    Parameters
    ----------
    config : the settings (``config.method`` is the method applied between the phases).
    pretrain_epochs : the swept pretraining lengths E (distinct ints >= 0).
    dataset : the data (default: loaded from ``config.data``).
    progress : show a tqdm bar over (seed, E) pairs.

    Returns
    -------
    pandas.DataFrame with columns :data:`TWO_PHASE_COLUMNS`, one row per (seed, E).

    References
    ----------
    DASH paper, Section 3 and Figure 2 (pretrain-then-full warm-starting experiment);
    Ash & Adams, "On Warm-Starting Neural Network Training", NeurIPS 2020, Section 2.
    """
    pretrain_epochs = tuple(pretrain_epochs)
    if not pretrain_epochs or len(set(pretrain_epochs)) != len(pretrain_epochs) or any(isinstance(e, bool) or not isinstance(e, int) or e < 0 for e in pretrain_epochs):
        raise SettingsError(f"pretrain_epochs must be distinct ints >= 0, got {pretrain_epochs!r}")
    device = resolve_device(config.device)
    dataset = resolve_dataset(config, dataset)
    folder = runs.RunFolder(run_folder_name(config, "two_phase"), dict(run_config_dict(config), protocol="two_phase", pretrain_epochs=list(pretrain_epochs), J=2))
    resumed = folder.resume_state()
    folder.write_environment(device=str(device), seeds=config.seeds)
    rows = resumed[1] if resumed is not None else []
    done = {(r["seed"], r["pretrain_epochs"]) for r in rows}
    prepared = prepare_data(config, dataset, device)
    x, y, x_test, y_test, fill = prepared.x, prepared.y, prepared.x_test, prepared.y_test, prepared.fill
    method = config.make_method()
    pairs = [(seed, e) for seed in config.seeds for e in pretrain_epochs]
    for seed, e in tqdm(pairs, desc="seed x E", disable=not progress):
        if (seed, e) in done:
            continue
        started = time.perf_counter()
        perm_cpu, n_per_chunk = chunk_permutation(x.shape[0], seed=seed, J=2, subset=config.subset)
        perm = perm_cpu.to(device)
        shuffle_gen, method_gen = seed_run(seed)
        learner = build_learner(config, dataset, device)
        pre_train_acc = float("nan")
        pre_test_acc = evaluate(learner.model, x_test, y_test, bf16=config.bf16)
        if e > 0:
            pre = train_until_target(learner, method, x, y, perm[:n_per_chunk], config=dataclasses.replace(config, max_epochs=e), generator=shuffle_gen, stop_at_target=False, fill=fill)
            pre_train_acc = pre.train_accuracy
            pre_test_acc = evaluate(learner.model, x_test, y_test, bf16=config.bf16)
            chunks = [_IndexedChunk(x, y, perm[i * n_per_chunk : (i + 1) * n_per_chunk], getattr(method, "batch_size", 1024)) for i in range(2)]
            learner = method.before_experiment(learner, chunks, generator=method_gen)
        result = train_until_target(learner, method, x, y, perm, config=config, generator=shuffle_gen, fill=fill)
        rows.append({
            "dataset": config.data, "model": config.model, "method": config.method, "seed": seed, "pretrain_epochs": e,
            "pretrain_train_accuracy": pre_train_acc, "pretrain_test_accuracy": pre_test_acc,
            "test_accuracy": evaluate(learner.model, x_test, y_test, bf16=config.bf16), "steps": result.steps,
            "epochs": result.epochs, "train_accuracy": result.train_accuracy, "train_loss": result.train_loss,
            "converged": result.converged, "wall_time_s": time.perf_counter() - started,
        })
        # Pairs are independent, so the rows are the whole state worth keeping.
        folder.save_checkpoint({"finished": len(rows)}, rows)
    return pd.DataFrame(rows, columns=list(TWO_PHASE_COLUMNS))
