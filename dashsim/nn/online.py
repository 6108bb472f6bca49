"""Online-learning and data-discarding protocols: Ash & Adams' passive/active online learning, DASH's discarding.

All three reuse the main protocol's machinery (:func:`~dashsim.nn.train.train_until_target`,
:func:`~dashsim.nn.train.evaluate`, :class:`~dashsim.runs.RunFolder`): one row per (seed, round),
a checkpoint (model, optimizer, RNG states, protocol state) after every round, so re-running the
same call resumes at the next round and on CPU reproduces an uninterrupted run.

- Passive online learning: round ``r`` trains on the first ``r k`` images of a seeded permutation.
- Active online learning: round 1 trains on ``k`` random images; each later round first adds the
  ``k`` pool images whose softmax margin (top class probability minus the second) is smallest.
- Data discarding: ``J`` chunks; experiment ``j`` trains only on ``T_j``; the method is applied
  before experiment ``j`` only when ``j % m == 0`` and ``j <= stop_after`` (else the model is kept).

References
----------
Ash & Adams, "On Warm-Starting Neural Network Training", NeurIPS 2020, Section 3 (online learning)
and Appendix (active learning); Shin et al., "DASH: Warm-Starting Neural Network Training in
Stationary Settings without Loss of Plasticity", NeurIPS 2024, Appendix C.4.3 (data discarding).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Callable, Optional

import pandas as pd
import torch
from torch import Tensor
from tqdm.auto import tqdm

from .. import runs
from .._validate import check_int
from . import data as _data
from .methods import Learner
from .protocols import METRIC_COLUMNS, _IndexedChunk, chunk_permutation, learner_state, restore_learner, run_config_dict, run_folder_name, seed_run
from .train import NonFiniteLossError, SettingsError, TrainConfig, build_learner, evaluate, prepare_data, resolve_dataset, resolve_device, train_until_target

__all__ = ["run_passive_online", "run_active_online", "run_discarding", "discarding_schedule", "smallest_margin", "ONLINE_COLUMNS",
           "Round", "run_rounds", "int_at_least"]

logger = logging.getLogger(__name__)

ONLINE_COLUMNS = METRIC_COLUMNS + ("protocol", "method_applied")

# Ash & Adams' code trained every online round to 99% train accuracy.
ASH_ADAMS_TARGET = 0.99


def int_at_least(name: str, value: Any, low: int) -> int:
    """``value`` as an int, or a ValueError naming ``name`` unless it is an int (not a bool) ``>= low``.

    Parameters
    ----------
    name : the argument's name, for the message.
    value : the value to check (Python or NumPy integer).
    low : the smallest allowed value.

    Returns
    -------
    int
    """
    try:
        return check_int(name, value, low)
    except ValueError as error:
        raise SettingsError(str(error)) from None


def _check_target(target_accuracy: float) -> None:
    if isinstance(target_accuracy, bool) or not isinstance(target_accuracy, (int, float)) or not 0.0 < target_accuracy <= 1.0:
        raise SettingsError(f"target_accuracy must be in (0, 1], got {target_accuracy!r}")


@torch.no_grad()
def smallest_margin(model: torch.nn.Module, x: Tensor, pool: Tensor, k: int, *, batch_size: int = 1024) -> Tensor:
    """The ``k`` pool indices whose softmax margin between the top two classes is smallest.

    ``margin_i = p_(1)(x_i) - p_(2)(x_i)``, ``p = softmax(model(x_i))`` in eval mode, ``p_(1) >= p_(2)``
    its two largest entries; the result lists ``pool[i]`` by increasing margin (ties by pool order).

    Parameters
    ----------
    model : the classifier (put in eval mode for the scores; its mode is restored).
    x : all training images; ``pool`` indexes into it.
    pool : int64 indices of the unlabeled pool.
    k : how many to pick (1 <= k <= len(pool)).
    batch_size : images per forward pass (memory only).

    Returns
    -------
    Tensor of ``k`` int64 indices into ``x`` (a subset of ``pool``).

    References
    ----------
    Ash & Adams 2020, active online learning (margin-based selection).
    """
    k = int_at_least("k", k, 1)
    if k > pool.numel():
        raise ValueError(f"k must be at most the pool size {pool.numel()}, got {k}")
    was_training = model.training
    model.eval()
    margins = []
    for start in range(0, pool.numel(), batch_size):
        probs = torch.softmax(model(x[pool[start : start + batch_size]]).float(), dim=1)
        top2 = probs.topk(2, dim=1).values
        margins.append(top2[:, 0] - top2[:, 1])
    model.train(was_training)
    order = torch.argsort(torch.cat(margins), stable=True)
    return pool[order[:k]]


@dataclasses.dataclass
class Round:
    """What a protocol's ``plan_round`` decides before round ``r`` trains (see :func:`run_rounds`)."""

    train_idx: Tensor  # indices trained on this round
    chunks: Optional[list[Tensor]]  # index ranges handed to the method; None: method not applied


