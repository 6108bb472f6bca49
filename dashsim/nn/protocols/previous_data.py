"""The DASH paper's Figure 13 protocol: accuracy on the previous data in the first epochs after new data arrive.

A fresh model trains on the old data ``T_1..T_{J-1}`` to the target accuracy (round 1); then new
data ``T_J`` arrive, the method's step runs with ``T_1..T_J``, and the model trains on all of it
for ``epochs`` epochs, one round each (rounds 2..epochs+1). Measured on the old data: the accuracy
right after the method's step (round 2, before training) and after each epoch, with BatchNorm in
eval mode (running statistics) and in train mode (batch statistics).

References
----------
Shin et al., "DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss of
Plasticity", NeurIPS 2024, Appendix, Figure 13.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from ..engine import Plan, ProbeContext, Round, TrainingData, chunk_permutation, register_protocol, run, setting_int
from ..methods import Learner
from ..train import SettingsError, TrainConfig, evaluate

__all__ = ["PreviousData", "run_previous_data", "previous_data_curves", "batch_stats_accuracy", "PREVIOUS_COLUMNS"]

# The per-epoch table of Figure 13 (previous_data_curves).
PREVIOUS_COLUMNS = ("model", "method", "seed", "epoch", "steps", "previous_accuracy", "previous_accuracy_batch_stats",
                    "n_previous", "pretrain_epochs", "pretrain_converged")


def batch_stats_accuracy(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 1024) -> float:
    """Accuracy of ``model`` on ``(x, y)`` with BatchNorm in train mode, on a copy (running statistics untouched)."""
    probe = copy.deepcopy(model).train()
    with torch.no_grad():
        correct = sum(int((probe(xb).argmax(dim=1) == yb).sum())
                      for xb, yb in zip(x.split(batch_size), y.split(batch_size)))
    return correct / y.shape[0]


@register_protocol
@dataclasses.dataclass(frozen=True)
class PreviousData(Plan):
    """Round 1 trains the old data ``T_{1:J-1}`` to the target; round 2 applies the method.

    Rounds 2.. are one epoch on all.
    """

    name = "previous-data"
    epochs: int = 5  # epochs of training on all data after the new data arrive

    def __post_init__(self) -> None:
        setting_int("epochs", self.epochs, 1)

    def configure(self, config: TrainConfig) -> TrainConfig:
        if config.lr_milestones or config.warmup_epochs:
            raise SettingsError("lr_milestones and warmup_epochs must be unset for the previous-data protocol: "
                                "its epochs after the new data arrive are one round each, "
                                "and a schedule restarts every round")
        if config.J < 2:
            raise SettingsError("J must be >= 2 for the previous-data protocol (old data T_1..T_(J-1), new T_J); "
                                f"got {config.J}")
        return config

    def n_rounds(self, config: TrainConfig, data: TrainingData) -> int:
        chunk_permutation(data.x.shape[0], seed=0, J=config.J, subset=config.subset)
        return 1 + self.epochs

    def start(self, config: TrainConfig, data: TrainingData, unit: dict[str, Any]) -> dict[str, Tensor]:
        perm, n = chunk_permutation(data.x.shape[0], seed=unit["seed"], J=config.J, subset=config.subset)
        return {"perm": perm.to(data.x.device), "n": torch.tensor(n), "n_old": torch.tensor((config.J - 1) * n)}

    def round(self, r: int, learner: Learner, data: TrainingData, state: dict[str, Tensor]) -> Round:
        perm, n, n_old = state["perm"], int(state["n"]), int(state["n_old"])
        if r == 1:
            return Round(train=perm[:n_old])
        chunks = [perm[i * n : (i + 1) * n] for i in range(perm.numel() // n)]
        return Round(train=perm, chunks=chunks, apply_method=r == 2, epochs=1, until_target=False)

    def measure(self, when: str, learner: Learner, context: ProbeContext, state: dict[str, Tensor]) -> dict[str, Any]:
        old = state["perm"][: int(state["n_old"])]
        suffix = "_start" if when == "before" else ""
        if when == "before" and context.j != 2:
            return {"previous_accuracy_start": float("nan"), "previous_accuracy_batch_stats_start": float("nan")}
        x_old, y_old = context.x[old], context.y[old]
        values = {f"previous_accuracy{suffix}": evaluate(learner.model, x_old, y_old),
                  f"previous_accuracy_batch_stats{suffix}": batch_stats_accuracy(learner.model, x_old, y_old)}
        if when == "after":
            values["n_previous"] = int(old.numel())
        return values


def previous_data_curves(rows: pd.DataFrame) -> pd.DataFrame:
    """Figure 13's per-epoch table from the protocol's rows: one row per (method, seed, epoch 0..E).

    Epoch 0 is the model right after the method's step (round 2's ``*_start`` measurements), epoch
    ``e`` the model after ``e`` epochs on all data (round ``e + 1``); ``steps`` counts the steps
    since the new data arrived; ``pretrain_*`` describe round 1 (training on the old data).
    """
    out = []
    for (method, seed), unit in rows.sort_values("experiment", kind="stable").groupby(["method", "seed"], sort=False):
        pre, after = unit.iloc[0], unit.iloc[1:]
        common = {"model": pre["model"], "method": method, "seed": seed, "n_previous": int(pre["n_previous"]),
                  "pretrain_epochs": int(pre["epochs"]), "pretrain_converged": bool(pre["converged"])}
        first = after.iloc[0]
        out.append({**common, "epoch": 0, "steps": 0, "previous_accuracy": first["previous_accuracy_start"],
                    "previous_accuracy_batch_stats": first["previous_accuracy_batch_stats_start"]})
        steps = after["steps"].cumsum()
        for epoch, (_, row) in enumerate(after.iterrows(), start=1):
            out.append({**common, "epoch": epoch, "steps": int(steps.loc[row.name]),
                        "previous_accuracy": row["previous_accuracy"],
                        "previous_accuracy_batch_stats": row["previous_accuracy_batch_stats"]})
    return pd.DataFrame(out, columns=list(PREVIOUS_COLUMNS))


def run_previous_data(config: TrainConfig, *, epochs: int = 5, **pieces: Any) -> pd.DataFrame:
    """Figure 13's protocol for every seed: the engine's rows (see :func:`previous_data_curves` for the figure's table).

    Parameters
    ----------
    config : the settings; ``config.J`` chunks (the new data are ``T_J``), ``config.max_epochs`` caps
        the training on the old data. Run folder: ``config.out`` or the main protocol's name + ``_previous_data``.
    epochs : epochs on all data after the new data arrive.
    **pieces : ``dataset``, ``model``, ``method``, ``progress``, ``probe``, ``probe_after`` as for
        :func:`~dashsim.nn.run_incremental`.

    Returns
    -------
    pandas.DataFrame, one row per (seed, round), with ``previous_accuracy*`` columns.

    References
    ----------
    DASH paper, Appendix, Figure 13.
    """
    return run(config, PreviousData(epochs=epochs), **pieces)
