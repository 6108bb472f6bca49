"""Ash & Adams' passive and active online learning: ``k`` new labelled samples a round, each round trained to 99%.

- Passive: round ``r`` trains on the first ``r k`` samples of a seeded permutation.
- Active: round 1 trains on ``k`` random samples; each later round first adds the ``k`` pool
  samples whose softmax margin (top class probability minus the second) is smallest.

References
----------
Ash & Adams, "On Warm-Starting Neural Network Training", NeurIPS 2020, Section 3 (online learning)
and Appendix (active learning).
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

__all__ = ["PassiveOnline", "ActiveOnline", "run_passive_online", "run_active_online", "smallest_margin",
           "ASH_ADAMS_TARGET"]

# Ash & Adams' code trained every online round to 99% train accuracy.
ASH_ADAMS_TARGET = 0.99


@torch.no_grad()
def smallest_margin(model: torch.nn.Module, x: Tensor, pool: Tensor, k: int, *, batch_size: int = 1024) -> Tensor:
    """The ``k`` pool indices whose softmax margin between the top two classes is smallest.

    ``margin_i = p_(1)(x_i) - p_(2)(x_i)``, ``p = softmax(model(x_i))`` in eval mode, ``p_(1) >= p_(2)``
    its two largest entries; the result lists ``pool[i]`` by increasing margin (ties by pool order).

    Parameters
    ----------
    model : the classifier (put in eval mode for the scores; its mode is restored).
    x : all training inputs; ``pool`` indexes into it.
    pool : int64 indices of the unlabeled pool.
    k : how many to pick (1 <= k <= len(pool)).
    batch_size : inputs per forward pass (memory only).

    Returns
    -------
    Tensor of ``k`` int64 indices into ``x`` (a subset of ``pool``).

    References
    ----------
    Ash & Adams 2020, active online learning (margin-based selection).
    """
    k = setting_int("k", k, 1)
    if k > pool.numel():
        raise ValueError(f"k must be at most the pool size {pool.numel()}, got {k}")
    was_training = model.training
    model.eval()
    margins = []
    for start in range(0, pool.numel(), batch_size):
        probs = torch.softmax(model(x[pool[start : start + batch_size]]).float(), dim=1)
        if probs.dim() != 2 or probs.shape[1] < 2:
            model.train(was_training)
            raise ValueError(f"model must give at least two class scores per sample for a margin (active "
                             f"learning), got outputs of shape {tuple(probs.shape)}")
        top2 = probs.topk(2, dim=1).values
        margins.append(top2[:, 0] - top2[:, 1])
    model.train(was_training)
    order = torch.argsort(torch.cat(margins), stable=True)
    return pool[order[:k]]


@dataclasses.dataclass(frozen=True)
class _Online(Plan):
    """Settings and checks shared by the two online protocols."""

    k: int = 1000  # samples added per round (Ash & Adams: 1000)
    rounds: Optional[int] = None  # number of rounds (default: as many as the data allow)
    online_target: float = ASH_ADAMS_TARGET  # train accuracy ending a round (Ash & Adams' code: 0.99)

    def __post_init__(self) -> None:
        setting_int("k", self.k, 1)
        if self.rounds is not None:
            setting_int("rounds", self.rounds, 1)
        target = self.online_target
        if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0.0 < target <= 1.0:
            raise SettingsError(f"online_target must be in (0, 1], got {target!r}")

    def configure(self, config: TrainConfig) -> TrainConfig:
        return dataclasses.replace(config, target_accuracy=self.online_target)

    def n_rounds(self, config: TrainConfig, data: TrainingData) -> int:
        n_total = data.x.shape[0]
        available = min(n_total, config.subset) if config.subset is not None else n_total
        most = available // self.k
        if most < 1:
            raise SettingsError(f"k must be at most the {available} training samples, got {self.k}")
        if self.rounds is not None and self.rounds > most:
            raise SettingsError(f"rounds must be at most {most} (= {available} samples // k={self.k}), "
                                f"got {self.rounds}")
        return self.rounds if self.rounds is not None else most

    def _perm(self, config: TrainConfig, data: TrainingData, seed: int) -> Tensor:
        return chunk_permutation(data.x.shape[0], seed=seed, J=1, subset=config.subset)[0].to(data.x.device)

    def blocks(self, labeled: Tensor, r: int) -> list[Tensor]:
        """The ``r`` blocks of ``k`` that arrived so far, oldest first (the method's chunks)."""
        return [labeled[i * self.k : (i + 1) * self.k] for i in range(r)]


@register_protocol
@dataclasses.dataclass(frozen=True)
class PassiveOnline(_Online):
    """Round ``r`` trains on ``perm[: r k]``; the method's step gets the blocks ``perm[(i-1) k : i k]``, ``i <= r``."""

    name = "passive-online"

    def start(self, config: TrainConfig, data: TrainingData, unit: dict[str, Any]) -> dict[str, Tensor]:
        return {"perm": self._perm(config, data, unit["seed"])}

    def round(self, r: int, learner: Learner, data: TrainingData, state: dict[str, Tensor]) -> Round:
        perm = state["perm"]
        return Round(train=perm[: r * self.k], chunks=self.blocks(perm, r), apply_method=r >= 2)


@register_protocol
@dataclasses.dataclass(frozen=True)
class ActiveOnline(_Online):
    """Round ``r >= 2`` first labels the ``k`` pool samples of smallest margin under the previous round's model."""

    name = "active-online"

    def start(self, config: TrainConfig, data: TrainingData, unit: dict[str, Any]) -> dict[str, Tensor]:
        perm = self._perm(config, data, unit["seed"])
        return {"labeled": perm[: self.k].clone(), "pool": perm[self.k :].clone()}

    def round(self, r: int, learner: Learner, data: TrainingData, state: dict[str, Tensor]) -> Round:
        if r >= 2:
            picked = smallest_margin(learner.model, data.x, state["pool"], self.k)
            keep = ~torch.isin(state["pool"], picked)
            state["labeled"] = torch.cat([state["labeled"], picked])
            state["pool"] = state["pool"][keep]
        labeled = state["labeled"]
        return Round(train=labeled, chunks=self.blocks(labeled, r), apply_method=r >= 2)


def run_passive_online(config: TrainConfig, *, k: int, rounds: Optional[int] = None,
                       target_accuracy: float = ASH_ADAMS_TARGET, **pieces: Any) -> pd.DataFrame:
    """Ash & Adams' passive online learning: ``k`` new random samples a round, each round trained to the target.

    Round ``r = 1..R`` trains on ``perm[: r k]`` (``perm`` the seeded permutation, honouring
    ``config.subset``); before rounds ``r >= 2`` the method's step gets the blocks
    ``perm[(i-1) k : i k]``, ``i = 1..r``. The run folder is ``config.out`` or the main protocol's
    default name + ``_passive_online``.

    Parameters
    ----------
    config : model, optimizer, method, seeds, epoch cap (``config.target_accuracy`` is replaced by
        ``target_accuracy``; ``config.J`` is unused).
    k : samples added per round (>= 1; Ash & Adams used 1,000 on CIFAR-10).
    rounds : number of rounds ``R`` (default: as many as the data allow, ``N // k``).
    target_accuracy : epoch train accuracy ending a round (their code: 0.99).
    **pieces : ``dataset``, ``model``, ``method``, ``progress``, ``probe``, ``probe_after`` as for
        :func:`~dashsim.nn.run_incremental`.

    Returns
    -------
    pandas.DataFrame, one row per (seed, round) (``experiment`` is the round, ``n_train = r k``).

    References
    ----------
    Ash & Adams, "On Warm-Starting Neural Network Training", NeurIPS 2020, Section 3.
    """
    return run(config, PassiveOnline(k=k, rounds=rounds, online_target=target_accuracy), **pieces)


def run_active_online(config: TrainConfig, *, k: int, rounds: Optional[int] = None,
                      target_accuracy: float = ASH_ADAMS_TARGET, **pieces: Any) -> pd.DataFrame:
    """Ash & Adams' active online learning: each round adds the ``k`` pool samples the model is least sure of.

    Round 1 labels ``L_1 = perm[:k]`` (random) and the pool is ``P = perm[k:]``. Before round
    ``r >= 2`` the model trained in round ``r - 1`` picks ``S_r`` = :func:`smallest_margin` of
    ``P``, ``L_r = L_{r-1} + S_r``, ``P <- P - S_r``; then the method's step gets the blocks
    ``S_1 = L_1, S_2, ..., S_r`` and the model trains on ``L_r`` until ``target_accuracy``.

    Parameters
    ----------
    config, k, rounds, target_accuracy, **pieces : as for :func:`run_passive_online` (default folder
        suffix ``_active_online``).

    Returns
    -------
    pandas.DataFrame, one row per (seed, round).

    References
    ----------
    Ash & Adams 2020, Section 3 and Appendix (active learning by smallest margin).
    """
    return run(config, ActiveOnline(k=k, rounds=rounds, online_target=target_accuracy), **pieces)