def run_rounds(
    config: TrainConfig,
    dataset: Optional[_data.ImageDataset],
    progress: bool,
    *,
    protocol: str,
    extra_config: dict[str, Any],
    n_rounds: Callable[[int], int],
    start_seed: Callable[[Tensor, Tensor, int], dict[str, Tensor]],
    plan_round: Callable[[int, Learner, Tensor, dict[str, Tensor]], Round],
    test_mask: Optional[Callable[[int, dict[str, Tensor], Tensor], Tensor]] = None,
) -> pd.DataFrame:
    """The resumable seed x round loop shared by the online, discarding and arrival protocols.

    For each seed: :func:`~dashsim.nn.protocols.seed_run`, a fresh learner, then rounds
    ``r = 1..R`` with ``R = n_rounds(N)`` (``N`` training images): ``plan = plan_round(...)``; if
    ``plan.chunks`` is not None, ``learner <- method.before_experiment(learner, plan.chunks)``;
    train on ``plan.train_idx`` until ``config.target_accuracy``; score on the test set; write one
    row of :data:`ONLINE_COLUMNS` and a checkpoint (learner, RNGs, protocol state) to the run
    folder ``config.out`` or the main protocol's default name + ``_<protocol>``
    (:func:`~dashsim.nn.protocols.run_folder_name`); a re-run resumes after the last finished round.

    ``start_seed(x, y, seed)`` builds the per-seed protocol state (index tensors, checkpointed);
    ``plan_round(r, learner, x, state)`` may update that state in place (active selection);
    ``test_mask(r, state, y_test)``, if given, selects the test images round ``r`` is scored on
    (class-incremental: the classes seen so far), else the whole test set.
    With ``config.augment`` the crop pads with the black pixel of the data's normalization.

    Parameters
    ----------
    config : the training settings (seeds, method, run folder).
    dataset : the data (default: loaded from ``config.data``).
    progress : show a tqdm bar over rounds.
    protocol : the protocol's name (folder suffix, ``protocol`` column, config entry).
    extra_config : the protocol's own settings, recorded in the folder's config.
    n_rounds, start_seed, plan_round, test_mask : the protocol, as above.

    Returns
    -------
    pandas.DataFrame with columns :data:`ONLINE_COLUMNS`, one row per (seed, round).
    """
    device = resolve_device(config.device)
    dataset = resolve_dataset(config, dataset)
    prepared = prepare_data(config, dataset, device)
    x, y, x_test, y_test, fill = prepared.x, prepared.y, prepared.x_test, prepared.y_test, prepared.fill
    R = n_rounds(x.shape[0])
    folder = runs.RunFolder(run_folder_name(config, protocol), dict(run_config_dict(config), protocol=protocol, rounds=R, **extra_config))
    resumed = folder.resume_state()
    folder.write_environment(device=str(device), seeds=config.seeds)
    state, rows = resumed if resumed is not None else (None, [])
    if state is not None:
        logger.info("resuming %s after seed %s round %d", folder.path, state["seed"], state["round"])
    method = config.make_method()
    chunk_batch = getattr(method, "batch_size", 1024)
    bar = tqdm(total=len(config.seeds) * R, initial=len(rows), desc=protocol, unit="round", disable=not progress)
    try:
        for seed_index, seed in enumerate(config.seeds):
            if state is not None and (seed_index < state["seed_index"] or (seed_index == state["seed_index"] and state["round"] == R)):
                continue
            shuffle_gen, method_gen = seed_run(seed)
            learner = build_learner(config, dataset, device)
            proto_state = start_seed(x, y, seed)
            first = 1
            if state is not None and seed_index == state["seed_index"]:
                learner = restore_learner(learner, state, shuffle_gen, method_gen, device)
                proto_state = {k: v.to(device) for k, v in state["protocol_state"].items()}
                first = state["round"] + 1
            for r in range(first, R + 1):
                started = time.perf_counter()
                plan = plan_round(r, learner, x, proto_state)
                applied = plan.chunks is not None
                if applied:
                    chunks = [_IndexedChunk(x, y, idx, chunk_batch) for idx in plan.chunks]
                    learner = method.before_experiment(learner, chunks, generator=method_gen)
                method_time = time.perf_counter() - started
                try:
                    result = train_until_target(learner, method, x, y, plan.train_idx, config=config, generator=shuffle_gen, fill=fill)
                except NonFiniteLossError as err:
                    raise NonFiniteLossError(f"{err}; seed {seed}, round {r}: the {len(rows)} finished rounds are kept in {folder.path}") from err
                if test_mask is None:
                    test_accuracy = evaluate(learner.model, x_test, y_test, bf16=config.bf16)
                else:
                    keep = test_mask(r, proto_state, y_test)
                    test_accuracy = evaluate(learner.model, x_test[keep], y_test[keep], bf16=config.bf16)
                rows.append({
                    "dataset": config.data, "model": config.model, "method": config.method, "seed": seed,
                    "experiment": r, "n_train": int(plan.train_idx.numel()), "test_accuracy": test_accuracy,
                    "steps": result.steps, "epochs": result.epochs, "train_accuracy": result.train_accuracy,
                    "train_loss": result.train_loss, "converged": result.converged,
                    "wall_time_s": time.perf_counter() - started, "method_time_s": method_time,
                    "protocol": protocol, "method_applied": applied,
                })
                folder.save_checkpoint(
                    {
                        "seed_index": seed_index, "seed": seed, "round": r,
                        **learner_state(learner, shuffle_gen, method_gen),
                        "protocol_state": {k: v.cpu() for k, v in proto_state.items()},
                    },
                    rows,
                )
                bar.update(1)
                bar.set_postfix(test_acc=f"{test_accuracy:.4f}", steps=result.steps)
            state = None
    finally:
        bar.close()
    return pd.DataFrame(rows, columns=list(ONLINE_COLUMNS))


