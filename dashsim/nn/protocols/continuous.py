"""Continuous arrival: n new samples join every epoch for A epochs, then F epochs on all; the method every m epochs.

A round is one epoch (shuffled mini-batches over the samples arrived so far), scored on the test set.

References
----------
Shin et al., "DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss of
Plasticity", NeurIPS 2024, Appendix C.4.4 (500 epochs of arrivals, 500 on all data, DASH or S&P
every 50 epochs).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import pandas as pd
import torch
from torch import Tensor

from ..engine import Plan, Round, TrainingData, chunk_permutation, register_protocol, run, setting_int
from ..methods import Learner
from ..train import SettingsError, TrainConfig

__all__ = ["Continuous", "run_continuous", "continuous_schedule"]


def continuous_schedule(arrival_epochs: int, final_epochs: int, method_every: int,
                        method_until: Optional[int] = None) -> list[int]:
    """The epochs before which the method is applied: ``t = k m + 1`` for ``k >= 1``, ``t <= T_stop``.

    With ``m = method_every`` and ``T_stop = method_until`` (default ``arrival_epochs``: only while
    data arrive), capped at the last epoch ``arrival_epochs + final_epochs``.
    """
    stop = arrival_epochs if method_until is None else method_until
    last = min(stop, arrival_epochs + final_epochs)
    return [t for t in range(method_every + 1, last + 1, method_every)]


@register_protocol
@dataclasses.dataclass(frozen=True)
class Continuous(Plan):
    """Epoch ``t`` trains one epoch on ``perm[: min(t, A) n]``.

    Before ``t = k m + 1`` the method gets the period blocks.
    """

    name = "continuous"
    new_per_epoch: Optional[int] = None  # samples joining per epoch (default: training samples // arrival epochs)
    arrival_epochs: int = 500  # epochs during which data arrive, A
    final_epochs: int = 500  # epochs on all data afterwards, F
    method_every: int = 50  # apply the method every this many epochs, m
    method_until: Optional[int] = None  # last epoch the method may run before (default: the last arrival epoch)

    def __post_init__(self) -> None:
        setting_int("arrival_epochs", self.arrival_epochs, 1)
        setting_int("final_epochs", self.final_epochs, 0)
        setting_int("method_every", self.method_every, 1)
        if self.method_until is not None:
            setting_int("method_until", self.method_until, 1)
        if self.new_per_epoch is not None:
            setting_int("new_per_epoch", self.new_per_epoch, 1)

    def configure(self, config: TrainConfig) -> TrainConfig:
        if config.lr_milestones or config.warmup_epochs:
            raise SettingsError("lr_milestones and warmup_epochs must be unset for the continuous protocol: a schedule "
                                f"restarts every round, and each round is one epoch (got {config.lr_milestones!r}, "
                                f"{config.warmup_epochs})")
        return dataclasses.replace(config, max_epochs=1)

    def n_rounds(self, config: TrainConfig, data: TrainingData) -> int:
        A = self.arrival_epochs
        _, most = chunk_permutation(data.x.shape[0], seed=0, J=A, subset=config.subset)
        if self.new_per_epoch is not None and self.new_per_epoch > most:
            raise SettingsError(f"new_per_epoch must be at most {most} (= training samples // arrival_epochs={A}), "
                                f"got {self.new_per_epoch}")
        return A + self.final_epochs

    def train_sizes(self, config: TrainConfig, data: TrainingData) -> list[int]:
        _, most = chunk_permutation(data.x.shape[0], seed=0, J=self.arrival_epochs, subset=config.subset)
        n = self.new_per_epoch if self.new_per_epoch is not None else most
        return [t * n for t in range(1, self.arrival_epochs + 1)]

    def start(self, config: TrainConfig, data: TrainingData, unit: dict[str, Any]) -> dict[str, Tensor]:
        perm, most = chunk_permutation(data.x.shape[0], seed=unit["seed"], J=self.arrival_epochs, subset=config.subset)
        n = self.new_per_epoch if self.new_per_epoch is not None else most
        return {"perm": perm[: self.arrival_epochs * n].to(data.x.device), "n": torch.tensor(n)}

    def round(self, t: int, learner: Learner, data: TrainingData, state: dict[str, Tensor]) -> Round:
        A, m, n = self.arrival_epochs, self.method_every, int(state["n"])
        applied = t in continuous_schedule(A, self.final_epochs, m, self.method_until)
        chunks = None
        if applied:
            k = (t - 1) // m
            bounds = [min(i * m, A) * n for i in range(k + 1)]
            chunks = [state["perm"][lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
        return Round(train=state["perm"][: min(t, A) * n], chunks=chunks, apply_method=applied)


def run_continuous(config: TrainConfig, *, new_per_epoch: Optional[int] = None, arrival_epochs: int = 500,
                   final_epochs: int = 500, method_every: int = 50, method_until: Optional[int] = None,
                   **pieces: Any) -> pd.DataFrame:
    """Continuous arrival: ``n`` new samples every epoch for ``A`` epochs, then ``F`` epochs on all.

    The method runs every ``m`` epochs.

    With ``perm`` the seeded permutation (``J = A``, honouring ``config.subset``) and
    ``n = new_per_epoch``, epoch ``t = 1..A+F`` trains exactly one epoch on ``perm[: min(t, A) n]``
    and then measures the test accuracy. Before epoch ``t`` in :func:`continuous_schedule` the
    method's step runs with the chunks ``B_1..B_k``, ``B_i = perm[(i-1) m n : min(i m, A) n]`` (the
    samples that arrived in each period of ``m`` epochs, oldest first), before epoch ``t``'s samples join.

    Parameters
    ----------
    config : model, optimizer, method, seeds (``max_epochs`` and ``target_accuracy`` are unused: a
        round is one epoch; a learning-rate schedule is an error, since it would restart every
        epoch). Run folder: ``config.out`` or the main protocol's name + ``_continuous``.
    new_per_epoch, arrival_epochs, final_epochs, method_every, method_until : see :class:`Continuous`
        (the paper: A = F = 500, m = 50).
    **pieces : ``dataset``, ``model``, ``method``, ``progress``, ``probe``, ``probe_after`` as for
        :func:`~dashsim.nn.run_incremental`.

    Returns
    -------
    pandas.DataFrame, one row per (seed, epoch) (``experiment`` = epoch ``t``, ``epochs`` = 1,
    ``converged`` = the epoch's train accuracy reached ``config.target_accuracy``).

    References
    ----------
    DASH paper, Appendix C.4.4.
    """
    plan = Continuous(new_per_epoch=new_per_epoch, arrival_epochs=arrival_epochs, final_epochs=final_epochs,
                      method_every=method_every, method_until=method_until)
    return run(config, plan, **pieces)
