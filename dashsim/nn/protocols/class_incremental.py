"""Class-incremental learning with accumulation: one new class per round, old data kept, scored on seen classes.

References
----------
Shin et al., "DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss of
Plasticity", NeurIPS 2024, Appendix C.4 (class-incremental setting with accumulated data).
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

__all__ = ["ClassIncremental", "run_class_incremental", "class_order"]


def class_order(num_classes: int, *, seed: int) -> Tensor:
    """The order in which classes arrive: a permutation of ``0..num_classes-1`` from the seed's chunk stream.

    It is :func:`~dashsim.nn.engine.chunk_permutation` ``(num_classes, seed=seed, J=1)``, so it
    depends only on ``seed`` and ``num_classes``.
    """
    return chunk_permutation(num_classes, seed=seed, J=1)[0]


@register_protocol
@dataclasses.dataclass(frozen=True)
class ClassIncremental(Plan):
    """Round ``r`` trains on the samples of classes ``c_1..c_r`` and is scored on their test samples."""

    name = "class-incremental"
    n_classes: Optional[int] = None  # number of classes / rounds (default: all)

    def __post_init__(self) -> None:
        if self.n_classes is not None:
            setting_int("n_classes", self.n_classes, 2)

    def n_rounds(self, config: TrainConfig, data: TrainingData) -> int:
        K = data.num_classes
        if self.n_classes is not None and self.n_classes > K:
            raise SettingsError(f"n_classes must be at most the data's {K} classes, got {self.n_classes}")
        if config.subset is not None and config.subset > data.x.shape[0]:
            raise SettingsError(f"subset must be at most the training set size {data.x.shape[0]}, got {config.subset}")
        R = K if self.n_classes is None else self.n_classes
        for seed in config.seeds:  # every seed's classes must be present, before any run folder exists
            self._arrivals(config, data, seed, R)
        return R

    def _arrivals(self, config: TrainConfig, data: TrainingData, seed: int, R: int) -> dict[str, Tensor]:
        K = data.num_classes
        device = data.x.device
        perm = chunk_permutation(data.x.shape[0], seed=seed, J=1, subset=config.subset)[0].to(device)
        order = class_order(K, seed=seed).to(device)
        # Arrival rank of each kept sample's class; samples stay in permutation order within a round.
        rank_of_class = torch.empty_like(order)
        rank_of_class[order] = torch.arange(K, device=device)
        rank = rank_of_class[data.y[perm]]
        counts = torch.bincount(rank, minlength=K)[:R]
        if bool((counts == 0).any()):
            raise SettingsError(f"seed {seed}: classes {order[:R][counts == 0].tolist()} have no training sample in "
                                f"the subset of {perm.numel()}; use a larger subset")
        return {"perm": perm, "rank": rank, "order": order}

    def start(self, config: TrainConfig, data: TrainingData, unit: dict[str, Any]) -> dict[str, Tensor]:
        R = data.num_classes if self.n_classes is None else self.n_classes
        return self._arrivals(config, data, unit["seed"], R)

    def round(self, r: int, learner: Learner, data: TrainingData, state: dict[str, Tensor]) -> Round:
        perm, rank = state["perm"], state["rank"]
        return Round(train=perm[rank < r], chunks=[perm[rank == i] for i in range(r)], apply_method=r >= 2,
                     test=torch.isin(data.y_test, state["order"][:r]))


def run_class_incremental(config: TrainConfig, *, n_classes: Optional[int] = None, **pieces: Any) -> pd.DataFrame:
    """Class-incremental learning with accumulation: one new class per round, old data kept, scored on seen classes.

    With ``c_1, c_2, ...`` = :func:`class_order` ``(K, seed)`` and ``S`` the training samples (all,
    or the seeded ``config.subset``), round ``r = 1..R`` trains on ``T_{1:r} = {i in S : y_i in
    {c_1..c_r}}`` until the epoch's train accuracy reaches ``config.target_accuracy`` (or the epoch
    cap), after the method's step with the per-class chunks ``T_i = {i in S : y_i = c_i}``,
    ``i = 1..r`` (rounds ``r >= 2``); the test accuracy is measured on the test samples whose class
    is in ``{c_1..c_r}`` (the model keeps all ``K`` outputs).

    Parameters
    ----------
    config : the settings (``config.J`` is unused). Run folder: ``config.out`` or the main
        protocol's default name + ``_class_incremental``.
    n_classes : number of rounds ``R`` (2 <= R <= K; default ``K``).
    **pieces : ``dataset``, ``model``, ``method``, ``progress``, ``probe``, ``probe_after`` as for
        :func:`~dashsim.nn.run_incremental`.

    Returns
    -------
    pandas.DataFrame, one row per (seed, round) (``n_train`` = size of ``T_{1:r}``).

    References
    ----------
    DASH paper, Appendix C.4.
    """
    return run(config, ClassIncremental(n_classes=n_classes), **pieces)
