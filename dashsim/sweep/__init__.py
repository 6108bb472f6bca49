"""Sweeps: many runs (seeds x methods x hyper-parameters x settings) on one machine, its cores, or a Ray cluster.

The core (specs, executors, collecting) imports no torch, so the simulator uses it too::

    from dashsim.sweep import Sweep, make_executor, run_sweep, collect, summarize

    sweep = Sweep(base={"data": "digits", "model": "mlp", "width": 32, "J": 3, "max_epochs": 4},
                  grid={"method": ["cold", "warm", "dash"], "seed": [0, 1], "dash": {"lam": [0.1, 0.3]}},
                  out="runs/lam")
    with make_executor("processes", workers=2) as executor:
        report = run_sweep(sweep, executor)          # one row per run: ran / skipped / failed
    table = collect("runs/lam")                      # one row per (run, round)
    summarize(table)                                 # mean and std over seeds per grid point

``make_executor(name).map(fn, items)`` runs any top-level function over items in order, on
``local``, ``processes`` or ``ray``; :func:`run_sweep` (and :func:`prepare`) load torch on first use.
See docs/sweeps.md.
"""

from __future__ import annotations

from typing import Any

from .collect import TIMING_COLUMNS, collect, list_runs, run_folders, summarize
from .executors import (EXECUTORS, LocalExecutor, ProcessExecutor, RayExecutor, WorkerLostError, check_address,
                        make_executor)
from .spec import Run, SpecError, Sweep, load_spec

__all__ = ["Sweep", "Run", "SpecError", "load_spec", "make_executor", "EXECUTORS", "LocalExecutor", "ProcessExecutor",
           "RayExecutor", "WorkerLostError", "check_address", "collect", "summarize", "list_runs", "run_folders",
           "TIMING_COLUMNS", "run_sweep", "prepare"]

_TRAINING = ("run_sweep", "prepare")


def __getattr__(name: str) -> Any:
    # The training runner imports torch: only when a training sweep is asked for.
    if name in _TRAINING:
        from . import training

        return getattr(training, name)
    raise AttributeError(f"module 'dashsim.sweep' has no attribute {name!r}")
