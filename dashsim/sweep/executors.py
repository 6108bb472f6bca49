"""Executors: one ``map(fn, items)`` over this process, local worker processes, or a Ray cluster.

Every executor has the interface of :meth:`concurrent.futures.Executor.map` that dashsim needs:
``executor.map(fn, items)`` calls ``fn(item)`` for every item and returns the results as a list,
in the order of ``items``, whatever order they finished in; an exception raised by ``fn``
propagates. ``fn`` must be a top-level function of an importable module (it is pickled by
reference) and ``items`` picklable. The simulator's theorem checks, its sweeps and the training
sweeps all split their work this way, so any of them runs on any executor with the same results.

A worker that dies (killed, out of memory, a lost node) is not an error of ``fn``: its items are
run again, up to ``retries`` times each. Functions that write resumable state (the training runs'
folders) then continue from their last checkpoint.

Nothing here imports torch: ``dashsim.sim`` uses it too.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import socket
import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

__all__ = ["LocalExecutor", "ProcessExecutor", "RayExecutor", "make_executor", "EXECUTORS", "WorkerLostError"]

_log = logging.getLogger(__name__)

EXECUTORS = ("local", "processes", "ray")
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


class WorkerLostError(RuntimeError):
    """Items whose workers died more often than the executor's ``retries`` allow."""


def _check_count(name: str, value: Any, low: float, *, integer: bool) -> None:
    ok = not isinstance(value, bool) and (isinstance(value, int) if integer else isinstance(value, (int, float)))
    if not ok or value < low:
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {kind} >= {low:g}, got {value!r}")


class LocalExecutor:
    """``map`` in this process, one item after another: the default, and the reference the others match."""

    name = "local"

    def __init__(self) -> None:
        self.workers = 1

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """``[fn(item) for item in items]``."""
        return [fn(item) for item in items]

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _init_worker(threads: int) -> None:
    # Each worker gets its share of the cores; BLAS or OpenMP pools on top of the workers only
    # fight over them (effective for libraries the worker has not loaded yet: all of them under spawn).
    for var in _THREAD_VARS:
        os.environ[var] = str(threads)


