"""Continuous arrival and class-incremental protocols (DASH paper, Appendix C.4), resumable like the others.

Both run on the resumable seed x round loop of :mod:`dashsim.nn.online` (one row per round, a
checkpoint after every round, bit-exact resume on CPU), so they share its row format
(:data:`~dashsim.nn.online.ONLINE_COLUMNS`; ``experiment`` is the round).

- Continuous arrival: ``n`` new images join every epoch for ``arrival_epochs`` epochs, then
  ``final_epochs`` epochs train on all of them; a round is one epoch, scored on the test set; the
  method is applied every ``method_every`` epochs.
- Class-incremental with accumulation: round ``r`` adds every training image of one more class
  (the order drawn from the seed), keeps the old ones, trains to the target accuracy and is scored
  on the test images of the classes seen so far.

References
----------
Shin et al., "DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss of
Plasticity", NeurIPS 2024, Appendix C.4.4 (continuous arrival) and C.4 (class-incremental).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import pandas as pd
import torch
from torch import Tensor

from . import data as _data
from .methods import Learner
from .online import int_at_least, Round, run_rounds
from .protocols import chunk_permutation
from .train import SettingsError, TrainConfig, resolve_dataset

__all__ = ["run_continuous", "continuous_schedule", "run_class_incremental", "class_order"]


def continuous_schedule(arrival_epochs: int, final_epochs: int, method_every: int, method_until: Optional[int] = None) -> list[int]:
    """The epochs before which the method is applied: ``t = k m + 1`` for ``k >= 1``, ``t <= T_stop``.

    With ``m = method_every`` and ``T_stop = method_until`` (default ``arrival_epochs``: only while
    data arrive), capped at the last epoch ``arrival_epochs + final_epochs``.
    """
    stop = arrival_epochs if method_until is None else method_until
    last = min(stop, arrival_epochs + final_epochs)
    return [t for t in range(method_every + 1, last + 1, method_every)]


def run_continuous(
    config: TrainConfig,
    *,
    new_per_epoch: Optional[int] = None,
    arrival_epochs: int = 500,
    final_epochs: int = 500,
    method_every: int = 50,
    method_until: Optional[int] = None,
    dataset: Optional[_data.ImageDataset] = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Continuous arrival: ``n`` new images every epoch for ``A`` epochs, then ``F`` epochs on all; the method every ``m`` epochs.

    With ``perm`` the seeded permutation of :func:`~dashsim.nn.protocols.chunk_permutation`
    (``J = A``, honouring ``config.subset``) and ``n = new_per_epoch``, epoch ``t = 1..A+F`` trains
    exactly one epoch (shuffled mini-batches) on ``perm[: min(t, A) n]`` and then measures the test
    accuracy. Before epoch ``t`` in :func:`continuous_schedule` (``t = k m + 1``, ``k >= 1``,
    ``t <= method_until``) the method's step runs with the chunks ``B_1..B_k``,
    ``B_i = perm[(i-1) m n : min(i m, A) n]`` (the images that arrived in each period of ``m``
    epochs, oldest first; empty ones dropped), before epoch ``t``'s images join.

    Parameters
    ----------
    config : model, optimizer, method, seeds (``config.max_epochs`` and ``config.target_accuracy``
        are unused: a round is one epoch; a learning-rate schedule is an error, since it would
        restart every epoch). Run folder: ``config.out`` or the main protocol's name + ``_continuous``.
    new_per_epoch : ``n``, images joining per epoch (default ``N // A`` for ``N`` training images).
    arrival_epochs : ``A`` (>= 1; the paper: 500).
    final_epochs : ``F`` (>= 0; the paper: 500).
    method_every : ``m`` (>= 1; the paper: 50).
    method_until : last epoch before which the method may run (default ``A``: while data arrive;
        ``A + F`` applies it throughout).
    dataset : the data (default: loaded from ``config.data``).
    progress : show a tqdm bar over epochs.

    Returns
    -------
    pandas.DataFrame with columns :data:`~dashsim.nn.online.ONLINE_COLUMNS`, one row per (seed,
    epoch) (``experiment`` = epoch ``t``, ``epochs`` = 1, ``steps`` = the epoch's steps,
    ``converged`` = the epoch's train accuracy reached ``config.target_accuracy``).

    References
    ----------
    DASH paper, Appendix C.4.4 (continuous arrival: 500 epochs of arrivals, 500 on all data, DASH
    or S&P every 50 epochs).
    """
    A = int_at_least("arrival_epochs", arrival_epochs, 1)
    F = int_at_least("final_epochs", final_epochs, 0)
    m = int_at_least("method_every", method_every, 1)
    if method_until is not None:
        method_until = int_at_least("method_until", method_until, 1)
    if new_per_epoch is not None:
        new_per_epoch = int_at_least("new_per_epoch", new_per_epoch, 1)
    if config.lr_milestones or config.warmup_epochs:
        raise SettingsError("lr_milestones and warmup_epochs must be unset for run_continuous: a schedule restarts at every "
                         f"training call, and each epoch is one call (got {config.lr_milestones!r}, {config.warmup_epochs})")
    applied = set(continuous_schedule(A, F, m, method_until))
    config = dataclasses.replace(config, max_epochs=1)

    def n_rounds(n_total: int) -> int:
        _, most = chunk_permutation(n_total, seed=0, J=A, subset=config.subset)
        if new_per_epoch is not None and new_per_epoch > most:
            raise SettingsError(f"new_per_epoch must be at most {most} (= training images // arrival_epochs={A}), got {new_per_epoch}")
        return A + F

    def start_seed(x: Tensor, y: Tensor, seed: int) -> dict[str, Tensor]:
        perm, most = chunk_permutation(x.shape[0], seed=seed, J=A, subset=config.subset)
        n = new_per_epoch if new_per_epoch is not None else most
        return {"perm": perm[: A * n].to(x.device), "n": torch.tensor(n)}

    def plan_round(t: int, learner: Learner, x: Tensor, st: dict[str, Tensor]) -> Round:
        n = int(st["n"])
        chunks = None
        if t in applied:
            k = (t - 1) // m
            bounds = [min(i * m, A) * n for i in range(k + 1)]
            chunks = [st["perm"][lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
        return Round(st["perm"][: min(t, A) * n], chunks)

    return run_rounds(config, dataset, progress, protocol="continuous",
                       extra_config={"new_per_epoch": new_per_epoch, "arrival_epochs": A, "final_epochs": F,
                                     "method_every": m, "method_until": method_until},
                       n_rounds=n_rounds, start_seed=start_seed, plan_round=plan_round)


def class_order(num_classes: int, *, seed: int) -> Tensor:
    """The order in which classes arrive: a permutation of ``0..num_classes-1`` from the seed's chunk stream.

    It is :func:`~dashsim.nn.protocols.chunk_permutation` ``(num_classes, seed=seed, J=1)``, so it
    depends only on ``seed`` and ``num_classes``.
    """
    return chunk_permutation(num_classes, seed=seed, J=1)[0]


def run_class_incremental(
    config: TrainConfig,
    *,
    n_classes: Optional[int] = None,
    dataset: Optional[_data.ImageDataset] = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Class-incremental learning with accumulation: one new class per round, old data kept, scored on seen classes.

    With ``c_1, c_2, ...`` = :func:`class_order` ``(K, seed)`` (``K`` = the data's number of
    classes) and ``S`` the training images (all, or the seeded ``config.subset`` of
    :func:`~dashsim.nn.protocols.chunk_permutation`), round ``r = 1..R`` trains on
    ``T_{1:r} = {i in S : y_i in {c_1..c_r}}`` until the epoch's train accuracy reaches
    ``config.target_accuracy`` (or the epoch cap), after the method's step with the per-class
    chunks ``T_i = {i in S : y_i = c_i}``, ``i = 1..r`` (rounds ``r >= 2``); the test accuracy is
    measured on the test images whose class is in ``{c_1..c_r}`` (the model keeps all ``K`` outputs).

    Parameters
    ----------
    config : the settings (``config.J`` is unused). Run folder: ``config.out`` or the main
        protocol's default name + ``_class_incremental``.
    n_classes : number of rounds ``R`` (2 <= R <= K; default ``K``).
    dataset : the data (default: loaded from ``config.data``).
    progress : show a tqdm bar over rounds.

    Returns
    -------
    pandas.DataFrame with columns :data:`~dashsim.nn.online.ONLINE_COLUMNS`, one row per (seed,
    round) (``n_train`` = size of ``T_{1:r}``).

    References
    ----------
    DASH paper, Appendix C.4 (class-incremental setting with accumulated data).
    """
    dataset = resolve_dataset(config, dataset)
    K = dataset.num_classes
    R = K if n_classes is None else int_at_least("n_classes", n_classes, 2)
    if R > K:
        raise SettingsError(f"n_classes must be at most the data's {K} classes, got {n_classes}")

    def start_seed(x: Tensor, y: Tensor, seed: int) -> dict[str, Tensor]:
        perm, _ = chunk_permutation(x.shape[0], seed=seed, J=1, subset=config.subset)
        perm = perm.to(x.device)
        order = class_order(K, seed=seed).to(x.device)
        # Arrival rank of each kept image's class; images stay in permutation order within a round.
        rank_of_class = torch.empty_like(order)
        rank_of_class[order] = torch.arange(K, device=x.device)
        rank = rank_of_class[y[perm]]
        counts = torch.bincount(rank, minlength=K)[:R]
        if bool((counts == 0).any()):
            raise SettingsError(f"seed {seed}: classes {order[:R][counts == 0].tolist()} have no training image in the subset of {perm.numel()}; use a larger subset")
        return {"perm": perm, "rank": rank, "order": order}

    def plan_round(r: int, learner: Learner, x: Tensor, st: dict[str, Tensor]) -> Round:
        rank = st["rank"]
        chunks = [st["perm"][rank == i] for i in range(r)] if r >= 2 else None
        return Round(st["perm"][rank < r], chunks)

    def test_mask(r: int, st: dict[str, Tensor], y_test: Tensor) -> Tensor:
        return torch.isin(y_test, st["order"][:r])

    return run_rounds(config, dataset, progress, protocol="class_incremental", extra_config={"n_classes": R},
                       n_rounds=lambda n_total: R, start_seed=start_seed, plan_round=plan_round, test_mask=test_mask)
