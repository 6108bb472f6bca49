"""The paper's synthetic setting as a config, run over seeds, cached on disk, and summarized.

A :class:`PaperSetting` holds every number of the paper's Figure 3 setting; sweeps (Figures 9-11)
are ``dataclasses.replace(PaperSetting(), C=5)`` and so on. :func:`run_setting` samples the data
of each seed, runs :func:`dashsim.simulate` and measures test accuracy, giving one tidy row per
(seed, method, experiment); :func:`summarize` reduces the seeds to mean and std.

Caching: with ``cache_dir`` set, each setting gets a run folder ``cache_dir/<key>/`` holding
``config.json`` (the setting without its seeds, the methods, the versions) and one
``seed_<s>.csv`` per finished seed. The key ignores ``seeds``, so an interrupted sweep resumes
at the first missing seed and a later run with more seeds reuses the ones already done.
The key holds ``dashsim.__version__`` but not the code itself: after editing the simulator, delete
the cache folder.

References
----------
Shin, Oh, Cho, Yun, "DASH: Warm-Starting Neural Network Training in Stationary Settings without
Loss of Plasticity", NeurIPS 2024, Section 3.3 and Figure 3 (setting), Appendix E (Figures 9-11).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .._progress import progress_bar
from .._validate import check_memory
from ..errors import CorruptFileError
from .._version import __version__
from ..stats import seed_stats
from .accuracy import accuracy_bernoulli, accuracy_on
from .simulator import simulate
from .synthetic import legacy_test_set, sample_paper_data, sample_test_set

__all__ = ["PaperSetting", "run_setting", "run_sweep", "summarize", "run_key", "environment", "COLUMNS", "QUANTITIES"]

_log = logging.getLogger(__name__)

ACCURACY_MODES = ("exact", "test_set")

# Per-seed metrics, in the order they appear in the tidy frame after the id columns.
QUANTITIES = ("test_accuracy", "n_learned", "n_nonzero", "n_memorized")
COLUMNS = ("seed", "method", "experiment") + QUANTITIES


def _field(default: Any, help: str, **metadata: Any) -> Any:
    # The help text becomes the command-line flag's help (dashsim._config).
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


@dataclasses.dataclass(frozen=True)
class PaperSetting:
    """The synthetic setting of the paper's Figure 3; every field is a command-line flag.

    References
    ----------
    Shin et al., NeurIPS 2024, Section 3.3 (Figure 3) and Appendix E.
    """

    C: int = _field(2, "number of classes")  # C
    K: int = _field(50, "features per class")  # K
    n_per_chunk: int = _field(1000, "points arriving per experiment, split evenly over classes")  # n
    J: int = _field(50, "number of experiments")  # J; experiment j trains on chunks 1..j
    gamma: float = _field(50.0, "learning threshold in points")  # gamma: learn a feature held by >= gamma points of N
    tau: int = _field(3, "own-class learned features that make a point well-classified")  # tau
    seeds: tuple[int, ...] = _field(tuple(range(10)), "data seeds")  # the paper averages 10 seeds
    legacy: bool = _field(True, "reproduce the authors' NumPy data stream")  # so our curves lie over theirs
    n_test: int = _field(10000, "test points, used by accuracy=test_set only")  # the paper's 10,000
    accuracy: str = _field("exact", "test accuracy: exact Poisson-binomial tail, or a sampled test set",
                           choices=ACCURACY_MODES)  # "exact" has no sampling noise

    def __post_init__(self) -> None:
        def need(ok: bool, field: str, allowed: str) -> None:
            if not ok:
                raise ValueError(f"PaperSetting.{field} = {getattr(self, field)!r}: must be {allowed}")

        for name in ("C", "K", "n_per_chunk", "J", "tau", "n_test"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"PaperSetting.{name} = {value!r}: must be an int")
        need(self.C >= 1, "C", "an int >= 1")
        need(self.K >= 1, "K", "an int >= 1")
        need(self.n_per_chunk >= self.C and self.n_per_chunk % self.C == 0, "n_per_chunk",
             f"a positive multiple of C = {self.C} (each chunk holds n_per_chunk / C points per class)")
        need(self.J >= 1, "J", "an int >= 1")
        need(isinstance(self.gamma, (int, float, np.number)) and not isinstance(self.gamma, bool)
             and np.isfinite(self.gamma) and self.gamma > 0, "gamma", "a finite number > 0")
        need(1 <= self.tau <= self.K, "tau", f"an int in [1, K = {self.K}]")
        need(self.n_test >= 1, "n_test", "an int >= 1")
        need(isinstance(self.legacy, (bool, np.bool_)), "legacy", "True or False")
        need(isinstance(self.seeds, tuple) and len(self.seeds) >= 1, "seeds", "a non-empty tuple of ints")
        need(all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and 0 <= s < 2**32 for s in self.seeds),
             "seeds", "ints in [0, 2**32)")
        need(len(set(self.seeds)) == len(self.seeds), "seeds", "distinct ints")
        need(self.accuracy in ACCURACY_MODES, "accuracy", f"one of {ACCURACY_MODES}")
        # Each seed holds n_per_chunk * J points x K features (bool, plus the legacy stream's float draws)
        # and the results of three methods (5 bytes per experiment, class and feature).
        points = self.n_per_chunk * self.J
        check_memory("PaperSetting n_per_chunk x J x K", points * self.K * 9 + 3 * self.J * self.C * self.K * 5
                     + (self.n_test * self.K * 9 if self.accuracy == "test_set" else 0),
                     f"{points} points x K={self.K} features")


def _method_name(method: Any) -> str:
    # The label dashsim.simulate gives the method in its results.
    return method if isinstance(method, str) else str(getattr(method, "name", type(method).__name__))


def _method_key(method: Any) -> str:
    if isinstance(method, str):
        return method
    # A dataclass rule's repr lists every parameter (e.g. ShrinkPerturbRule's probabilities and
    # seed), so two differently parametrized rules never share a cache folder.
    if dataclasses.is_dataclass(method):
        return repr(method)
    raise TypeError(
        f"methods: cannot cache rule object {method!r}: only names and dataclass rules have a stable key "
        "(make the rule a frozen dataclass, or pass cache_dir=None)"
    )


def _setting_dict(setting: PaperSetting) -> dict[str, Any]:
    out = dataclasses.asdict(setting)
    out["seeds"] = [int(s) for s in out["seeds"]]
    out["gamma"] = float(out["gamma"])  # 50 and 50.0 are one setting, one cache key
    return out


def run_key(setting: PaperSetting, methods: Sequence[Any] = ("cold", "warm", "ideal")) -> str:
    """The cache key of a setting: a hash of every field except ``seeds``, the methods and the version.

    Seeds are left out because each seed's results are independent of the others: runs that differ
    only in their seeds share one run folder, one CSV per seed.
    """
    keyed = {k: v for k, v in _setting_dict(setting).items() if k != "seeds"}
    keyed["methods"] = [_method_key(m) for m in methods]
    keyed["dashsim_version"] = __version__
    text = json.dumps(keyed, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def environment() -> dict[str, Any]:
    """Versions, git commit and machine, written next to results so a run describes itself."""
    import numba
    import scipy

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=5
        ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "dashsim": __version__,
        "git_commit": commit,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "pandas": pd.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "device": "cpu",
    }


def _run_seed(setting: PaperSetting, seed: int, methods: Sequence[Any]) -> pd.DataFrame:
    """The tidy rows (method, experiment, quantities) of one seed."""
    data = sample_paper_data(setting.C, setting.K, setting.n_per_chunk, setting.J, seed=int(seed),
                             legacy=setting.legacy)
    result = simulate(
        data.features, data.labels, data.chunk, gamma=setting.gamma, tau=setting.tau, methods=tuple(methods),
        num_classes=setting.C,
    )
    if setting.accuracy == "exact":
        acc = accuracy_bernoulli(result.learned, data.probs, setting.tau)
    else:
        if setting.legacy:
            test_x, test_y = legacy_test_set(setting.C, setting.K, setting.n_test)
        else:
            # A stream of its own, so the test points are never a copy of the first training points.
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1]))
            test_x, test_y = sample_test_set(data.probs, setting.n_test, seed=rng)
        acc = accuracy_on(result.learned, test_x, test_y, setting.tau)
    n_methods, J = result.n_nonzero.shape
    return pd.DataFrame(
        {
            "seed": np.full(n_methods * J, int(seed), dtype=np.int64),
            "method": np.repeat(np.asarray(result.methods, dtype=object), J),
            "experiment": np.tile(np.arange(1, J + 1, dtype=np.int64), n_methods),
            "test_accuracy": np.asarray(acc, dtype=np.float64).reshape(-1),
            "n_learned": np.asarray(result.n_learned, dtype=np.int64).reshape(-1),
            "n_nonzero": np.asarray(result.n_nonzero, dtype=np.int64).reshape(-1),
            "n_memorized": np.asarray(result.n_memorized, dtype=np.int64).reshape(-1),
        },
        columns=list(COLUMNS),
    )


def _write_atomic(path: Path, write) -> None:
    # Write beside the target and rename, so an interrupted sweep never leaves a half-written CSV
    # that a resumed run would trust.
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def _digest_path(seed_path: Path) -> Path:
    return seed_path.with_name(seed_path.name + ".sha256")


def _seed_frame_problem(frame: pd.DataFrame, seed: int, names: list[str], J: int) -> str:
    """What is wrong with a cached seed's rows (empty if they are what :func:`_run_seed` writes)."""
    if list(frame.columns) != list(COLUMNS):
        return f"columns {list(frame.columns)}, expected {list(COLUMNS)}"
    if len(frame) != len(names) * J:
        return f"{len(frame)} rows, expected {len(names)} methods x J={J}"
    for column in ("seed", "experiment", "n_learned", "n_nonzero", "n_memorized"):
        if not pd.api.types.is_integer_dtype(frame[column]) or (frame[column] < 0).any():
            return f"column {column} must hold integers >= 0"
    acc = frame["test_accuracy"]
    if not pd.api.types.is_float_dtype(acc) or not (acc.between(0.0, 1.0)).all():
        return "test_accuracy must hold numbers in [0, 1]"
    if (frame["seed"] != seed).any():
        return f"rows of another seed than {seed}"
    if frame["method"].tolist() != [m for m in names for _ in range(J)] \
            or frame["experiment"].tolist() != list(range(1, J + 1)) * len(names):
        return f"methods/experiments other than {names} x 1..{J}"
    return ""