class ProcessExecutor:
    """``map`` over ``workers`` local worker processes (:class:`concurrent.futures.ProcessPoolExecutor`).

    If a worker dies, the pool breaks and every unfinished item fails with it; the pool is then
    rebuilt and those items submitted again (each at most ``retries`` more times, then
    :class:`WorkerLostError`). Workers start with ``fork`` when torch is not loaded in this
    process when the workers start (fast, and they inherit numba's compiled kernels), else with
    ``spawn`` (forking a process whose torch thread pools exist can hang the child). The workers
    start at the first :meth:`map` and serve every later one until :meth:`close`.

    Parameters
    ----------
    workers : number of worker processes (>= 1).
    cpus_per_run : CPU threads each worker's BLAS/OpenMP may use (>= 1).
    retries : times an item is resubmitted after its worker died.
    start_method : ``"fork"``, ``"spawn"``, ``"forkserver"``, or None (chosen as above).
    """

    name = "processes"

    def __init__(self, workers: int, *, cpus_per_run: int = 1, retries: int = 3, start_method: Optional[str] = None):
        _check_count("workers", workers, 1, integer=True)
        _check_count("cpus_per_run", cpus_per_run, 1, integer=True)
        _check_count("retries", retries, 0, integer=True)
        self.workers, self.cpus_per_run, self.retries = workers, cpus_per_run, retries
        self.start_method = start_method
        self._pool: Optional[concurrent.futures.ProcessPoolExecutor] = None

    def _get_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            # Chosen when the workers start (not when the executor is made): torch may have loaded since.
            method = self.start_method or ("spawn" if "torch" in sys.modules or sys.platform != "linux" else "fork")
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context(method),
                initializer=_init_worker, initargs=(self.cpus_per_run,))
        return self._pool

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """``[fn(item) for item in items]`` computed by the workers; items of dead workers are retried."""
        items = list(items)
        results: list[Any] = [None] * len(items)
        attempts = [0] * len(items)
        pending = set(range(len(items)))
        while pending:
            pool = self._get_pool()
            futures = {pool.submit(fn, items[i]): i for i in sorted(pending)}
            try:
                for future in concurrent.futures.as_completed(futures):
                    index = futures[future]
                    results[index] = future.result()
                    pending.discard(index)
            except BrokenProcessPool:
                self._pool = None
                pool.shutdown(wait=True, cancel_futures=True)
                for future, index in futures.items():  # results that finished before the break are kept
                    if index in pending and future.done() and not future.cancelled() and future.exception() is None:
                        results[index] = future.result()
                        pending.discard(index)
                # The pool runs items in submission order, so the dead worker ran one of the first `workers`
                # unfinished ones: only those are charged an attempt (queued items never started).
                for index in sorted(pending)[:self.workers]:
                    attempts[index] += 1
                lost = [i for i in sorted(pending) if attempts[i] > self.retries]
                if lost:
                    raise WorkerLostError(f"{len(lost)} item(s) lost their worker process more than retries="
                                          f"{self.retries} times (first: item {lost[0]})") from None
                _log.warning("a worker process died; restarting the pool and resubmitting %d unfinished item(s)",
                             len(pending))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return results

    def close(self) -> None:
        """Stop the worker processes."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def check_address(address: str, timeout: float = 5.0) -> None:
    """Raise ConnectionError unless ``address`` (``host:port`` or ``ray://host:port``) accepts a TCP connection.

    ``"auto"`` (the cluster this node belongs to, found by Ray itself) is not checked here.
    """
    if address == "auto":
        return
    rest = address.split("://", 1)[-1]
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"address must be 'auto', 'HOST:PORT' or 'ray://HOST:PORT', got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as err:
        raise ConnectionError(f"cannot reach the Ray cluster at address {address!r} ({err}); start it with "
                              "'ray start --head' on the head node, or check the address and port") from None


def _apply(fn: Callable[[Any], Any], item: Any) -> Any:
    """``fn(item)``: the body of every Ray task (a plain function, which ``ray.remote`` requires)."""
    return fn(item)


class RayExecutor:
    """``map`` as Ray tasks: on a local Ray instance, or on the running cluster at ``address``.

    Each item is one task asking for ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs (fractions
    share a GPU: 0.25 runs four at once on each); Ray places them on any node with those resources
    free, and runs a task again (up to ``retries`` times) if its worker or node dies. An exception
    raised by ``fn`` is not retried: it propagates as itself.

    Parameters
    ----------
    workers : CPUs of the local Ray instance started here (default: all of this machine's); ignored
        when joining a cluster (its resources decide).
    address : a running cluster (``"auto"``, ``"HOST:PORT"``, ``"ray://HOST:PORT"``) or None for a local instance.
    cpus_per_run, gpus_per_run : each task's resource request.
    retries : times a task is rerun after its worker died.

    If Ray is already initialized in this process (e.g. by the caller's ``ray.init``), that instance
    is used and left running on :meth:`close`; an instance started here is shut down there.
    """

    name = "ray"

    def __init__(self, workers: Optional[int] = None, *, address: Optional[str] = None, cpus_per_run: float = 1,
                 gpus_per_run: float = 0, retries: int = 3):
        if workers is not None:
            _check_count("workers", workers, 1, integer=True)
        _check_count("cpus_per_run", cpus_per_run, 0, integer=False)
        _check_count("gpus_per_run", gpus_per_run, 0, integer=False)
        _check_count("retries", retries, 0, integer=True)
        try:
            import ray
        except ImportError:
            raise ImportError("the ray executor needs Ray: pip install 'ray>=2.9' (or dashsim's [ray] extra)") from None
        if address is not None and not ray.is_initialized():
            check_address(address)
        self.workers, self.address = workers, address
        self.cpus_per_run, self.gpus_per_run, self.retries = cpus_per_run, gpus_per_run, retries
        self._owns = False
        if not ray.is_initialized():
            # Workers import the caller's dashsim (a checkout on PYTHONPATH, not only an installed copy).
            here = str(Path(__file__).resolve().parents[2])
            path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
            kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                                      "runtime_env": {"env_vars": {"PYTHONPATH": path}}}
            if address is None:
                kwargs["num_cpus"] = workers if workers is not None else os.cpu_count()
            self._start(ray, address, kwargs)
            self._owns = True
        resources = ray.cluster_resources()
        if cpus_per_run > resources.get("CPU", 0) or gpus_per_run > resources.get("GPU", 0):
            self.close()
            raise ValueError(f"each run asks for {cpus_per_run} CPU(s) and {gpus_per_run} GPU(s), but the Ray "
                             f"cluster has {resources.get('CPU', 0):g} CPU(s) and {resources.get('GPU', 0):g} "
                             "GPU(s) in all: lower cpus_per_run/gpus_per_run (--cpus-per-run, --gpus-per-run)")

    @staticmethod
    def _start(ray: Any, address: Optional[str], kwargs: dict[str, Any], attempts: int = 3) -> None:
        """``ray.init``; a local instance is tried ``attempts`` times.

        On a loaded machine Ray's node manager can give up waiting for its agent processes
        (ray-project/ray#65983: a fixed 15 s limit); a second start usually succeeds.
        """
        for attempt in range(1, attempts + 1):
            try:
                ray.init(address=address, **kwargs)
                return
            except ConnectionError:
                raise
            except Exception as err:  # Ray raises a bare Exception when its node times out
                if address is not None or attempt == attempts:
                    raise RuntimeError(f"Ray did not start ({attempt} attempt(s)): {err}") from err
                _log.warning("Ray did not start (%s); trying again", err)
                ray.shutdown()

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """``[fn(item) for item in items]`` as Ray tasks, in the order of ``items``."""
        import ray

        # One remote wrapper for any callable (ray.remote takes only Python functions and classes, not
        # builtins or functools.partial objects); fn travels once, as an object reference.
        task = ray.remote(num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run, max_retries=self.retries,
                          retry_exceptions=False)(_apply)
        fn_ref = ray.put(fn)
        refs = [task.remote(fn_ref, item) for item in items]
        try:
            return ray.get(refs)
        except ray.exceptions.RayTaskError as err:
            for ref in refs:
                ray.cancel(ref)
            raise err.as_instanceof_cause() from None
        except ray.exceptions.RayError as err:  # a worker or node lost, out of memory, an object lost, ...
            for ref in refs:
                ray.cancel(ref)
            raise WorkerLostError(f"a Ray task failed more than retries={self.retries} times without an error of "
                                  f"its own ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
                                  ) from None

    def close(self) -> None:
        """Shut Ray down if this executor started it."""
        if self._owns:
            import ray

            ray.shutdown()
            self._owns = False

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def make_executor(name: str = "local", workers: Optional[int] = None, address: Optional[str] = None,
                  cpus_per_run: float = 1, gpus_per_run: float = 0):
    """The executor ``name`` (one of :data:`EXECUTORS`), checked before any work starts.

    Parameters
    ----------
    name : ``"local"`` (this process), ``"processes"`` (``workers`` local processes) or ``"ray"``.
    workers : worker processes (``processes``: default 2 or the core count, whichever is smaller)
        or the CPUs of a local Ray instance (``ray``: default all); ``local`` takes none or 1.
    address : ``ray`` only: a running cluster's address (``"auto"``, ``"HOST:PORT"``, ``"ray://HOST:PORT"``).
    cpus_per_run : CPU threads of each item (``processes``: an integer; ``ray``: its CPU request).
    gpus_per_run : ``ray`` only: each item's GPU request; a fraction shares a GPU between items.

    Returns
    -------
    An object with ``map(fn, items) -> list`` (ordered results) and ``close()``; also a context manager.

    Raises
    ------
    ValueError naming the argument for an unknown executor, ``workers`` < 1, negative resources, or
    an option the executor does not take; ConnectionError for an unreachable ``address``;
    ImportError if ``ray`` is asked for and not installed.
    """
    if name not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {name!r}")
    if workers is not None:
        _check_count("workers", workers, 1, integer=True)
    if address is not None and name != "ray":
        raise ValueError(f"address (a Ray cluster) needs the ray executor, not {name!r}")
    if gpus_per_run and name != "ray":
        raise ValueError(f"gpus_per_run needs the ray executor (which shares GPUs between runs), not {name!r}; "
                         "the local and processes executors use the device each run's settings name")
    _check_count("cpus_per_run", cpus_per_run, 1 if name != "ray" else 0, integer=name != "ray")
    _check_count("gpus_per_run", gpus_per_run, 0, integer=False)
    if name == "local":
        if workers not in (None, 1):
            raise ValueError(f"workers must be 1 (or not given) for the local executor, got {workers}; use "
                             "executor 'processes' or 'ray' for more")
        return LocalExecutor()
    if name == "processes":
        return ProcessExecutor(workers if workers is not None else min(2, os.cpu_count() or 1),
                               cpus_per_run=int(cpus_per_run))
    return RayExecutor(workers, address=address, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run)
