"""Gather run folders into one tidy table, list them, and reduce over seeds.

Any folder of run folders works (a sweep's, or ``runs/`` of ``dashsim train``): every folder below
it with a ``config.json`` is a run. :func:`collect` returns one long table, one row per (run,
round), with the run's configuration as columns next to its metrics; :func:`summarize` reduces
each run to its final numbers and then over seeds with :func:`dashsim.stats.seed_stats`;
:func:`list_runs` says what each run is and how far it got. Nothing here imports torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd

from ..stats import seed_stats

__all__ = ["collect", "summarize", "list_runs", "run_folders", "TIMING_COLUMNS"]

# Columns that differ between two runs of the same settings (wall-clock times).
TIMING_COLUMNS = ("wall_time_s", "method_time_s")
# Entries of config.json that are bookkeeping, not settings.
_NOT_CONFIG = ("run_format", "rounds", "model_signature", "model_source", "seeds", "method_params", "probe",
               "probe_after", "protocol_settings")
_MARKER = "sweep_run.json"


def run_folders(folder: str | Path) -> list[Path]:
    """Every run folder below ``folder`` (a folder with a ``config.json``; hidden folders are skipped), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder {folder}")
    found = []
    for config in folder.rglob("config.json"):
        relative = config.parent.relative_to(folder)
        if not any(part.startswith(".") for part in relative.parts):
            found.append(config.parent)
    return sorted(found)


def _read_json(path: Path) -> Optional[dict[str, Any]]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _config_columns(config: dict[str, Any]) -> dict[str, Any]:
    """The run's settings as scalar columns: training fields, then the protocol's settings."""
    columns = {k: v for k, v in config.items()
               if k not in _NOT_CONFIG and (v is None or isinstance(v, (str, int, float, bool)))}
    for key, value in (config.get("protocol_settings") or {}).items():
        columns.setdefault(key, value if not isinstance(value, list) else " ".join(map(str, value)))
    return columns


def collect(folder: str | Path | Sequence[str | Path]) -> pd.DataFrame:
    """Every run below ``folder`` in one long table: one row per (run, round) with its settings and metrics.

    Columns: ``run`` (the run folder, relative to ``folder``), the metrics columns of the runs
    (:data:`dashsim.nn.engine.ROW_COLUMNS`: protocol, data set, model, method, its hyper-parameters,
    seed, experiment, test accuracy, steps, ...), then each setting of the run's ``config.json``
    that the metrics do not already hold (``width``, ``J``, ``lr``, ``optimizer``, ...). Runs with
    no finished round are left out. The runs come in the order of their folder names, each with its
    rows in the order of its ``metrics.csv`` (unit by unit, round by round), so the table of a sweep
    does not depend on the order (or executor) its runs finished in. Numbers read back exactly as
    the run wrote them (``metrics.csv`` holds each float's ``repr``): the table holds the values
    the protocol call returned.

    Parameters
    ----------
    folder : a folder of run folders (or one run folder: its ``run`` is ``"."``); or a list of
        such folders, collected in the order given (no sorting across them), each run's ``run``
        then being its folder's path as given (e.g. the run folders of a figure's tasks).

    Returns
    -------
    pandas.DataFrame (empty if no run has a finished round); ``attrs["hyperparameters"]`` lists
    the methods' hyper-parameter columns, ``attrs["settings"]`` the columns taken from ``config.json``.
    """
    if isinstance(folder, (str, Path)):
        folder = Path(folder)
        return _collect([(path, path.relative_to(folder).as_posix()) for path in run_folders(folder)])
    if not isinstance(folder, Sequence):
        raise TypeError(f"folder must be a path or a list of paths, got {type(folder).__name__}")
    found = [(path, path.as_posix()) for entry in folder for path in run_folders(entry)]
    return _collect(found, ordered=False)


def _collect(paths: Sequence[tuple[Path, str]], *, ordered: bool = True) -> pd.DataFrame:
    """The long table of the run folders ``paths`` (folder, its ``run`` label); sorted by label if ``ordered``."""
    frames, hyper, settings = [], {}, {}
    for path, label in paths:
        metrics = path / "metrics.csv"
        config = _read_json(path / "config.json")
        if config is None or not metrics.exists() or metrics.stat().st_size == 0:
            continue
        frame = pd.read_csv(metrics)
        if frame.empty:
            continue
        hyper.update(dict.fromkeys(config.get("method_params") or {}))
        extra = {k: v for k, v in _config_columns(config).items() if k not in frame.columns}
        settings.update(dict.fromkeys(extra))
        frame = frame.assign(**{k: [v] * len(frame) for k, v in extra.items()})
        frame.insert(0, "run", label)
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True, sort=False)
    if ordered:  # runs by name; within a run, the order of its metrics.csv (a stable sort keeps it)
        table = table.sort_values("run", kind="stable").reset_index(drop=True)
    table.attrs["hyperparameters"] = list(hyper)
    table.attrs["settings"] = list(settings)
    return table


