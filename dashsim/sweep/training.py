"""Training sweeps: every run of a :class:`~dashsim.sweep.Sweep` through the experiment engine, on any executor.

Each run is one call of :func:`dashsim.nn.engine.run` with one seed, in its own run folder
``<sweep out>/<run name>`` (so it resumes bit-exactly, and a finished run is never recomputed).
Around the engine's own lock, a run task holds ``<run folder>/.sweep.lock`` (an ``flock``,
released by the operating system when its holder dies) while it checks, trains and marks the
run: two sweeps on one folder therefore wait for each other run by run and never train one run
twice. A finished run is marked by ``sweep_run.json`` (its settings and ``"status": "done"``).

Faults: a run that raises is reported (``status`` ``failed``, with its error) and the other runs go
on; a run folder that cannot be read back (corrupt ``config.json`` or ``checkpoint.pt``) is moved
to ``<sweep out>/.corrupt/`` and the run redone; a worker that dies is the executor's to retry
(:mod:`dashsim.sweep.executors`), and the retried task continues from the run's last checkpoint.

This module imports torch; :mod:`dashsim.sweep` loads it only when a training sweep runs.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import shutil
import time
import traceback
import typing
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from .. import runs as _runs
from ..errors import RunFolderCorruptError
from .spec import SEED, Run, SpecError, Sweep

__all__ = ["RunTask", "prepare", "run_task", "run_sweep", "MARKER"]

_log = logging.getLogger(__name__)

MARKER = "sweep_run.json"  # written into a run folder when its run has finished
SWEEP_LOCK = ".sweep.lock"
_NOT_SETTINGS = ("out", "seeds")  # set by the sweep itself (the run folder, one seed per run)


@dataclasses.dataclass(frozen=True)
class RunTask:
    """What a worker needs to run one run of a sweep (picklable: plain values only)."""

    root: str  # the sweep's folder
    name: str  # the run folder's name inside it
    config: dict[str, Any]  # TrainConfig fields (out and seeds included)
    protocol: str  # registered protocol name
    protocol_settings: dict[str, Any]  # the plan's fields set by the sweep
    method: str  # registered method name
    params: dict[str, Any]  # the method's hyper-parameters set by the sweep
    record: dict[str, Any]  # the run's key and varied values, written into the marker
    threads: int = 1  # torch CPU threads while it trains

    @property
    def folder(self) -> Path:
        return Path(self.root) / self.name


def _typed(cls: type, name: str, value: Any) -> Any:
    """``value`` with TOML's lists as the tuples the dataclass field ``name`` of ``cls`` holds."""
    hint = typing.get_type_hints(cls).get(name)
    if isinstance(value, list) or (isinstance(value, tuple) and typing.get_origin(hint) is not tuple):
        return tuple(value)
    return value


def _allowed(names, what: str) -> str:
    return f"allowed {what}: {', '.join(sorted(names))}"


