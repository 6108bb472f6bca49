"""Tidy tables of the paper's layout: Table 1 (final and average test accuracy and steps, "mean (std)").

References
----------
Shin et al., "DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss of
Plasticity", NeurIPS 2024, Table 1.
"""

from __future__ import annotations

import math

import pandas as pd

from .._validate import check_int
from .protocols import summarize

__all__ = ["format_mean_std", "table1", "format_table1", "claim_check", "TABLE1_QUANTITIES", "PAPER_FIGURE1"]

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
        out[header] = [format_mean_std(m, s, scale=scale, decimals=places) for m, s in zip(table[f"{q}_mean"], table[f"{q}_std"])]
    return out


def claim_check(table: pd.DataFrame, *, by: str = "optimizer", accuracy: str = "final_test_accuracy_mean",
                steps: str = "avg_steps_mean") -> pd.DataFrame:
    """Test the DASH paper's claim on each ``by`` group of a :func:`table1` table.

    The claim: ``acc(dash) >= acc(cold) > acc(warm)``, ``steps(dash) < steps(cold)``, and S&P's
    accuracy between warm's and DASH's, ``acc(warm) <= acc(sp) <= acc(dash)``.

    Parameters
    ----------
    table : output of :func:`table1` with rows for cold, warm, sp and dash in each group.
    by : the group column.
    accuracy, steps : the columns compared (default: final test accuracy, mean steps per experiment).

    Returns
    -------
    pandas.DataFrame, one row per group, with the compared values and one boolean column per part
    of the claim: ``dash_ge_cold``, ``cold_gt_warm``, ``dash_fewer_steps_than_cold``, ``sp_between``.

    References
    ----------
    DASH paper, Section 5 and Table 1.
    """
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