def summarize(table: pd.DataFrame, by: Optional[Sequence[str]] = None) -> pd.DataFrame:
    """Each run's final numbers, then mean and std over seeds per group (:func:`dashsim.stats.seed_stats`).

    Per run (per seed, and per pretraining length, of a run folder holding several):
    ``final_test_accuracy`` (the last round's), ``mean_test_accuracy`` (over its rounds) and
    ``total_steps`` (summed over its rounds); then, per group of ``by``, their mean and sample
    std over seeds, and ``n_seeds``.

    Parameters
    ----------
    table : :func:`collect`'s table.
    by : the columns that make a group; default: ``protocol``, ``dataset``, ``model``, ``method``,
        the hyper-parameters, and every other setting that differs between the runs.

    Returns
    -------
    pandas.DataFrame, one row per group.
    """
    if table.empty:
        raise ValueError("table: no finished rounds to summarize")
    # A run folder of `dashsim train` may hold several seeds (or a two-phase run's pretraining lengths):
    # each such unit is one run here.
    units = ["run", *[c for c in ("seed", "pretrain_epochs") if c in table.columns]]
    per_unit = table.groupby(units, sort=False, dropna=False)
    finals = table.loc[per_unit["experiment"].idxmax()]
    runs = finals.drop(columns=[c for c in table.columns if c in _METRICS]).assign(
        final_test_accuracy=finals["test_accuracy"].to_numpy(),
        mean_test_accuracy=per_unit["test_accuracy"].mean().to_numpy(),
        total_steps=per_unit["steps"].sum().to_numpy(),
    ).reset_index(drop=True)
    if by is None:
        fixed = ["protocol", "dataset", "model", "method", *table.attrs.get("hyperparameters", [])]
        candidates = table.attrs.get("settings") or [c for c in runs.columns if c not in ("run", "seed", *_RUN_VALUES)]
        varied = [c for c in candidates if c in runs.columns and c not in ("run", "seed", *fixed)
                  and runs[c].astype(str).nunique() > 1]
        by = [c for c in dict.fromkeys([*fixed, *varied]) if c in runs.columns]
    # A method without a hyper-parameter has NaN there; groups keep NaN keys (seed_stats: dropna=False).
    return seed_stats(runs, list(by), list(_RUN_VALUES))


_RUN_VALUES = ("final_test_accuracy", "mean_test_accuracy", "total_steps")
_METRICS = ("experiment", "n_train", "test_accuracy", "steps", "epochs", "train_accuracy", "train_loss", "converged",
            "method_applied", *TIMING_COLUMNS)


def _lock_held(path: Path) -> bool:
    """Whether a live process holds the ``flock`` on ``path`` (the file is neither created nor kept locked)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return False
    try:
        handle = open(path)
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def list_runs(folder: str | Path) -> pd.DataFrame:
    """One row per run below ``folder``: what it is, its status, its progress and its final metrics.

    Columns: ``run``, ``protocol``, ``data``, ``model``, ``method``, ``params`` (the method's
    hyper-parameters), ``seeds``, ``status``, ``rounds`` (finished / planned), ``test_accuracy``
    (last finished round, mean over the run's seeds) and ``steps`` (all finished rounds).
    ``status``: ``running`` (a live process holds the run's lock), ``done`` (all planned rounds
    finished), ``failed`` (a sweep recorded an error), ``partial`` (interrupted: re-running resumes
    it), ``empty`` (no round finished), ``unreadable`` (its ``config.json`` does not parse).
    The planned rounds are the config's ``rounds`` times its units (seeds, times the two-phase
    protocol's ``pretrain_epochs``).
    """
    folder = Path(folder)
    rows = []
    for path in run_folders(folder):
        config = _read_json(path / "config.json")
        row: dict[str, Any] = {"run": path.relative_to(folder).as_posix()}
        if config is None:
            rows.append({**row, "status": "unreadable"})
            continue
        settings = config.get("protocol_settings") or {}
        units = len(config.get("seeds") or [0]) * len(settings.get("pretrain_epochs") or [0])
        planned = int(config.get("rounds") or 0) * units
        metrics = path / "metrics.csv"
        frame = pd.read_csv(metrics) if metrics.exists() and metrics.stat().st_size else pd.DataFrame()
        marker = _read_json(path / _MARKER) or {}
        if _lock_held(path / ".lock") or _lock_held(path / ".sweep.lock"):
            status = "running"
        elif marker.get("status") == "failed":
            status = "failed"
        elif planned and len(frame) >= planned:
            status = "done"
        else:
            status = "partial" if len(frame) else "empty"
        params = " ".join(f"{k}={v}" for k, v in (config.get("method_params") or {}).items())
        row.update(protocol=config.get("protocol"), data=config.get("data"), model=config.get("model"),
                   method=config.get("method"), params=params, seeds=" ".join(map(str, config.get("seeds") or [])),
                   status=status, rounds=f"{len(frame)}/{planned}")
        if len(frame):
            last = frame[frame["experiment"] == frame["experiment"].max()]
            row.update(test_accuracy=float(last["test_accuracy"].mean()), steps=int(frame["steps"].sum()))
        rows.append(row)
    columns = ["run", "protocol", "data", "model", "method", "params", "seeds", "status", "rounds", "test_accuracy",
               "steps"]
    return pd.DataFrame(rows, columns=columns)
