"""One figure style for the whole project: a colour and line style per method, seaborn for seed bands.

Every figure of dashsim (the library's plotting modules, the paper-figure scripts, the notebooks)
draws a method with the same colour and line style: each method has its own colour of seaborn's
colour-blind-safe "colorblind" palette, and the line style is a second cue (dashed for warm
starts, dash-dots for shrink and perturb, dotted for ideal, solid for cold and DASH).

Curves over seeds are drawn by :func:`seed_lineplot` (``seaborn.lineplot`` with
``errorbar="sd"``: the mean over seeds and a band of one sample standard deviation, ddof = 1, the
statistics :func:`dashsim.stats.seed_stats` writes to the figures' CSVs), grids of one value by
:func:`heatmap`, experiments that stopped at the epoch cap by :func:`mark_capped` (counted for the
CSV by :func:`capped_counts`), and :func:`save_figure` writes the PNG and the PDF.

This module imports no torch and changes no global matplotlib setting: figures are drawn inside
:func:`theme`.
"""

from __future__ import annotations

import contextlib
import math
import os
import zlib
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import matplotlib
import numpy as np
import pandas as pd

__all__ = ["METHOD_STYLES", "EXTRA_STYLES", "DPI", "CAP_MARKER", "theme", "method_style", "method_styles",
           "seed_rows", "seed_lineplot", "capped_counts", "with_capped_counts", "mark_capped", "heatmap",
           "save_figure"]

# seaborn's "colorblind" palette (seaborn.color_palette("colorblind")), written out so that
# colours are fixed however seaborn's defaults evolve.
_CB = ("#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4", "#949494", "#ece133",
       "#56b4e9")

# One entry per method of the simulator (cold, warm, ideal) and of dashsim.nn.METHODS. Ideal equals
# cold in accuracy and learned features (Theorem 3.6): it is dotted and thicker so that cold shows
# through it. Shrink-and-perturb variants share dash-dots; the warm variant shares warm's dashes.
METHOD_STYLES: dict[str, dict[str, Any]] = {
    "cold": {"color": _CB[0], "linestyle": "-", "linewidth": 1.8},
    "warm": {"color": _CB[1], "linestyle": "--", "linewidth": 1.8},
    "ideal": {"color": _CB[2], "linestyle": (0, (1, 1.2)), "linewidth": 2.8},
    "dash": {"color": _CB[3], "linestyle": "-", "linewidth": 2.0},
    "sp": {"color": _CB[4], "linestyle": "-.", "linewidth": 1.8},
    "sp_ash": {"color": _CB[5], "linestyle": "-.", "linewidth": 1.8},
    "warm_rem": {"color": _CB[6], "linestyle": "--", "linewidth": 1.8},
    "shrink": {"color": _CB[7], "linestyle": (0, (3, 1, 1, 1, 1, 1)), "linewidth": 1.8},
    "l2_init": {"color": _CB[8], "linestyle": (0, (5, 2)), "linewidth": 1.8},
    "reset_head": {"color": _CB[9], "linestyle": (0, (1, 1)), "linewidth": 1.8},
}
# Methods not listed above (your own rules and methods, labels such as "dash every 10"): seaborn's
# "dark" palette with its own dash pattern, chosen from the name, so a name keeps its look across figures.
EXTRA_STYLES: tuple[dict[str, Any], ...] = tuple(
    {"color": colour, "linestyle": dashes, "linewidth": 1.8}
    for colour, dashes in zip(("#001c7f", "#b1400d", "#12711c", "#8c0800", "#591e71", "#592f0d", "#a23582",
                               "#3c3c3c", "#b8850a", "#006374"),
                              ("-", (0, (4, 1.5)), (0, (1, 1.5)), "-.", (0, (6, 2, 1, 2)), "-", (0, (4, 1.5)),
                               (0, (1, 1.5)), "-.", (0, (6, 2, 1, 2)))))
DPI = 300  # PNG resolution of saved figures (print quality); the PDF is vector
# Where any seed of an experiment stopped at the epoch cap (converged == False): an open circle on the mean.
CAP_MARKER = {"marker": "o", "markersize": 6.5, "markerfacecolor": "none", "markeredgewidth": 1.3, "linestyle": "none"}
CAP_LABEL = "stopped at the epoch cap (some seed)"

