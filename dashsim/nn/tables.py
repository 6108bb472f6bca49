"""Tidy tables of the paper's layout: Table 1 (final and average test accuracy and steps, "mean (std)"), and the
paper's claims checked seed by seed (:func:`claim_check`).

References
----------
Shin et al., "DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss of
Plasticity", NeurIPS 2024, Table 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import pandas as pd

from .._validate import check_int
from ..stats import seed_stats
from .protocols import summarize
from .protocols.incremental import per_seed

__all__ = ["format_mean_std", "table1", "format_table1", "claim_check", "TABLE1_QUANTITIES", "PAPER_FIGURE1", "CLAIMS",
           "CLAIM_COLUMNS"]

# (column stem, header, scale): accuracies are shown in percent, steps as counts.
TABLE1_QUANTITIES = (
    ("final_test_accuracy", "test acc. final (%)", 100.0),
    ("avg_test_accuracy", "test acc. avg (%)", 100.0),
    ("final_steps", "steps final", 1.0),
    ("avg_steps", "steps avg", 1.0),
)


# DASH paper, Figure 1 (Tiny-ImageNet, ResNet-18, SGD, 3 seeds), read off the published plot (about
# +-0.5 points): for comparison beside our runs, never as results.
PAPER_FIGURE1 = pd.DataFrame({
    "method": ["cold", "warm", "sp", "dash"],
    "final_test_accuracy": [0.257, 0.096, 0.343, 0.461],
    "final_steps": [30_200, 3_400, 13_800, 8_300],
    "avg_steps": [17_500, 1_800, 8_100, 4_400],
})


def format_mean_std(mean: float, std: float, *, scale: float = 1.0, decimals: int = 1) -> str:
    """``"m (s)"`` with ``m = scale * mean`` and ``s = scale * std`` rounded to ``decimals`` places.

    A NaN ``std`` (a single seed) is written ``"m (-)"``.

    Parameters
    ----------
    mean, std : the statistic over seeds (std is the sample standard deviation).
    scale : factor applied to both (100 for accuracies in percent).
    decimals : digits after the decimal point (>= 0).

    Returns
    -------
    str, e.g. ``format_mean_std(0.4613, 0.0052, scale=100) == "46.1 (0.5)"``.
    """
    check_int("decimals", decimals, 0)
    spread = "-" if math.isnan(std) else f"{scale * std:.{decimals}f}"
    return f"{scale * mean:.{decimals}f} ({spread})"


def table1(metrics: pd.DataFrame, *, by: str = "optimizer") -> pd.DataFrame:
    """Table 1's numbers: per (``by``, method) the mean and std over seeds of final/average test accuracy and steps.

    For each seed, ``final_q = q`` at the last experiment and ``avg_q = (1/J) sum_j q_j``
    (:func:`dashsim.nn.protocols.summarize`); then the mean and sample std over seeds.

    Parameters
    ----------
    metrics : rows of :func:`~dashsim.nn.protocols.run_incremental` with an extra column ``by``
        (e.g. the base optimizer) telling the runs apart; within each ``by`` group, one dataset and
        one model (else a ValueError naming the mixed values).
    by : the column that splits the runs besides the method.

    Returns
    -------
    pandas.DataFrame with columns ``by``, method, n_seeds and ``<q>_mean`` / ``<q>_std`` for each
    quantity of :data:`TABLE1_QUANTITIES`, rows in the order the (``by``, method) pairs first appear.

    References
    ----------
    DASH paper, Table 1.
    """
    if by not in metrics.columns:
        raise ValueError(f"metrics lacks the column by={by!r}; columns: {list(metrics.columns)}")
    parts = []
    for value, group in metrics.groupby(by, sort=False):
        # summarize groups by (dataset, model, method) but a table row is (by, method): a second
        # dataset or model would give unlabelled duplicate rows, so refuse it by name.
        for column in ("dataset", "model"):
            if column != by and column in group.columns and group[column].nunique(dropna=False) > 1:
                raise ValueError(
                    f"table1 compares methods on one dataset and model per {by}, but {by}={value!r} mixes {column}s "
                    f"{list(dict.fromkeys(group[column]))}; select one {column} first, or pass by={column!r}")
        stats = summarize(group).reset_index()
        order = list(dict.fromkeys(group["method"]))
        stats = stats.set_index("method").loc[order].reset_index()
        parts.append(stats.assign(**{by: value}))
    columns = [by, "method", "n_seeds"] + [f"{q}_{s}" for q, _, _ in TABLE1_QUANTITIES for s in ("mean", "std")]
    return pd.concat(parts, ignore_index=True)[columns]


def format_table1(table: pd.DataFrame, *, by: str = "optimizer", decimals: int = 1) -> pd.DataFrame:
    """The rendered Table 1: one ``"mean (std)"`` string per quantity (accuracies in %), as in the paper.

    Parameters
    ----------
    table : the output of :func:`table1`.
    by : its split column (kept as the first column).
    decimals : digits after the decimal point of accuracies; steps are rounded to whole steps.

    Returns
    -------
    pandas.DataFrame of strings with columns ``by``, method and the headers of :data:`TABLE1_QUANTITIES`.
    """
    out = table[[by, "method"]].astype(str).copy()
    for q, header, scale in TABLE1_QUANTITIES:
        places = decimals if scale != 1.0 else 0
        out[header] = [format_mean_std(m, s, scale=scale, decimals=places)
                       for m, s in zip(table[f"{q}_mean"], table[f"{q}_std"])]
    return out


# The DASH paper's claims (Section 5, Table 1), each a paired comparison per seed:
# (claim, method, versus, per-seed quantity, claimed sign of method - versus).
CLAIMS = (
    ("warm < cold", "warm", "cold", "final_test_accuracy", -1),
    ("DASH >= cold", "dash", "cold", "final_test_accuracy", +1),
    ("DASH fewer steps than cold", "dash", "cold", "avg_steps", -1),
    ("S&P between: S&P >= warm", "sp", "warm", "final_test_accuracy", +1),
    ("S&P between: S&P <= DASH", "sp", "dash", "final_test_accuracy", -1),
)
CLAIM_COLUMNS = ("claim", "quantity", "method", "versus", "method_mean", "versus_mean", "difference_mean",
                 "difference_se", "n_seeds", "verdict")
_ROW_COLUMNS = ("dataset", "model", "method", "seed", "experiment", "test_accuracy", "steps", "converged")


def claim_check(data: "pd.DataFrame | str | Path | Sequence[str | Path]", *, by: Optional[str] = "optimizer",
                z: float = 2.0, accuracy: str = "final_test_accuracy_mean",
                steps: str = "avg_steps_mean") -> pd.DataFrame:
    """Each claim of the DASH paper with its seed-level evidence: paired differences, their mean and standard error.

    For every claim of :data:`CLAIMS` (warm < cold; DASH >= cold; DASH fewer steps than cold; S&P
    between warm and DASH) and each ``by`` group: with ``q_s(m)`` the per-seed quantity of method
    ``m`` (final test accuracy, or the mean steps per experiment) and ``S`` the seeds both
    compared methods ran, ``d_s = q_s(method) - q_s(versus)``, ``mean = (1/S) sum_s d_s`` and
    ``se = std(d) / sqrt(S)`` (sample std, ddof = 1, :func:`dashsim.stats.seed_stats`). With
    ``sign`` the claimed sign of ``d``: the verdict is ``"holds"`` if ``sign * mean > z * se``,
    ``"fails"`` if ``sign * mean < -z * se``, else ``"inconclusive"`` (always so for ``S < 2``).
    ``z = 2`` is about a two-sided 95% band for many seeds (wider with few: a t quantile for
    ``S - 1`` degrees of freedom is stricter).

    Parameters
    ----------
    data : the engine's rows (:func:`~dashsim.nn.run_incremental`, several runs concatenated: one
        row per (method, seed, experiment)), or one or more run folders (their ``metrics.csv`` are
        read and concatenated). A frame without a ``seed`` column (a :func:`table1` table: means
        only) gives the means-only check of earlier versions instead (see Returns).
    by : the column that splits the runs into separate checks (e.g. the base optimizer), if the
        rows have it; without it, all rows are one group (one dataset and one model, else a ValueError).
    z : the number of standard errors a mean difference must clear (> 0).
    accuracy, steps : for a :func:`table1` table only, the columns compared.

    Returns
    -------
    pandas.DataFrame with ``by`` (if used) and :data:`CLAIM_COLUMNS`: one row per (group, claim).
    For a :func:`table1` table: one row per group with the compared means and one boolean per part
    of the claim (``dash_ge_cold``, ``cold_gt_warm``, ``dash_fewer_steps_than_cold``,
    ``sp_between``), no seed-level evidence.

    Raises
    ------
    ValueError naming what is missing: a method of the claims, a column of the rows, a run folder's
    metrics; or a group that mixes datasets or models.

    References
    ----------
    DASH paper, Section 5 and Table 1.
    """
    if isinstance(data, pd.DataFrame) and "seed" not in data.columns:
        return _claim_check_means(data, by=by or "optimizer", accuracy=accuracy, steps=steps)
    if isinstance(z, bool) or not isinstance(z, (int, float)) or not z > 0:
        raise ValueError(f"z must be a number > 0 (standard errors), got {z!r}")
    rows = data if isinstance(data, pd.DataFrame) else _read_run_folders(data)
    missing = [c for c in _ROW_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"claim_check needs the engine's rows; missing columns {missing} (has {list(rows.columns)})")
    split = by is not None and by in rows.columns
    groups = rows.groupby(by, sort=False) if split else [(None, rows)]
    out = []
    for value, group in groups:
        label = f"{by}={value!r}" if split else "the rows"
        for column in ("dataset", "model"):
            if group[column].nunique(dropna=False) > 1:
                raise ValueError(f"claim_check compares methods on one dataset and model, but {label} mixes {column}s "
                                 f"{list(dict.fromkeys(group[column]))}; select one first")
        missing_methods = {"cold", "warm", "sp", "dash"} - set(group["method"])
        if missing_methods:
            raise ValueError(f"{label} lacks methods {sorted(missing_methods)} needed by the claims")
        seeds = per_seed(group).set_index(["method", "seed"])
        for claim, method, versus, quantity, sign in CLAIMS:
            a, b = seeds.loc[method, quantity], seeds.loc[versus, quantity]
            paired = pd.DataFrame({"seed": a.index, "difference": a - b.reindex(a.index)}).dropna()
            stats = seed_stats(paired, [], "difference").iloc[0]
            n = int(stats["n_seeds"])
            se = stats["difference_std"] / math.sqrt(n) if n >= 2 else math.nan
            mean = float(stats["difference_mean"]) if n else math.nan
            out.append({**({by: value} if split else {}), "claim": claim, "quantity": quantity, "method": method,
                        "versus": versus, "method_mean": float(a.mean()), "versus_mean": float(b.mean()),
                        "difference_mean": mean, "difference_se": se, "n_seeds": n,
                        "verdict": _verdict(sign * mean, se, z)})
    return pd.DataFrame(out, columns=([by] if split else []) + list(CLAIM_COLUMNS))


def _verdict(signed_mean: float, se: float, z: float) -> str:
    """"holds" / "fails" / "inconclusive" for a mean difference whose claimed sign is positive."""
    if math.isnan(se) or math.isnan(signed_mean):
        return "inconclusive"
    if signed_mean > z * se:
        return "holds"
    if signed_mean < -z * se:
        return "fails"
    return "inconclusive"


def _read_run_folders(folders: "str | Path | Sequence[str | Path]") -> pd.DataFrame:
    """The ``metrics.csv`` rows of one or more run folders, concatenated (ValueError naming a folder without them)."""
    paths = [folders] if isinstance(folders, (str, Path)) else list(folders)
    if not paths:
        raise ValueError("claim_check needs rows or at least one run folder")
    frames = []
    for path in paths:
        metrics = Path(path) / "metrics.csv"
        if not metrics.is_file() or metrics.stat().st_size == 0:
            raise ValueError(f"run folder {path} has no metrics.csv with finished experiments")
        frames.append(pd.read_csv(metrics))
    return pd.concat(frames, ignore_index=True)


def _claim_check_means(table: pd.DataFrame, *, by: str, accuracy: str, steps: str) -> pd.DataFrame:
    """The means-only check of a :func:`table1` table: one boolean per part of the claim and group."""
    rows = []
    for value, group in table.groupby(by, sort=False):
        missing = {"cold", "warm", "sp", "dash"} - set(group["method"])
        if missing:
            raise ValueError(f"{by}={value!r} lacks methods {sorted(missing)} needed by the claim")
        acc = group.set_index("method")[accuracy]
        n_steps = group.set_index("method")[steps]
        rows.append({by: value, **{f"{m}_accuracy": acc[m] for m in ("cold", "warm", "sp", "dash")},
                     "dash_steps": n_steps["dash"], "cold_steps": n_steps["cold"],
                     "dash_ge_cold": bool(acc["dash"] >= acc["cold"]), "cold_gt_warm": bool(acc["cold"] > acc["warm"]),
                     "dash_fewer_steps_than_cold": bool(n_steps["dash"] < n_steps["cold"]),
                     "sp_between": bool(acc["warm"] <= acc["sp"] <= acc["dash"])})
    return pd.DataFrame(rows)