def prepare(sweep: Sweep, out: Optional[str] = None, *, threads: int = 1) -> list[RunTask]:
    """Check every run of ``sweep`` and build its task; nothing is written.

    Every setting must be a :class:`~dashsim.nn.TrainConfig` field (``out`` and ``seeds`` are the
    sweep's), ``protocol`` or a field of the run's protocol; every hyper-parameter a field of its
    method. Each run's config, plan and method are built (so their own range checks apply) and each
    distinct (data set, model, method) is resolved (:func:`dashsim.nn.engine.resolve`: the data set
    loads, the model takes its inputs).

    Parameters
    ----------
    sweep : the sweep.
    out : its folder (default ``sweep.out``).
    threads : torch CPU threads of each run.

    Returns
    -------
    list of RunTask, in the order of :meth:`Sweep.runs`.

    Raises
    ------
    SpecError naming the field (and the allowed names or range) for anything that cannot run.
    """
    from ..nn.engine import PROTOCOLS, resolve
    from ..nn.methods import METHODS, make_method
    from ..nn.train import SettingsError, TrainConfig

    train_fields = {f.name for f in dataclasses.fields(TrainConfig)} - set(_NOT_SETTINGS)
    root = str(out or sweep.out)
    runs = sweep.runs()
    protocol_fields = {name: {f.name for f in dataclasses.fields(cls)} for name, cls in PROTOCOLS.items()}
    every_protocol_field = set().union(*protocol_fields.values())
    for key in [*sweep.base, *sweep.axes()]:
        if key not in train_fields | {"protocol", SEED} | every_protocol_field:
            where = "base" if key in sweep.base else "grid"
            raise SpecError(f"{where}.{key}: unknown setting; {_allowed(train_fields | {'protocol', SEED}, 'settings')}"
                            f" and the protocols' settings ({', '.join(sorted(every_protocol_field))})")
    for method_name, table in sweep.method_axes().items():
        if method_name not in METHODS:
            raise SpecError(f"grid.{method_name}: unknown method; {_allowed(METHODS, 'methods')}")
        cls = METHODS[method_name]
        own = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
        for param in table:
            if param not in own:
                raise SpecError(f"grid.{method_name}.{param}: method {method_name!r} has no hyper-parameter {param!r}; "
                                f"its hyper-parameters: {', '.join(sorted(own)) or '(none)'}")
    tasks, resolved = [], {}
    for run in runs:
        settings = dict(run.settings)
        protocol = settings.pop("protocol", "incremental")
        if protocol not in PROTOCOLS:
            raise SpecError(f"protocol: unknown protocol {protocol!r}; {_allowed(PROTOCOLS, 'protocols')}")
        plan_cls = PROTOCOLS[protocol]
        plan_settings = {k: _typed(plan_cls, k, settings.pop(k)) for k in list(settings) if k not in train_fields}
        for key in plan_settings:
            if key not in protocol_fields[protocol]:
                raise SpecError(f"{key}: not a setting of protocol {protocol!r} (run {run.name}); its settings: "
                                f"{', '.join(sorted(protocol_fields[protocol])) or '(none)'}")
        config_fields = {k: _typed(TrainConfig, k, v) for k, v in settings.items()}
        try:
            config = TrainConfig(**config_fields, seeds=(run.seed,), out=str(Path(root) / run.name))
            plan = plan_cls(**plan_settings)
            method = make_method(config.method, **run.params)
        except (TypeError, ValueError) as err:
            raise SpecError(f"run {run.name}: {err}") from None
        key = (config.data, config.data_root, config.model, config.augment, config.channels_last, method.name)
        if key not in resolved:
            try:
                resolved[key] = resolve(plan.configure(config), method=method)
            except (SettingsError, FileNotFoundError, ValueError) as err:
                raise SpecError(f"run {run.name}: {err}") from None
        tasks.append(RunTask(root, run.name, dataclasses.asdict(config), protocol, plan_settings, config.method,
                             dict(run.params), _record(run), threads))
    return tasks


def _record(run: Run) -> dict[str, Any]:
    return json.loads(json.dumps({**run.key(), "varied": run.varied}, default=list))


def read_marker(folder: Path) -> Optional[dict[str, Any]]:
    """The run folder's ``sweep_run.json``, or None if it is missing or unreadable."""
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def is_done(task: RunTask) -> bool:
    """Whether the task's run folder holds its finished run (marked by an earlier sweep)."""
    marker = read_marker(task.folder)
    return marker is not None and marker.get("status") == "done" and marker.get("run") == task.record


def _corruption(folder: Path) -> Optional[str]:
    """Why the run folder cannot be resumed (a file that does not read back), or None if it can.

    The files are read the way a resume reads them (:func:`dashsim.runs.read_json`,
    :func:`dashsim.runs.load_checkpoint`: ``weights_only``, so nothing in a file runs).
    """
    config = folder / _runs.RunFolder.CONFIG
    checkpoint = folder / _runs.RunFolder.CHECKPOINT
    try:
        if config.exists():
            _runs.read_json(config, "")
        elif checkpoint.exists() or (folder / _runs.RunFolder.METRICS).exists():
            return f"{config.name} is missing"
        if checkpoint.exists():
            _runs.load_checkpoint(checkpoint)
    except RunFolderCorruptError as err:
        return _what(err)
    return None


def _what(err: RunFolderCorruptError) -> str:
    """The file and what is wrong with it, without the remedy (a sweep applies its own: set aside, redo)."""
    return str(err).splitlines()[0].split("; ")[0]


def _redo(task: RunTask, reason: str) -> str:
    """Set the corrupt run folder aside (:func:`_set_aside`), log it; the note for the run's result."""
    note = f"corrupt run folder ({reason}) moved to {_set_aside(task, reason)}; redone"
    _log.warning("run %s: %s", task.name, note)
    return note