_RC = {
    "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8, "legend.frameon": False,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "pdf.fonttype": 42, "ps.fonttype": 42,
}


@contextlib.contextmanager
def theme() -> Iterator[None]:
    """Draw the figures made inside this block in the project's style (no global setting changes).

    seaborn's "whitegrid" axes with light grids, no top and right spines, paper-sized fonts, and
    TrueType fonts in PDFs (editable text).
    """
    import seaborn as sns

    with matplotlib.rc_context({**sns.axes_style("whitegrid"), **_RC}):
        yield


def method_style(name: str) -> dict[str, Any]:
    """The colour, line style and line width of method ``name`` (a fresh dict: safe to update).

    A name of :data:`METHOD_STYLES` gets its own entry; any other name gets entry
    ``crc32(name) mod len(EXTRA_STYLES)`` of :data:`EXTRA_STYLES`, the same in every figure.
    """
    if name in METHOD_STYLES:
        return dict(METHOD_STYLES[name])
    return dict(EXTRA_STYLES[zlib.crc32(str(name).encode()) % len(EXTRA_STYLES)])


def method_styles(names: Sequence[str], overrides: Optional[Mapping[str, Mapping[str, Any]]] = None
                  ) -> dict[str, dict[str, Any]]:
    """:func:`method_style` of every name, with two unlisted names in one figure never sharing a style.

    An unlisted name whose hashed entry of :data:`EXTRA_STYLES` is taken by an earlier unlisted name
    takes the next free entry. ``overrides[name]`` (e.g. ``{"linestyle": "--"}``) updates a name's style.
    """
    styles, taken = {}, set()
    for name in names:
        style = method_style(name)
        if name not in METHOD_STYLES:
            start = zlib.crc32(str(name).encode()) % len(EXTRA_STYLES)
            free = [(start + k) % len(EXTRA_STYLES) for k in range(len(EXTRA_STYLES))
                    if (start + k) % len(EXTRA_STYLES) not in taken]
            index = free[0] if free else start
            taken.add(index)
            style = dict(EXTRA_STYLES[index])
        style.update((overrides or {}).get(name, {}))
        styles[name] = style
    return styles


def seed_rows(frame: pd.DataFrame, quantities: Sequence[str]) -> pd.DataFrame:
    """Rows over seeds for ``quantities``: ``frame`` itself, or rows rebuilt from a summary of it.

    A frame with a column per quantity is returned as is. A summary (columns ``<q>_mean`` and
    ``<q>_std``, as :func:`dashsim.stats.seed_stats` writes them to a figure's CSV) becomes two rows
    per summary row with ``q = m - s / sqrt(2)`` and ``q = m + s / sqrt(2)`` (``m = <q>_mean``,
    ``s = <q>_std``, 0 when missing), as pseudo-seeds 0 and 1: their mean is ``m`` and their sample
    standard deviation (ddof = 1) is ``s``, so :func:`seed_lineplot` redraws a committed CSV exactly
    as it drew the seeds.

    Parameters
    ----------
    frame : per-seed rows, or their summary.
    quantities : the quantities to plot.

    Returns
    -------
    pandas.DataFrame : rows with one column per quantity and the frame's other columns.
    """
    quantities = list(quantities)
    if all(q in frame.columns for q in quantities):
        return frame
    needed = [f"{q}_{s}" for q in quantities for s in ("mean", "std")]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"frame needs a column per quantity {quantities} (rows over seeds) or their mean and std "
                         f"(a summary); missing {missing}")
    keep = frame.drop(columns=needed)
    halves = []
    for pseudo_seed, sign in enumerate((-1.0, 1.0)):
        half = keep.assign(seed=pseudo_seed)
        for q in quantities:
            spread = frame[f"{q}_std"].astype(float).fillna(0.0) / math.sqrt(2.0)
            half[q] = frame[f"{q}_mean"].astype(float) + sign * spread
        halves.append(half)
    return pd.concat(halves, ignore_index=True)


