"""Data discarding: experiment j trains only on the newest chunk; the method every m experiments.

References
----------
Shin et al., "DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss of
Plasticity", NeurIPS 2024, Appendix C.4.3 (data discarding).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import torch
from torch import Tensor

from ..engine import Plan, Round, TrainingData, chunk_permutation, register_protocol, run, setting_int
from ..methods import Learner
from ..train import TrainConfig

__all__ = ["Discarding", "run_discarding", "discarding_schedule"]


def discarding_schedule(J: int, m: int, stop_after: int) -> list[int]:
    """The experiments before which the method is applied: ``j in 2..J`` with ``j % m == 0`` and ``j <= stop_after``."""
    return [j for j in range(2, J + 1) if j % m == 0 and j <= stop_after]


@register_protocol
@dataclasses.dataclass(frozen=True)
class Discarding(Plan):
    """``J`` chunks; experiment ``j`` trains on ``T_j`` alone, after the method's step with ``[T_j]`` on schedule."""

    name = "discarding"
    m: int = 10  # apply the method every m experiments (paper: 10, 15, 20)
    stop_after: int = 40  # last experiment the method may run before (paper: 40)

    def __post_init__(self) -> None:
        setting_int("m", self.m, 1)
        setting_int("stop_after", self.stop_after, 1)

    def n_rounds(self, config: TrainConfig, data: TrainingData) -> int:
        chunk_permutation(data.x.shape[0], seed=0, J=config.J, subset=config.subset)  # checks J against the data
        return config.J

    def start(self, config: TrainConfig, data: TrainingData, unit: dict[str, Any]) -> dict[str, Tensor]:
        perm, n = chunk_permutation(data.x.shape[0], seed=unit["seed"], J=config.J, subset=config.subset)
        J = perm.numel() // n
        applied = torch.zeros(J + 1, dtype=torch.bool)
        applied[discarding_schedule(J, self.m, self.stop_after)] = True
        return {"perm": perm.to(data.x.device), "n": torch.tensor(n), "applied": applied}

    def round(self, j: int, learner: Learner, data: TrainingData, state: dict[str, Tensor]) -> Round:
        n = int(state["n"])
        newest = state["perm"][(j - 1) * n : j * n]
        return Round(train=newest, chunks=[newest], apply_method=bool(state["applied"][j]))


def run_discarding(config: TrainConfig, *, m: int, stop_after: int = 40, **pieces: Any) -> pd.DataFrame:
    """Data discarding: experiment ``j`` trains only on the newest chunk ``T_j``; the method every ``m`` experiments.

    ``J = config.J`` chunks as in the main protocol. Before experiment ``j`` the method's step is
    applied, with ``[T_j]`` (the only data kept), iff ``j >= 2``, ``j % m == 0`` and
    ``j <= stop_after`` (:func:`discarding_schedule`); otherwise the model and optimizer are kept
    (warm start). Then train on ``T_j`` to ``config.target_accuracy``. The run folder is
    ``config.out`` or the main protocol's default name + ``_discarding``.

    Parameters
    ----------
    config : the settings; the method is the periodically applied one (DASH, S&P, ...).
    m : period of the method (>= 1; the paper used 10, 15, 20).
    stop_after : last experiment at which the method may be applied (>= 1; the paper: 40).
    **pieces : ``dataset``, ``model``, ``method``, ``progress``, ``probe``, ``probe_after`` as for
        :func:`~dashsim.nn.run_incremental`.

    Returns
    -------
    pandas.DataFrame, one row per (seed, experiment) (``n_train = n_per_chunk`` every experiment).

    References
    ----------
    DASH paper, Appendix C.4.3 (data discarding).
    """
    return run(config, Discarding(m=m, stop_after=stop_after), **pieces)