def _online_rounds(k: int, rounds: Optional[int], subset: Optional[int]) -> Callable[[int], int]:
    k = int_at_least("k", k, 1)
    if rounds is not None:
        rounds = int_at_least("rounds", rounds, 1)

    def n_rounds(n_total: int) -> int:
        available = min(n_total, subset) if subset is not None else n_total
        most = available // k
        if most < 1:
            raise SettingsError(f"k must be at most the {available} training images, got {k}")
        if rounds is not None and rounds > most:
            raise SettingsError(f"rounds must be at most {most} (= {available} images // k={k}), got {rounds}")
        return rounds if rounds is not None else most

    return n_rounds


def run_passive_online(
    config: TrainConfig, *, k: int, rounds: Optional[int] = None, target_accuracy: float = ASH_ADAMS_TARGET,
    dataset: Optional[_data.ImageDataset] = None, progress: bool = False,
) -> pd.DataFrame:
    """Ash & Adams' passive online learning: ``k`` new random images a round, train to the target each round.

    With ``perm`` the seeded permutation of :func:`~dashsim.nn.protocols.chunk_permutation`
    (``J = 1``, honouring ``config.subset``), round ``r = 1..R`` trains on ``perm[: r k]``; before
    rounds ``r >= 2`` the method's step gets the blocks ``perm[(i-1) k : i k]``, ``i = 1..r``.

    Parameters
    ----------
    config : model, optimizer, method, seeds, epoch cap (``config.target_accuracy`` is replaced by
        ``target_accuracy``; ``config.J`` is unused). The run folder is ``config.out`` or the main
        protocol's default name + ``_passive_online``.
    k : images added per round (>= 1; Ash & Adams used 1,000 on CIFAR-10).
    rounds : number of rounds ``R`` (default: as many as the data allow, ``N // k``).
    target_accuracy : epoch train accuracy ending a round (their code: 0.99).
    dataset : the data (default: loaded from ``config.data``).
    progress : show a tqdm bar over rounds.

    Returns
    -------
    pandas.DataFrame with columns :data:`ONLINE_COLUMNS` (``experiment`` is the round, ``n_train = r k``).

    References
    ----------
    Ash & Adams, "On Warm-Starting Neural Network Training", NeurIPS 2020, Section 3 (online learning).
    """
    _check_target(target_accuracy)
    n_rounds = _online_rounds(k, rounds, config.subset)
    config = dataclasses.replace(config, target_accuracy=target_accuracy)

    def start_seed(x: Tensor, y: Tensor, seed: int) -> dict[str, Tensor]:
        perm, _ = chunk_permutation(x.shape[0], seed=seed, J=1, subset=config.subset)
        return {"perm": perm.to(x.device)}

    def plan_round(r: int, learner: Learner, x: Tensor, st: dict[str, Tensor]) -> Round:
        perm = st["perm"]
        chunks = [perm[i * k : (i + 1) * k] for i in range(r)] if r >= 2 else None
        return Round(perm[: r * k], chunks)

    return run_rounds(config, dataset, progress, protocol="passive_online", extra_config={"k": k},
                       n_rounds=n_rounds, start_seed=start_seed, plan_round=plan_round)