def seed_lineplot(ax, rows: pd.DataFrame, x: str, y: str, *, hue: str = "method", order: Optional[Sequence] = None,
                  styles: Optional[Mapping[str, Mapping[str, Any]]] = None, scale: float = 1.0,
                  label: Callable[[Any], str] = str, **line_kws: Any):
    """One line per value of ``hue``: the mean of ``y`` over seeds against ``x``, with a +- one std band.

    For every ``hue`` value ``h`` and ``x`` value ``v``: line at ``mean_s(scale * y[h, v, s])``, band
    ``mean +- std_s`` (sample standard deviation, ddof = 1; no band for one seed), drawn by
    ``seaborn.lineplot(..., errorbar="sd")`` in the style of :func:`method_styles`.

    Parameters
    ----------
    ax : the matplotlib axes to draw into.
    rows : one row per (hue, x, seed), or a summary (see :func:`seed_rows`).
    x, y : the columns of the x axis and of the plotted quantity.
    hue : the column naming a curve (a method).
    order : the curves to draw, in legend order (default: every value, in order of appearance).
    styles : per curve, entries that override its style (``{"warm": {"linestyle": "--"}}``).
    scale : multiplies ``y`` (e.g. 100 for percent).
    label : the legend label of a curve.
    line_kws : passed to every line (e.g. ``marker="o"``).

    Returns
    -------
    The axes.
    """
    import seaborn as sns

    rows = seed_rows(rows, [y])
    order = list(pd.unique(rows[hue])) if order is None else list(order)
    present = set(pd.unique(rows[hue]))
    absent = [name for name in order if name not in present]
    if absent:
        raise ValueError(f"{hue} {absent[0]!r} has no rows; present: {sorted(map(str, present))}")
    for name, style in method_styles(order, styles).items():
        part = rows.loc[rows[hue] == name, [x, y]]
        part = part.assign(**{y: part[y].astype(float) * scale})
        if part[y].isna().all():
            continue
        sns.lineplot(data=part, x=x, y=y, errorbar="sd", ax=ax, label=label(name),
                     err_kws={"alpha": 0.18, "linewidth": 0}, **{**style, **line_kws})
    return ax


