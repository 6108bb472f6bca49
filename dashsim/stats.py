"""Mean and spread over seeds: the one reduction every dashsim results table uses.

Both halves summarize runs the same way: a tidy frame with one row per (group, seed) goes in, one
row per group comes out with ``<v>_mean``, ``<v>_std`` (sample standard deviation, ddof = 1) and
``n_seeds``. Keeping it in one function keeps one ddof everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["seed_stats"]


def _names(arg: str, value: str | Sequence[str]) -> list[str]:
    names = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(name, str) for name in names):
        raise TypeError(f"{arg}: expected column names (str), got {names!r}")
    return names


def seed_stats(frame: pd.DataFrame, by: str | Sequence[str], values: str | Sequence[str], *,
               seed_col: str = "seed") -> pd.DataFrame:
    """Mean and sample standard deviation over seeds of each value column, per group of ``by``.

    For each group g (rows sharing the ``by`` columns) and each value column v, with ``v_s`` the
    value of seed s and S the number of seeds with a value (NaN values are left out):
    ``v_mean = (1/S) sum_s v_s`` and ``v_std = sqrt(1/(S-1) sum_s (v_s - v_mean)^2)`` (ddof = 1; NaN
    when S = 1). ``n_seeds`` counts the distinct ``seed_col`` values of the group.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per (group, seed): aggregate within a seed (over experiments, say) before calling.
    by : str or sequence of str
        The columns that identify a group (e.g. ``["method", "experiment"]``); empty: one group.
    values : str or sequence of str
        The columns to reduce (any numeric columns).
    seed_col : str
        The column naming the seed of each row.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, n_seeds, <v>_mean, <v>_std`` for each v in ``values`` order; one row per
        group, groups in order of first appearance in ``frame``.

    Raises
    ------
    ValueError
        A column is missing, ``values`` is empty or overlaps the id columns, or a (group, seed)
        pair occurs in more than one row.
    """
    by, values = _names("by", by), _names("values", values)
    missing = [c for c in dict.fromkeys([*by, seed_col, *values]) if c not in frame.columns]
    if missing:
        raise ValueError(f"frame: missing columns {missing}; it has {list(frame.columns)}")
    if not values:
        raise ValueError("values: name at least one column to reduce")
    ids = [*by, seed_col]
    if set(values) & set(ids):
        raise ValueError(f"values: {sorted(set(values) & set(ids))} are id columns (by, seed_col), not values")
    repeated = frame.duplicated(ids, keep=False)
    if repeated.any():
        raise ValueError(f"frame: {int(repeated.sum())} rows share their ({', '.join(ids)}); seed_stats needs one row "
                         f"per seed in each group (first: {frame.loc[repeated, ids].iloc[0].tolist()})")
    # With no `by` columns the whole frame is one group.
    grouped = frame.groupby(by or np.zeros(len(frame), dtype=np.int8), sort=False, dropna=False)
    out = grouped[seed_col].nunique().rename("n_seeds").to_frame()
    for v in values:
        out[f"{v}_mean"] = grouped[v].mean()
        out[f"{v}_std"] = grouped[v].std(ddof=1)
    return out.reset_index(drop=not by)
