"""Two phases: pretrain on half the data for E epochs, then train on all of it; E swept.

For each seed and each ``E``: the seeded permutation splits the training set into two equal chunks
(``J = 2``); a fresh model trains on ``T_1`` for exactly ``E`` epochs (round 1; none for ``E = 0``,
the cold start); the method's step runs with ``[T_1, T_2]`` (``E > 0``), and the model trains on
``T_{1:2}`` (round 2) either for exactly ``second_epochs`` epochs (the DASH paper's Figure 2: 300)
or, with ``second_epochs=None`` (the default, this package's first protocol), until the epoch's
train accuracy reaches the target (capped at ``max_epochs``). Warm-start damage appears as a lower
final test accuracy for larger ``E`` (past about 50% pretrain accuracy in the paper).

References
----------
DASH paper, Section 3 and Figure 2; Ash & Adams, "On Warm-Starting Neural Network Training",
NeurIPS 2020, Section 2.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import pandas as pd
import torch
from torch import Tensor

from ..engine import Plan, Round, TrainingData, chunk_permutation, register_protocol, run
from ..methods import Learner
from ..train import SettingsError, TrainConfig

__all__ = ["TwoPhase", "run_two_phase", "two_phase_table", "TWO_PHASE_COLUMNS"]

TWO_PHASE_COLUMNS = (
    "dataset", "model", "method", "seed", "pretrain_epochs", "pretrain_train_accuracy", "pretrain_test_accuracy",
    "test_accuracy", "steps", "epochs", "train_accuracy", "train_loss", "converged", "wall_time_s",
)


@register_protocol
@dataclasses.dataclass(frozen=True)
class TwoPhase(Plan):
    """Units (seed, E); round 1 trains ``T_1`` for E epochs, round 2 applies the method and trains ``T_{1:2}``."""

    name = "two-phase"
    pretrain_epochs: tuple[int, ...] = (0, 5, 10, 20, 40)  # pretraining lengths E swept on the first half
    second_epochs: Optional[int] = None  # phase 2: exactly this many epochs (paper Fig. 2: 300); None: to target

    def __post_init__(self) -> None:
        e = tuple(self.pretrain_epochs)
        if not e or len(set(e)) != len(e) or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in e):
            raise SettingsError(f"pretrain_epochs must be distinct ints >= 0, got {self.pretrain_epochs!r}")
        second = self.second_epochs
        if second is not None and (isinstance(second, bool) or not isinstance(second, int) or second < 1):
            raise SettingsError(f"second_epochs must be an int >= 1 (the paper's Figure 2: 300) or None (train to "
                                f"the target accuracy), got {second!r}")

    def configure(self, config: TrainConfig) -> TrainConfig:
        return dataclasses.replace(config, J=2)

    def units(self, config: TrainConfig) -> list[dict[str, Any]]:
        return [{"seed": seed, "pretrain_epochs": e} for seed in config.seeds for e in self.pretrain_epochs]

    def n_rounds(self, config: TrainConfig, data: TrainingData) -> int:
        chunk_permutation(data.x.shape[0], seed=0, J=2, subset=config.subset)
        return 2

    def train_sizes(self, config: TrainConfig, data: TrainingData) -> list[int]:
        _, n = chunk_permutation(data.x.shape[0], seed=0, J=2, subset=config.subset)
        return ([n] if any(self.pretrain_epochs) else []) + [2 * n]

    def start(self, config: TrainConfig, data: TrainingData, unit: dict[str, Any]) -> dict[str, Tensor]:
        perm, n = chunk_permutation(data.x.shape[0], seed=unit["seed"], J=2, subset=config.subset)
        return {"perm": perm.to(data.x.device), "n": torch.tensor(n),
                "pretrain_epochs": torch.tensor(unit["pretrain_epochs"])}

    def round(self, r: int, learner: Learner, data: TrainingData, state: dict[str, Tensor]) -> Round:
        perm, n, e = state["perm"], int(state["n"]), int(state["pretrain_epochs"])
        if r == 1:
            return Round(train=perm[:n], epochs=e, until_target=False)
        if self.second_epochs is None:
            return Round(train=perm, chunks=[perm[:n], perm[n:]], apply_method=e > 0)
        return Round(train=perm, chunks=[perm[:n], perm[n:]], apply_method=e > 0, epochs=self.second_epochs,
                     until_target=False)


def two_phase_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (seed, E): the second phase's metrics with the pretraining's train and test accuracy.

    ``pretrain_train_accuracy`` is NaN for ``E = 0`` (no pretraining); ``pretrain_test_accuracy`` is
    then the fresh model's. The method's hyper-parameter columns, if any, are kept after ``method``.
    """
    keys = ["seed", "pretrain_epochs"]
    first = rows[rows["experiment"] == 1].set_index(keys)
    second = rows[rows["experiment"] == 2].set_index(keys)
    table = second.assign(pretrain_train_accuracy=first["train_accuracy"],
                          pretrain_test_accuracy=first["test_accuracy"]).reset_index()
    hyper = [c for c in rows.columns[rows.columns.get_loc("method") + 1 : rows.columns.get_loc("seed")]]
    columns = list(TWO_PHASE_COLUMNS)
    return table[columns[:3] + hyper + columns[3:]]


def run_two_phase(config: TrainConfig, pretrain_epochs: tuple[int, ...], *, dataset: Any = None, model: Any = None,
                  method: Any = None, progress: bool = False, second_epochs: Optional[int] = None) -> pd.DataFrame:
    """Pretrain on half the data for E epochs, then train on all of it, for each E and seed.

    The run folder is ``config.out`` (default: the main protocol's folder name + ``_two_phase``);
    each round is checkpointed, so a re-run skips finished (seed, E) pairs and resumes the rest.

    Parameters
    ----------
    config : the settings (``config.J`` is ignored: two halves).
    pretrain_epochs : the swept pretraining lengths E (distinct ints >= 0).
    dataset, model, method : your own pieces or registry names (see :func:`~dashsim.nn.run_incremental`).
    progress : show progress bars.
    second_epochs : train the second phase for exactly this many epochs (the DASH paper's Figure 2:
        300), or None to train it until the target train accuracy (at most ``config.max_epochs``).

    Returns
    -------
    pandas.DataFrame with :data:`TWO_PHASE_COLUMNS` (plus the method's hyper-parameters), one row per
    (seed, E) (:func:`two_phase_table` of the engine's rows).

    References
    ----------
    DASH paper, Section 3 and Figure 2; Ash & Adams 2020, Section 2.
    """
    plan = TwoPhase(pretrain_epochs=tuple(pretrain_epochs), second_epochs=second_epochs)
    rows = run(config, plan, dataset=dataset, model=model, method=method, progress=progress)
    return two_phase_table(rows)