def capped_counts(frame: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Per group of ``by``: how many rows stopped at the epoch cap, for a figure's CSV.

    ``n_capped = #{rows of the group with converged == False}`` (an experiment that reached the
    train-accuracy target has ``converged == True``). A summary that already holds ``n_capped`` is
    returned grouped as it is.

    Parameters
    ----------
    frame : the engine's rows (a ``converged`` column), or a summary with ``n_capped``.
    by : the group columns (e.g. ``["method", "experiment"]``).

    Returns
    -------
    pandas.DataFrame with columns ``*by, n_capped`` (int).
    """
    by = list(by)
    if "converged" in frame.columns:
        capped = ~frame["converged"].astype(bool)
        out = capped.groupby([frame[c] for c in by], sort=False).sum().rename("n_capped").reset_index()
    elif "n_capped" in frame.columns:
        out = frame.groupby(by, sort=False)["n_capped"].max().reset_index()
    else:
        raise ValueError("frame has neither a converged column (rows) nor n_capped (a summary)")
    return out.astype({"n_capped": np.int64})


def with_capped_counts(summary: pd.DataFrame, rows: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """``summary`` plus :func:`capped_counts` of ``rows`` per group of ``by``, when the rows say (``converged``).

    Parameters
    ----------
    summary : one row per group of ``by`` (e.g. :func:`dashsim.stats.seed_stats` of ``rows``).
    rows : the engine's rows; without a ``converged`` column ``summary`` is returned as it is.
    by : the group columns, in both frames.

    Returns
    -------
    pandas.DataFrame : ``summary`` with an ``n_capped`` column, its row order kept.
    """
    if "converged" not in rows.columns:
        return summary
    return summary.merge(capped_counts(rows, by), on=list(by), how="left", sort=False)


def mark_capped(ax, frame: pd.DataFrame, x: str, y: str, *, hue: str = "method",
                order: Optional[Sequence] = None, styles: Optional[Mapping[str, Mapping[str, Any]]] = None,
                scale: float = 1.0, label: str = CAP_LABEL) -> int:
    """Mark, on each curve of :func:`seed_lineplot`, the points where some seed stopped at the epoch cap.

    An open circle (:data:`CAP_MARKER`, in the curve's colour) at ``(x, mean_s(scale * y))`` for every
    ``(hue, x)`` with ``n_capped > 0`` (:func:`capped_counts`); the legend gains one entry saying so
    (an axes that already has a legend gets it drawn again, with that entry).

    Parameters
    ----------
    ax : the axes the curves are drawn in.
    frame : the rows (with ``converged``) or a summary (with ``n_capped`` and ``<y>_mean``).
    x, y, hue, order, styles, scale : as given to :func:`seed_lineplot`.
    label : the legend entry (default :data:`CAP_LABEL`; a run of fixed length says what it missed instead).

    Returns
    -------
    int : the number of points marked.
    """
    counts = capped_counts(frame, [hue, x])
    rows = seed_rows(frame, [y])
    means = rows.groupby([hue, x], sort=False)[y].mean().mul(scale).rename("_mean").reset_index()
    marked = counts[counts["n_capped"] > 0].merge(means, on=[hue, x])
    order = list(pd.unique(rows[hue])) if order is None else list(order)
    total = 0
    for name, style in method_styles(order, styles).items():
        points = marked[marked[hue] == name].sort_values(x)
        if len(points):
            ax.plot(points[x].to_numpy(), points["_mean"].to_numpy(), color=style["color"], zorder=5,
                    label=label if total == 0 else "_nolegend_", **CAP_MARKER)
            total += len(points)
    if total and ax.get_legend() is not None:
        ax.legend()
    return total


def heatmap(ax, table: pd.DataFrame, *, x: str, y: str, value: str, fmt: str = ".1f", cmap: str = "viridis",
            label: Optional[str] = None):
    """A grid of ``value`` over (``x``, ``y``), one annotated cell each (seaborn.heatmap).

    Cell ``(x = a, y = b)`` shows ``value`` of the row with ``x == a`` and ``y == b`` (a missing
    combination is left blank); the colour map is perceptually uniform and colour-blind safe.

    Parameters
    ----------
    ax : the axes to draw into.
    table : one row per (x, y) with a ``value`` column (e.g. the seed mean).
    x, y : the grid's column and row variables (ascending; y grows upwards).
    value : the plotted column.
    fmt : format of the annotations.
    cmap : colour map.
    label : colour bar label (default: ``value``).

    Returns
    -------
    The axes.
    """
    import seaborn as sns

    if table.duplicated([x, y]).any():
        raise ValueError(f"table has several rows for one ({x}, {y}) cell; reduce it first (e.g. the seed mean)")
    grid = table.pivot(index=y, columns=x, values=value).sort_index(ascending=False)
    sns.heatmap(grid, ax=ax, annot=True, fmt=fmt, cmap=cmap, cbar_kws={"label": label or value},
                linewidths=0.5, linecolor="white")
    ax.set(xlabel=x, ylabel=y)
    return ax


def save_figure(fig, path: str | os.PathLike, *, dpi: int = DPI) -> tuple[Path, Path]:
    """Write ``fig`` as ``<path>.png`` (``dpi``) and ``<path>.pdf`` (vector), each whole or not at all.

    Parameters
    ----------
    fig : a matplotlib figure.
    path : the file name with or without a suffix (``out/figure3`` or ``out/figure3.png``).
    dpi : PNG resolution (default :data:`DPI`).

    Returns
    -------
    (png, pdf) : the two paths written.
    """
    base = Path(path)
    if base.suffix.lower() in (".png", ".pdf"):
        base = base.with_suffix("")
    written = []
    for suffix in (".png", ".pdf"):
        target = base.with_name(base.name + suffix)
        # Written beside the target and renamed: an interrupted save never leaves a truncated file.
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            # No creation date in the PDF: drawing the same numbers again gives the same bytes.
            metadata = {"CreationDate": None} if suffix == ".pdf" else None
            fig.savefig(partial, dpi=dpi, format=suffix[1:], metadata=metadata)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        written.append(target)
    return written[0], written[1]