def _cached_seed(path: Path, seed: int, names: list[str], J: int) -> pd.DataFrame | None:
    """The cached rows of one seed, or None (to recompute it) if missing or not exactly what was written.

    A corrupt file (truncated, edited, wrong columns or values; content that differs from the
    ``.sha256`` digest written beside it) is logged as a warning and recomputed, never returned.
    """
    if not path.exists():
        return None
    try:
        raw = path.read_bytes()
        digest = _digest_path(path)
        if digest.exists() and digest.read_text().strip() != hashlib.sha256(raw).hexdigest():
            problem = "its content differs from the digest written with it (edited or torn)"
        else:
            frame = pd.read_csv(io.BytesIO(raw))
            problem = _seed_frame_problem(frame, seed, names, J)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        problem = f"unreadable ({type(err).__name__})"
    if problem:
        _log.warning("%s is corrupt (%s): recomputing seed %d", path, problem, seed)
        return None
    return frame


def _prepare_run_dir(run_dir: Path, setting: PaperSetting, methods: Sequence[Any]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {k: v for k, v in _setting_dict(setting).items() if k != "seeds"}
    config["methods"] = [_method_key(m) for m in methods]
    config_path = run_dir / "config.json"
    if config_path.exists():
        try:
            stored = json.loads(config_path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise CorruptFileError(config_path, f"is not readable JSON ({type(err).__name__})",
                                   f"delete the folder {run_dir} to recompute its seeds") from None
        if not isinstance(stored, dict) or stored.get("setting") != config:
            raise ValueError(f"cache folder {run_dir} holds a different setting: "
                             f"{stored.get('setting') if isinstance(stored, dict) else stored} != {config}")
        return
    payload = {"setting": config, "environment": environment()}
    _write_atomic(config_path, lambda p: p.write_text(json.dumps(payload, indent=2) + "\n"))


def run_setting(
    setting: PaperSetting,
    *,
    methods: Sequence[Any] = ("cold", "warm", "ideal"),
    progress: bool = True,
    cache_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Simulate every seed of ``setting``: one tidy row per (seed, method, experiment).

    For each seed s: data ``sample_paper_data(C, K, n_per_chunk, J, seed=s, legacy=legacy)``, then
    ``simulate(..., gamma, tau, methods)``, then test accuracy of every L^(j)
    (``accuracy_bernoulli`` with the data's probabilities, or ``accuracy_on`` a sampled test set).

    Parameters
    ----------
    setting : PaperSetting
        C, K, n_per_chunk, J, gamma, tau, seeds, legacy, n_test, accuracy.
    methods : sequence of str or rule objects
        Passed to :func:`dashsim.simulate`; the ``method`` column holds each rule's ``name``. With a
        cache, rule objects must be dataclasses (their repr is the key).
    progress : bool
        Show progress over seeds (dashsim._progress: a bar, or plain lines in logs).
    cache_dir : path or None
        Root of the on-disk cache (see the module docstring); None computes everything afresh.

    Returns
    -------
    pandas.DataFrame
        Columns ``seed, method, experiment (1..J), test_accuracy, n_learned, n_nonzero
        (|N^(j,0)|), n_memorized (|M^(j)|)``, seeds in the order of ``setting.seeds``.

    References
    ----------
    Shin et al., NeurIPS 2024, Section 3.3, Figure 3.
    """
    if not isinstance(setting, PaperSetting):
        raise TypeError(f"setting: expected a PaperSetting, got {type(setting).__name__}")
    methods = tuple(methods)
    if not methods:
        raise ValueError("methods: must name at least one method")
    names = [_method_name(m) for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"methods: names must be distinct, got {names}")
    run_dir = None
    if cache_dir is not None:
        run_dir = Path(cache_dir) / run_key(setting, methods)
        _prepare_run_dir(run_dir, setting, methods)
    if run_dir is not None:
        done = [int(s) for s in setting.seeds if (run_dir / f"seed_{int(s)}.csv").exists()]  # checked when read
        if 0 < len(done) < len(setting.seeds):
            _log.info("resuming %s: seeds %s done, %d to run", run_dir, done, len(setting.seeds) - len(done))
    frames = []
    for seed in progress_bar(setting.seeds, desc="seeds", unit="seed", disable=not progress, leave=False):
        seed_path = None if run_dir is None else run_dir / f"seed_{int(seed)}.csv"
        cached = None if seed_path is None else _cached_seed(seed_path, int(seed), names, setting.J)
        if cached is not None:
            _log.debug("seed %d: cached in %s", seed, seed_path)
            frames.append(cached)
            continue
        frame = _run_seed(setting, seed, methods)
        if seed_path is not None:
            payload = frame.to_csv(index=False, float_format="%.17g").encode()
            _write_atomic(seed_path, lambda p: p.write_bytes(payload))
            digest = hashlib.sha256(payload).hexdigest()
            _write_atomic(_digest_path(seed_path), lambda p: p.write_text(digest + "\n"))
        frames.append(frame)
    df = pd.concat(frames, ignore_index=True)
    return df.astype({"seed": np.int64, "experiment": np.int64, "n_learned": np.int64, "n_nonzero": np.int64,
                      "n_memorized": np.int64, "test_accuracy": np.float64})


def run_sweep(
    base: PaperSetting,
    param: str,
    values: Sequence[Any],
    *,
    methods: Sequence[Any] = ("cold", "warm", "ideal"),
    progress: bool = True,
    cache_dir: str | os.PathLike | None = None,
    executor: Any = None,
) -> pd.DataFrame:
    """:func:`run_setting` for ``dataclasses.replace(base, **{param: v})`` for each v in ``values``.

    Parameters
    ----------
    base : PaperSetting
        The fixed fields.
    param : str
        A field of :class:`PaperSetting` other than ``seeds`` (e.g. ``"C"``, ``"gamma"``, ``"tau"``).
    values : sequence
        The swept values, in plotting order.
    methods, progress, cache_dir
        As in :func:`run_setting` (each value has its own cache folder).
    executor : object with ``map(fn, items)``, optional
        Runs the values in parallel (:func:`dashsim.sweep.make_executor`: processes or a Ray
        cluster; methods must then be picklable); the rows do not depend on it. Default: one
        value after another here.

    Returns
    -------
    pandas.DataFrame
        The tidy rows of every value with a first column ``param`` holding the value.

    References
    ----------
    Shin et al., NeurIPS 2024, Appendix E (Figures 9-11 sweep C, gamma and tau).
    """
    names = [f.name for f in dataclasses.fields(PaperSetting) if f.name != "seeds"]
    if param not in names:
        raise ValueError(f"param: {param!r} is not a sweepable PaperSetting field; allowed: {names}")
    values = list(values)
    if not values or len(set(values)) != len(values):
        raise ValueError(f"values: must be a non-empty list of distinct values, got {values}")
    tasks = [(dataclasses.replace(base, **{param: value}), tuple(methods), cache_dir) for value in values]
    if executor is not None:
        frames = list(executor.map(_run_setting_task, tasks))
    else:
        frames = [run_setting(setting, methods=methods, progress=progress, cache_dir=cache_dir)
                  for setting, methods, cache_dir in progress_bar(tasks, desc=param, unit="value",
                                                                  disable=not progress, leave=False)]
    for value, frame in zip(values, frames):
        frame.insert(0, param, value)
    return pd.concat(frames, ignore_index=True)


def _run_setting_task(task: tuple[PaperSetting, tuple, Any]) -> pd.DataFrame:
    """:func:`run_setting` of one ``(setting, methods, cache_dir)`` without progress bars (an executor's item)."""
    setting, methods, cache_dir = task
    return run_setting(setting, methods=methods, progress=False, cache_dir=cache_dir)


def summarize(df: pd.DataFrame, by: Iterable[str] = ()) -> pd.DataFrame:
    """Mean and standard deviation over seeds of every quantity, per method and experiment.

    ``<q>_mean = (1/S) sum_s q_s`` and ``<q>_std = sqrt(1/(S-1) sum_s (q_s - <q>_mean)^2)`` (sample
    std, ddof = 1, NaN for one seed), S = number of seeds in the group: :func:`dashsim.stats.seed_stats`.

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy rows as returned by :func:`run_setting` (optionally with extra id columns).
    by : iterable of str
        Extra id columns to keep apart (e.g. the swept parameter ``"C"``), placed first.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by, method, experiment, n_seeds, test_accuracy_mean, test_accuracy_std,
        n_learned_mean, ...``; methods in order of first appearance.
    """
    by = list(by)
    out = seed_stats(df, by + ["method", "experiment"], QUANTITIES)
    # First-appearance method order (cold, warm, ideal), experiments ascending.
    method_rank = {m: i for i, m in enumerate(pd.unique(df["method"]))}
    sort_cols = by + ["_rank", "experiment"]
    out["_rank"] = out["method"].map(method_rank)
    return out.sort_values(sort_cols, kind="stable").drop(columns="_rank").reset_index(drop=True)