def run_active_online(
    config: TrainConfig, *, k: int, rounds: Optional[int] = None, target_accuracy: float = ASH_ADAMS_TARGET,
    dataset: Optional[_data.ImageDataset] = None, progress: bool = False,
) -> pd.DataFrame:
    """Ash & Adams' active online learning: each round adds the ``k`` pool images the model is least sure of.

    Round 1 labels ``L_1 = perm[:k]`` (random) and the pool is ``P = perm[k:]``. Before round
    ``r >= 2`` the model trained in round ``r - 1`` picks ``S_r`` = :func:`smallest_margin` of
    ``P`` (the ``k`` smallest ``p_(1) - p_(2)`` of its eval-mode softmax), ``L_r = L_{r-1} + S_r``,
    ``P <- P - S_r``; then the method's step gets the blocks ``S_1 = L_1, S_2, ..., S_r`` and the
    model trains on ``L_r`` until ``target_accuracy``.

    Parameters
    ----------
    config : as for :func:`run_passive_online` (default folder suffix ``_active_online``).
    k : images labelled per round (>= 1).
    rounds : number of rounds (default ``N // k``).
    target_accuracy : epoch train accuracy ending a round (their code: 0.99).
    dataset : the data (default: loaded from ``config.data``).
    progress : show a tqdm bar over rounds.

    Returns
    -------
    pandas.DataFrame with columns :data:`ONLINE_COLUMNS`.

    References
    ----------
    Ash & Adams, "On Warm-Starting Neural Network Training", NeurIPS 2020, Section 3 and Appendix
    (active learning by smallest margin).
    """
    _check_target(target_accuracy)
    n_rounds = _online_rounds(k, rounds, config.subset)
    config = dataclasses.replace(config, target_accuracy=target_accuracy)

    def start_seed(x: Tensor, y: Tensor, seed: int) -> dict[str, Tensor]:
        perm, _ = chunk_permutation(x.shape[0], seed=seed, J=1, subset=config.subset)
        perm = perm.to(x.device)
        return {"labeled": perm[:k].clone(), "pool": perm[k:].clone()}

    def plan_round(r: int, learner: Learner, x: Tensor, st: dict[str, Tensor]) -> Round:
        if r >= 2:
            picked = smallest_margin(learner.model, x, st["pool"], k)
            keep = ~torch.isin(st["pool"], picked)
            st["labeled"] = torch.cat([st["labeled"], picked])
            st["pool"] = st["pool"][keep]
        labeled = st["labeled"]
        chunks = [labeled[i * k : (i + 1) * k] for i in range(r)] if r >= 2 else None
        return Round(labeled, chunks)

    return run_rounds(config, dataset, progress, protocol="active_online", extra_config={"k": k},
                       n_rounds=n_rounds, start_seed=start_seed, plan_round=plan_round)