def _set_aside(task: RunTask, reason: str) -> Path:
    """Move the run folder's files (not its lock) to ``<root>/.corrupt/<name>-<time>/``; the destination."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    dest = Path(task.root) / ".corrupt" / f"{task.name}-{stamp}"
    dest.mkdir(parents=True)
    for entry in task.folder.iterdir():
        if entry.name not in (SWEEP_LOCK, _runs.RunFolder.LOCK):
            shutil.move(str(entry), dest / entry.name)
    (dest / "reason.txt").write_text(reason + "\n")
    return dest


def _write_marker(task: RunTask, status: str, **extra: Any) -> None:
    payload = {"status": status, "run": task.record, "protocol": task.protocol, "method": task.method, **extra}
    _runs.atomic_write_bytes(task.folder / MARKER, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())


def _result(task: RunTask, status: str, started: float, **extra: Any) -> dict[str, Any]:
    return {"run": task.name, "status": status, "seconds": time.perf_counter() - started, "error": "",
            "note": "", **extra}


def run_task(task: RunTask) -> dict[str, Any]:
    """Run (or resume, or skip if finished) one run of a sweep; a top-level function for any executor.

    Returns
    -------
    dict with ``run`` (its folder name), ``status`` (``ran``: trained now, ``skipped``: finished
    before, ``failed``), ``seconds``, ``rows``, ``resumed`` (a checkpoint was continued), ``error``
    (the exception, for a failed run) and ``note`` (a corrupt folder set aside).
    """
    from ..cli import threads
    from ..nn.engine import PROTOCOLS, run
    from ..nn.methods import make_method
    from ..nn.train import TrainConfig

    started = time.perf_counter()
    task.folder.mkdir(parents=True, exist_ok=True)
    lock, waited = None, False
    while lock is None:  # another sweep is on this run: wait for it, then find it finished (or resume it)
        try:
            lock = _runs._lock(task.folder / SWEEP_LOCK)
        except _runs.RunFolderBusyError as err:
            if "in this process" in str(err):  # the lock is our own: waiting would never end
                raise
            if not waited:
                _log.info("run %s: another sweep holds it; waiting for that sweep to finish it", task.name)
                waited = True
            time.sleep(0.2)
    try:
        if is_done(task):
            return _result(task, "skipped", started, rows=0, resumed=False)
        note = ""
        reason = _corruption(task.folder)
        if reason is not None:
            note = _redo(task, reason)
        resumed = (task.folder / _runs.RunFolder.CHECKPOINT).exists()
        config = TrainConfig(**task.config)

        def train():
            return run(config, PROTOCOLS[task.protocol](**task.protocol_settings),
                       method=make_method(task.method, **task.params))

        try:
            with threads(task.threads):
                try:
                    rows = train()
                except RunFolderCorruptError as err:  # found only on resume (e.g. rows that disagree): redo once
                    note, resumed = _redo(task, _what(err)), False
                    rows = train()
        except Exception as err:  # a failing run is reported; the sweep goes on
            error = f"{type(err).__name__}: {err}"
            _write_marker(task, "failed", error=error, traceback=traceback.format_exc())
            return _result(task, "failed", started, rows=0, resumed=resumed, error=error, note=note)
        _write_marker(task, "done", rows=len(rows))
        return _result(task, "ran", started, rows=len(rows), resumed=resumed, note=note)
    finally:
        lock.close()


def run_sweep(sweep: Sweep, executor: Any = None, *, out: Optional[str] = None, threads: int = 1) -> pd.DataFrame:
    """Run every run of ``sweep`` not finished yet on ``executor``; one report row per run.

    All runs are checked first (:func:`prepare`): a bad setting raises before any folder exists.
    Finished runs (marked in their folders) are not sent to the executor at all.

    Parameters
    ----------
    sweep : the sweep.
    executor : anything with ``map(fn, items)`` (:func:`dashsim.sweep.make_executor`); default local.
    out : the sweep's folder (default ``sweep.out``).
    threads : torch CPU threads per run (1 makes CPU results independent of the machine; the
        ``cpus_per_run`` of a Ray or process executor should match it).

    Returns
    -------
    pandas.DataFrame with columns ``run, status, seconds, rows, resumed, error, note``; ``status``
    is ``ran``, ``skipped`` (finished before) or ``failed``.
    """
    from .executors import LocalExecutor

    tasks = prepare(sweep, out, threads=threads)
    root = Path(out or sweep.out)
    todo = [task for task in tasks if not is_done(task)]
    _log.info("sweep %s: %d run(s), %d finished before, %d to run", root, len(tasks), len(tasks) - len(todo), len(todo))
    root.mkdir(parents=True, exist_ok=True)
    _runs.atomic_write_bytes(root / "sweep.json", (json.dumps(sweep.to_dict(), indent=2, default=list) + "\n").encode())
    results = (executor or LocalExecutor()).map(run_task, todo)
    by_name = {result["run"]: result for result in results}
    report = [by_name.get(task.name) or {"run": task.name, "status": "skipped", "seconds": 0.0, "rows": 0,
                                         "resumed": False, "error": "", "note": ""} for task in tasks]
    frame = pd.DataFrame(report, columns=["run", "status", "seconds", "rows", "resumed", "error", "note"])
    for _, row in frame[frame["status"] == "failed"].iterrows():
        _log.warning("run %s failed: %s", row["run"], row["error"])
    return frame
