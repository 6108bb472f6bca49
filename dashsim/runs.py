"""One self-describing, resumable folder per run: config, metrics, environment, checkpoint.

Layout of a run folder::

    config.json        the full configuration (a mismatch with a re-run's config is an error)
    environment.json   versions, git commit, device, seeds, host, start time (and each resume)
    metrics.csv        one row per finished experiment, rewritten atomically after each
    checkpoint.pt      the state needed to continue (model, optimizer, RNG states, position),
                       written atomically after each experiment

Concurrency: an open :class:`RunFolder` holds an exclusive lock on ``<folder>/.lock`` (``flock``) for
the life of the run, so two processes never write one folder; the operating system releases it when
the holder exits or is killed. A second process gets :class:`RunFolderBusyError` at once.

Crash safety: every file is written to a temporary sibling, flushed with ``fsync`` and moved into
place with :func:`os.replace`, so a reader (or a resumed run) sees either the old or the new file,
never a torn one. The checkpoint also carries every metrics row written so far; a run killed
between writing the checkpoint and the CSV is repaired on resume by rewriting the CSV from it.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import io
import json
import logging
import os
import platform
import random
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .errors import ConfigMismatchError, RunFolderBusyError, RunFolderCorruptError

__all__ = ["RunFolder", "ConfigMismatchError", "RunFolderBusyError", "RunFolderCorruptError", "capture_rng_state",
           "restore_rng_state", "atomic_write_bytes", "clean_temporary_files"]

logger = logging.getLogger(__name__)


# The key of config.json naming the run folder format; the experiment engine writes format 2 (folders made
# before it, format 1, have no such key and are refused with a message saying so).
SCHEMA_KEY = "run_format"


def _lock(path: Path):
    """An open file on ``path`` holding an exclusive ``flock``; :class:`RunFolderBusyError` if another process holds it.

    The lock belongs to the open file, so it ends when the file is closed or its process dies (also
    on SIGKILL). The holder's pid is written into the file for the error message. Where ``fcntl``
    does not exist (Windows) no lock is taken.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        if holder == str(os.getpid()):
            raise RunFolderBusyError(f"run folder {path.parent} is already open in this process; close the other "
                                     "RunFolder (or leave its with block) first") from None
        raise RunFolderBusyError(f"run folder {path.parent} is in use by another process (pid {holder}); "
                                 "wait for it to finish, or use another output folder") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def atomic_write_bytes(path: str | Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` so that ``path`` is never seen half-written.

    Write a temporary sibling, ``fsync`` it, then :func:`os.replace` (atomic on POSIX and Windows
    within one file system), and ``fsync`` the directory so the rename itself survives a crash.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # some platforms cannot open directories; the rename is still atomic
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n").encode()


def _normalize(obj: Any) -> Any:
    """The value ``obj`` takes after a JSON round trip (tuples become lists, ...)."""
    return json.loads(json.dumps(obj, default=_json_default))


def _json_default(obj: Any) -> Any:
    """numpy scalars as Python numbers; anything else JSON cannot hold as its text."""
    return obj.item() if isinstance(obj, np.generic) else str(obj)


def _git_commit() -> dict[str, Any]:
    repo = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(dirty) if commit else None}


def capture_rng_state(generators: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every random number generator's state: Python, NumPy (global), torch CPU/CUDA, and ``generators``.

    Parameters
    ----------
    generators : dict of str to torch.Generator or numpy.random.Generator, optional
        Explicit generators owned by the caller (e.g. the one shuffling mini-batches).

    Returns
    -------
    dict
        A picklable state for :func:`restore_rng_state`.
    """
    import torch

    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "generators": {},
    }
    for name, gen in (generators or {}).items():
        if isinstance(gen, torch.Generator):
            state["generators"][name] = ("torch", gen.get_state())
        elif isinstance(gen, np.random.Generator):
            state["generators"][name] = ("numpy", gen.bit_generator.state)
        else:
            raise TypeError(f"generators[{name!r}] must be a torch.Generator or numpy.random.Generator, "
                            f"got {type(gen).__name__}")
    return state


def restore_rng_state(state: dict[str, Any], generators: dict[str, Any] | None = None) -> None:
    """Restore what :func:`capture_rng_state` captured, including the named ``generators`` in place."""
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("torch_cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])
    for name, gen in (generators or {}).items():
        if name not in state["generators"]:
            raise KeyError(f"checkpoint holds no state for generator {name!r}")
        kind, value = state["generators"][name]
        if kind == "torch":
            gen.set_state(value)
        else:
            gen.bit_generator.state = value


def read_json(path: Path, remedy: str) -> dict[str, Any]:
    """``path`` parsed as a JSON object, or :class:`RunFolderCorruptError` naming it and saying ``remedy``."""
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise RunFolderCorruptError(path, f"is not readable JSON ({type(err).__name__}: {err})", remedy) from None
    if not isinstance(value, dict):
        raise RunFolderCorruptError(path, f"must hold a JSON object, holds a {type(value).__name__}", remedy)
    return value


def _numpy_safe_globals() -> list[Any]:
    """The numpy pieces a checkpoint holds (the global RNG state's array, numpy scalars in rows)."""
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1
        from numpy.core import multiarray
    # The dtype classes (numpy.dtypes.UInt32DType, ...) a dtype's BUILD step names: numbers and bools only.
    kinds = {type(np.dtype(code)) for code in "?bhilqBHILQefdgFDG"}
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, *kinds]


CHECKPOINT_REMEDY = ("delete checkpoint.pt and metrics.csv from the folder to recompute the run from the start "
                      "(or use another output folder)")


def load_checkpoint(path: Path) -> dict[str, Any]:
    """``checkpoint.pt`` loaded with ``weights_only=True`` (tensors, containers, numpy arrays; no code) and checked."""
    import pickle

    import torch

    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError, AttributeError, KeyError,
            IndexError, TypeError, ImportError) as err:
        raise RunFolderCorruptError(path, f"is not a readable checkpoint ({type(err).__name__}: "
                                    f"{str(err).splitlines()[0] if str(err) else ''})", CHECKPOINT_REMEDY) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("state"), dict) \
            or not isinstance(payload.get("metrics_rows"), list) \
            or not all(isinstance(row, dict) for row in payload["metrics_rows"]):
        raise RunFolderCorruptError(path, "does not hold a dashsim checkpoint (a dict with 'state' and the list "
                                    "'metrics_rows')", CHECKPOINT_REMEDY)
    return payload


def clean_temporary_files(folder: str | Path) -> list[Path]:
    """Remove the temporary siblings (``.<name>.tmp<pid>``) that a killed writer left in ``folder``; return them.

    Call it only while holding the folder's lock: no live writer can then own such a file.
    """
    removed = []
    for tmp in Path(folder).glob(".*.tmp*"):
        if tmp.is_file():
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


class RunFolder:
    """A run's folder: create it for a new config, or reopen it for the same config to resume.

    Opening it takes the folder's lock (:class:`RunFolderBusyError` if another process holds it);
    :meth:`close`, the end of a ``with`` block or the end of the process releases it.

    Parameters
    ----------
    path : str or Path
        The folder (created if missing).
    config : dict
        The run's full configuration, JSON-serializable. If the folder already holds a
        ``config.json`` that differs, :class:`ConfigMismatchError` names the differing fields.
    added_defaults : dict, optional
        Settings that a later dashsim version added, with the defaults that keep the earlier
        behaviour: a folder whose ``config.json`` lacks such a key is taken to have that default, so
        upgrading dashsim does not invalidate finished runs. A dict value gives defaults one level
        down (settings added to a protocol's or a method's). Values in ``config`` that differ from
        the default still mismatch.
    volatile : iterable of str, optional
        Settings of how a run executes rather than what it computes (the device, ...): a folder
        holding another value for one of them is resumed, its ``config.json`` keeps the first
        value, and :attr:`changed` maps each such key to ``(folder's value, this run's value)``.
    """

    CONFIG = "config.json"
    METRICS = "metrics.csv"
    ENVIRONMENT = "environment.json"
    CHECKPOINT = "checkpoint.pt"
    LOCK = ".lock"

    def __init__(self, path: str | Path, config: dict[str, Any], *, added_defaults: dict[str, Any] | None = None,
                 volatile: Iterable[str] = ()):
        self.path = Path(path)
        self.config = _normalize(config)
        self.added_defaults = _normalize(added_defaults or {})
        self.volatile = tuple(volatile)
        self.changed: dict[str, tuple[Any, Any]] = {}
        if self.path.exists() and not self.path.is_dir():
            raise NotADirectoryError(f"run folder {self.path} is a file; pass a folder path")
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = _lock(self.path / self.LOCK)
        try:
            for tmp in clean_temporary_files(self.path):
                logger.info("removed %s, left by a writer that was killed", tmp)
            self._open_config()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the folder's lock (idempotent)."""
        lock, self._lock = getattr(self, "_lock", None), None
        if lock is not None:
            with contextlib.suppress(OSError):
                lock.close()

    def __enter__(self) -> "RunFolder":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def _open_config(self) -> None:
        config_path = self.path / self.CONFIG
        if config_path.exists():
            stored = read_json(config_path, "restore it (the same settings' config.json), or delete the folder to "
                                "recompute the run, or use another output folder")
            if stored.get(SCHEMA_KEY) != self.config.get(SCHEMA_KEY):
                raise ConfigMismatchError(
                    f"run folder {self.path} was written by another version of dashsim (run folder format "
                    f"{stored.get(SCHEMA_KEY, 1)}, this version writes {self.config.get(SCHEMA_KEY, 1)}); "
                    "its runs cannot "
                    "be resumed: delete the folder to recompute them, or use another output folder")
            stored = {**{k: v for k, v in self.added_defaults.items() if k in self.config}, **stored}
            for k, default in self.added_defaults.items():
                # One level down too: a setting added to a protocol or method (a dict of settings).
                ours = self.config.get(k)
                if isinstance(default, dict) and isinstance(stored.get(k), dict) and isinstance(ours, dict):
                    stored[k] = {**{n: v for n, v in default.items() if n in ours}, **stored[k]}
            for key in self.volatile:
                if key in stored and key in self.config and stored[key] != self.config[key]:
                    self.changed[key] = (stored[key], self.config[key])
                    stored[key] = self.config[key]
            if stored != self.config:
                keys = sorted(set(stored) | set(self.config))
                diff = [f"{k}: folder has {stored.get(k, '<missing>')!r}, "
                        f"this run has {self.config.get(k, '<missing>')!r}"
                        for k in keys if stored.get(k, "<missing>") != self.config.get(k, "<missing>")]
                raise ConfigMismatchError(f"run folder {self.path} holds a different configuration "
                                          f"({'; '.join(diff)}); "
                                          "use another output folder or the same settings to resume")
            self.is_new = False
        else:
            atomic_write_bytes(config_path, _json_bytes(self.config))
            self.is_new = True

    # --- environment -------------------------------------------------------------------------

    def write_environment(self, *, device: str, seeds: Iterable[int],
                          extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Record versions, git commit, device, seeds, host and time; a resume adds to ``resumes``."""
        import torch

        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        env_path = self.path / self.ENVIRONMENT
        if env_path.exists():
            env = read_json(env_path, "delete environment.json (only a record: the resume writes a new one)")
            threads = torch.get_num_threads()
            if env.get("torch_threads") not in (None, threads):
                logger.warning("%s: resuming with %d torch threads, the run started with %s; CPU results may then "
                               "differ in the last bits from an uninterrupted run (--threads %s restores them)",
                               self.path, threads, env["torch_threads"], env["torch_threads"])
            if not isinstance(env.get("resumes", []), list):
                raise RunFolderCorruptError(env_path, "'resumes' must be a list",
                                            "delete environment.json (only a record: the resume writes a new one)")
            env.setdefault("resumes", []).append({"time": now, "hostname": socket.gethostname(), "device": device,
                                                  "git": _git_commit(), "torch_threads": threads})
        else:
            env = {
                "start_time": now,
                "hostname": socket.gethostname(),
                "platform": platform.platform(),
                "python": sys.version.split()[0],
                "torch": torch.__version__,
                "numpy": np.__version__,
                "cuda": torch.version.cuda,
                "device": device,
                "device_name": (torch.cuda.get_device_name(0) if device.startswith("cuda") and torch.cuda.is_available()
                                else platform.processor() or platform.machine()),
                "torch_threads": torch.get_num_threads(),
                "seeds": list(seeds),
                "git": _git_commit(),
                "argv": sys.argv,
                "resumes": [],
            }
        env.update(extra or {})
        atomic_write_bytes(env_path, _json_bytes(env))
        return env

    # --- metrics -----------------------------------------------------------------------------

    @staticmethod
    def _csv_bytes(rows: list[dict[str, Any]]) -> bytes:
        if not rows:
            return b""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue().encode()

    def read_metrics_rows(self) -> list[dict[str, str]]:
        """The metrics rows on disk (values as strings, as CSV holds them)."""
        path = self.path / self.METRICS
        if not path.exists():
            return []
        with open(path, newline="") as f:
            return list(csv.DictReader(f))

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Atomically replace ``metrics.csv`` by ``rows`` (all rows so far, one per experiment)."""
        if rows and any(list(r) != list(rows[0]) for r in rows):
            raise ValueError("every metrics row must have the same fields in the same order")
        atomic_write_bytes(self.path / self.METRICS, self._csv_bytes(rows))

    def read_metrics(self):
        """``metrics.csv`` as a pandas DataFrame (empty if no experiment has finished)."""
        import pandas as pd

        path = self.path / self.METRICS
        if not path.exists() or path.stat().st_size == 0:
            return pd.DataFrame()
        return pd.read_csv(path)

    # --- checkpoint --------------------------------------------------------------------------

    def save_checkpoint(self, state: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        """Atomically write ``checkpoint.pt`` (``state`` plus all metrics ``rows``), then ``metrics.csv``.

        The checkpoint goes first: if the process dies before the CSV is written, :meth:`resume_state`
        restores the CSV from the rows the checkpoint carries.
        """
        import torch

        buf = io.BytesIO()
        torch.save({"state": state, "metrics_rows": rows}, buf)
        atomic_write_bytes(self.path / self.CHECKPOINT, buf.getvalue())
        self.write_metrics(rows)

    def resume_state(self) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """The last checkpoint's ``(state, metrics rows)``, or None for a run that has not finished an experiment.

        Repairs ``metrics.csv`` to match the checkpoint byte for byte (rows written by the CSV but not
        yet in a checkpoint cannot happen, since the checkpoint is written first), so an edited or torn
        value is rewritten (with a warning). The checkpoint is loaded with ``weights_only=True``:
        tensors, containers and numpy arrays only, no code.

        Raises
        ------
        RunFolderCorruptError if ``checkpoint.pt`` is unreadable or not a dashsim checkpoint.
        """
        path = self.path / self.CHECKPOINT
        if not path.exists():
            return None
        payload = load_checkpoint(path)
        rows = payload["metrics_rows"]
        expected = self._csv_bytes(rows)
        metrics = self.path / self.METRICS
        try:
            on_disk = metrics.read_bytes()
        except FileNotFoundError:
            on_disk = None
        if on_disk != expected:
            if on_disk is not None and rows:
                logger.warning("%s differs from the %d rows the checkpoint holds (edited or torn); rewritten from "
                               "the checkpoint", metrics, len(rows))
            self.write_metrics(rows)
        return payload["state"], rows