def discarding_schedule(J: int, m: int, stop_after: int) -> list[int]:
    """The experiments before which the method is applied: ``j in 2..J`` with ``j % m == 0`` and ``j <= stop_after``."""
    return [j for j in range(2, J + 1) if j % m == 0 and j <= stop_after]


def run_discarding(
    config: TrainConfig, *, m: int, stop_after: int = 40, dataset: Optional[_data.ImageDataset] = None, progress: bool = False,
) -> pd.DataFrame:
    """Data discarding: experiment ``j`` trains only on the newest chunk ``T_j``; the method every ``m`` experiments.

    ``J = config.J`` chunks as in the main protocol. Before experiment ``j`` the method's step is
    applied, with ``[T_j]`` (the only data kept), iff ``j >= 2``, ``j % m == 0`` and
    ``j <= stop_after`` (:func:`discarding_schedule`); otherwise the model and optimizer are kept
    (warm start). Then train on ``T_j`` to ``config.target_accuracy``.

    Parameters
    ----------
    config : the settings; ``config.method`` is the periodically applied method (DASH, S&P, ...).
        Run folder: ``config.out`` or the main protocol's default name + ``_discarding``.
    m : period of the method (>= 1; the paper used 10, 15, 20).
    stop_after : last experiment at which the method may be applied (>= 1; the paper: 40).
    dataset : the data (default: loaded from ``config.data``).
    progress : show a tqdm bar over experiments.

    Returns
    -------
    pandas.DataFrame with columns :data:`ONLINE_COLUMNS` (``n_train = n_per_chunk`` every experiment).

    References
    ----------
    DASH paper, Appendix C.4.3 (data discarding).
    """
    m = int_at_least("m", m, 1)
    stop_after = int_at_least("stop_after", stop_after, 1)
    applied = set(discarding_schedule(config.J, m, stop_after))

    def n_rounds(n_total: int) -> int:
        chunk_permutation(n_total, seed=0, J=config.J, subset=config.subset)  # validates J against the data
        return config.J

    def start_seed(x: Tensor, y: Tensor, seed: int) -> dict[str, Tensor]:
        perm, n_per_chunk = chunk_permutation(x.shape[0], seed=seed, J=config.J, subset=config.subset)
        return {"perm": perm.to(x.device), "n_per_chunk": torch.tensor(n_per_chunk)}

    def plan_round(j: int, learner: Learner, x: Tensor, st: dict[str, Tensor]) -> Round:
        n = int(st["n_per_chunk"])
        newest = st["perm"][(j - 1) * n : j * n]
        return Round(newest, [newest] if j in applied else None)

    return run_rounds(config, dataset, progress, protocol="discarding", extra_config={"m": m, "stop_after": stop_after},
                       n_rounds=n_rounds, start_seed=start_seed, plan_round=plan_round)
