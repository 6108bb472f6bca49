"""The DASH paper's main protocol: J equal chunks arrive one by one; experiment j trains on all so far.

A seeded permutation splits the training set into ``J`` equal chunks ``T_1..T_J``; experiment
``j`` applies the method's between-experiments step (for ``j >= 2``) with ``T_1..T_j`` and trains
on ``T_{1:j}`` until the epoch's running train accuracy reaches the target, then measures test
accuracy in eval mode.

References
----------
Shin et al., "DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss of
Plasticity", NeurIPS 2024, Section 5, Figure 1, Table 1.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import pandas as pd
import torch
from torch import Tensor

from ...stats import seed_stats
from ..engine import Plan, Probe, Round, TrainingData, chunk_permutation, register_protocol, run
from ..methods import Learner
from ..train import TrainConfig

__all__ = ["Incremental", "run_incremental", "summarize", "per_seed"]


@register_protocol
@dataclasses.dataclass(frozen=True)
class Incremental(Plan):
    """Experiment ``j = 1..J`` trains on ``T_{1:j}``; the method runs before it with ``[T_1..T_j]`` (``j >= 2``)."""

    name = "incremental"

    def n_rounds(self, config: TrainConfig, data: TrainingData) -> int:
        chunk_permutation(data.x.shape[0], seed=0, J=config.J, subset=config.subset)  # checks J against the data
        return config.J

    def train_sizes(self, config: TrainConfig, data: TrainingData) -> list[int]:
        _, n = chunk_permutation(data.x.shape[0], seed=0, J=config.J, subset=config.subset)
        return [j * n for j in range(1, config.J + 1)]

    def start(self, config: TrainConfig, data: TrainingData, unit: dict[str, Any]) -> dict[str, Tensor]:
        perm, n = chunk_permutation(data.x.shape[0], seed=unit["seed"], J=config.J, subset=config.subset)
        return {"perm": perm.to(data.x.device), "n": torch.tensor(n)}

    def round(self, j: int, learner: Learner, data: TrainingData, state: dict[str, Tensor]) -> Round:
        perm, n = state["perm"], int(state["n"])
        return Round(train=perm[: j * n], chunks=[perm[i * n : (i + 1) * n] for i in range(j)], apply_method=j >= 2)


def run_incremental(config: TrainConfig, *, dataset: Any = None, model: Any = None, method: Any = None,
                    progress: bool = False, probe: Optional[Probe] = None,
                    probe_after: Optional[Probe] = None) -> pd.DataFrame:
    """Run (or resume) the main incremental protocol for every seed; one row per (seed, experiment).

    Experiment ``j`` of seed ``s``: ``learner <- method.before_experiment(learner, [T_1..T_j])``
    for ``j >= 2``; ``probe(learner, context)``; train on ``T_{1:j}``
    (:func:`~dashsim.nn.train.train_until_target`); record the test accuracy in eval mode;
    ``probe_after(learner, context)``. The run folder is ``config.out`` (default
    ``runs/<data>_<model>_<method>_J<J>``), checkpointed after every experiment.

    Parameters
    ----------
    config : the run's settings.
    dataset : your :class:`~dashsim.nn.ImageDataset` (or a registered name; default ``config.data``).
    model : a zero-argument callable returning a fresh ``nn.Module`` (or a registered name; default
        ``config.model``).
    method : a :class:`~dashsim.nn.Method` object such as ``Dash(lam=0.9)`` or your own subclass (or a
        registered name; default ``config.method`` at its paper defaults).
    progress : show progress bars.
    probe, probe_after : optional measurements before / after training (see :func:`dashsim.nn.engine.run`).

    Returns
    -------
    pandas.DataFrame with the engine's row columns (:data:`dashsim.nn.engine.ROW_COLUMNS`, the
    method's hyper-parameters after ``method``) and the probes' columns.

    References
    ----------
    DASH paper, Section 5 (protocol), Figure 1 (test accuracy and steps per experiment).
    """
    return run(config, Incremental(), dataset=dataset, model=model, method=method, progress=progress, probe=probe,
               probe_after=probe_after)


def per_seed(metrics: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per (dataset, model, method, *by, seed): its final and experiment-averaged metrics.

    ``final_q`` is ``q`` at the seed's last experiment and ``avg_q = (1/J) sum_j q_j``, for test
    accuracy and steps; also ``total_steps`` and ``converged_fraction`` (the share of experiments
    that reached the target). :func:`summarize` reduces these over seeds.
    """
    keys = ["dataset", "model", "method", *by]
    return (
        metrics.sort_values("experiment", kind="stable")
        .groupby(keys + ["seed"])
        .agg(
            final_test_accuracy=("test_accuracy", "last"),
            avg_test_accuracy=("test_accuracy", "mean"),
            final_steps=("steps", "last"),
            avg_steps=("steps", "mean"),
            total_steps=("steps", "sum"),
            converged_fraction=("converged", "mean"),
        )
        .reset_index()
    )


def summarize(metrics: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Final (j = J) and experiment-averaged metrics per method (and ``by`` columns), mean and std over seeds.

    For each seed: ``final_* = value at the last experiment``, ``avg_* = mean over experiments``;
    then mean and sample standard deviation over seeds (std is NaN for one seed).

    Parameters
    ----------
    metrics : rows as returned by :func:`run_incremental` (several runs may be concatenated).
    by : further columns that tell runs apart, e.g. the method's hyper-parameters ``("alpha", "lam")``.

    Returns
    -------
    pandas.DataFrame indexed by (dataset, model, method, *by) with ``<metric>_mean`` / ``<metric>_std``
    columns for final/avg test accuracy and steps, total steps, and ``n_seeds``.
    """
    keys = ["dataset", "model", "method", *by]
    if not isinstance(metrics, pd.DataFrame):
        raise TypeError(f"metrics must be a pandas DataFrame of rows, got {type(metrics).__name__}")
    missing = [c for c in (*keys, "seed", "experiment", "test_accuracy", "steps", "converged") if c not in metrics]
    if missing:
        raise ValueError(f"metrics lacks the column(s) {missing}" + (" (it has no rows)" if metrics.empty else ""))
    seeds = per_seed(metrics, by)
    values = [c for c in seeds.columns if c not in keys and c != "seed"]
    stats = seed_stats(seeds, keys, values).set_index(keys)
    return stats[[c for c in stats.columns if c != "n_seeds"] + ["n_seeds"]]
