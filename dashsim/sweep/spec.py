"""A sweep as data: a base configuration plus axes, expanded into runs with readable folder names.

A sweep is ``base`` (fixed settings) and ``grid`` (axes: a setting name -> a list of values, and
``seed`` -> a list of seeds); a table in the grid named after a method holds axes of that
method's hyper-parameters, which multiply only that method's grid points::

    Sweep(base={"data": "digits", "model": "mlp", "J": 3},
          grid={"method": ["cold", "warm", "dash"], "seed": [0, 1], "dash": {"lam": [0.1, 0.3]}})

is 4 grid points (cold, warm, dash at lam 0.1 and 0.3) x 2 seeds = 8 runs. In a TOML file
(:func:`load_spec`) the same reads ``[base]``, ``[grid]`` and ``[grid.dash]``. One run is one
seed of one grid point; its folder name reads ``<method>[_<param><value>...][_<axis><value>...]
_seed<s>_<hash>``, the hash covering every setting of the run, so adding seeds or grid values
leaves the names (and finished folders) of the existing runs unchanged.

This module only expands and checks the shape of a sweep; which names and values are valid is
decided by the runner that executes it (:mod:`dashsim.sweep.training` for the training
protocols). It imports no torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
from pathlib import Path
from typing import Any, Mapping, Optional

__all__ = ["Sweep", "Run", "SpecError", "load_spec", "SEED"]

SEED = "seed"  # the axis (or base setting) of the run seeds
_TOP_LEVEL = ("base", "grid", "out")


class SpecError(ValueError):
    """A sweep specification that cannot run: the message names the field and what is allowed."""


@dataclasses.dataclass(frozen=True)
class Run:
    """One run of a sweep: one seed of one grid point."""

    name: str  # folder name: method, hyper-parameters, varied values, seed and a short hash
    settings: dict[str, Any]  # every setting but the seed and the method's hyper-parameters (base + axis values)
    params: dict[str, Any]  # the method's hyper-parameters set by the sweep (others at their defaults)
    seed: int  # the run seed
    varied: dict[str, Any]  # the values of the sweep's axes at this run (hyper-parameters included, seed excluded)

    def key(self) -> dict[str, Any]:
        """Everything that defines the run (what its hash covers)."""
        return {"settings": self.settings, "params": self.params, "seed": self.seed}


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) or (
        isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float, bool)) for v in value))


def _check_axis(where: str, values: Any) -> list[Any]:
    if not isinstance(values, (list, tuple)):
        raise SpecError(f"{where}: an axis is a list of values, got {values!r}")
    if not values:
        raise SpecError(f"{where}: an axis needs at least one value, got an empty list")
    for value in values:
        if not _scalar(value):
            raise SpecError(f"{where}: values must be numbers, strings, booleans or lists of them, got {value!r}")
    frozen = [json.dumps(v) for v in values]
    if len(set(frozen)) != len(frozen):
        raise SpecError(f"{where}: values must be distinct, got {list(values)!r}")
    return [tuple(v) if isinstance(v, list) else v for v in values]


def _text(value: Any) -> str:
    text = "-".join(map(str, value)) if isinstance(value, tuple) else str(value)
    return re.sub(r"[^A-Za-z0-9.+-]", "-", text)


def _short_hash(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:8]


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A base configuration plus axes; :meth:`runs` is their product, one :class:`Run` per seed and grid point.

    Parameters
    ----------
    base : the settings every run shares (names of the runner's configuration: for training,
        :class:`~dashsim.nn.TrainConfig` fields, ``protocol`` and its settings, ``method``, ``seed``).
    grid : axes, ``name -> [values]`` (``seed -> [seeds]`` among them); a value that is a table,
        ``method_name -> {hyper_parameter -> [values]}``, adds axes for that method only.
    out : the folder holding one run folder per run.

    Raises
    ------
    SpecError (on construction) for an axis with no values, repeated values, a setting in both
    ``base`` and ``grid``, ``seeds`` instead of ``seed``, or a method table for a method the sweep
    does not run.
    """

    base: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    grid: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    out: str = "runs/sweep"

    def __post_init__(self) -> None:
        if not isinstance(self.base, Mapping) or not isinstance(self.grid, Mapping):
            raise SpecError("base and grid must be tables (dicts)")
        for where, table in (("base", self.base), ("grid", self.grid)):
            if "seeds" in table:
                raise SpecError(f"{where}.seeds: name the seed setting 'seed' (base: one seed, grid: a list)")
        both = sorted(set(self.base) & {k for k, v in self.grid.items() if not isinstance(v, Mapping)})
        if both:
            raise SpecError(f"{', '.join(both)}: a setting is either fixed in base or an axis of grid, not both")
        for key, value in self.base.items():
            if isinstance(value, Mapping) or not _scalar(value):
                raise SpecError(f"base.{key}: a setting is a number, string, boolean or list, got {value!r}")
        methods = self._methods()
        for key, value in self.grid.items():
            if isinstance(value, Mapping):
                if key not in methods:
                    raise SpecError(f"grid.{key}: a table of hyper-parameters needs method {key!r} in the sweep "
                                    f"(grid.method or base.method); the sweep runs {', '.join(methods) or 'no method'}")
                if not value:
                    raise SpecError(f"grid.{key}: the method's table has no axes")
                for param, values in value.items():
                    _check_axis(f"grid.{key}.{param}", values)
            else:
                _check_axis(f"grid.{key}", value)
        if not isinstance(self.out, (str, Path)) or not str(self.out):
            raise SpecError(f"out: the sweep's folder must be a non-empty path, got {self.out!r}")

    def _methods(self) -> list[str]:
        if "method" in self.grid and not isinstance(self.grid["method"], Mapping):
            return [str(m) for m in self.grid["method"]] if isinstance(self.grid["method"], (list, tuple)) else []
        return [self.base["method"]] if isinstance(self.base.get("method"), str) else []

    def axes(self) -> dict[str, list[Any]]:
        """The grid's setting axes (not the seed, not the methods' tables), in declaration order."""
        return {k: _check_axis(f"grid.{k}", v) for k, v in self.grid.items()
                if not isinstance(v, Mapping) and k != SEED}

    def method_axes(self) -> dict[str, dict[str, list[Any]]]:
        """Each method's own axes: ``method -> {hyper_parameter -> [values]}``."""
        return {m: {p: _check_axis(f"grid.{m}.{p}", v) for p, v in table.items()}
                for m, table in self.grid.items() if isinstance(table, Mapping)}

    def seeds(self) -> list[int]:
        """The run seeds: ``grid.seed``, else ``[base.seed]``, else ``[0]``."""
        seeds = _check_axis("grid.seed", self.grid[SEED]) if SEED in self.grid else [self.base.get(SEED, 0)]
        for seed in seeds:
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise SpecError(f"seed: seeds are integers >= 0, got {seed!r}")
        return list(seeds)

    def runs(self) -> list[Run]:
        """Every run: the product of the axes (a method's table multiplying its own points), then the seeds."""
        axes, method_axes = self.axes(), self.method_axes()
        base = {k: tuple(v) if isinstance(v, list) else v for k, v in self.base.items() if k != SEED}
        out = []
        for values in itertools.product(*axes.values()):
            point = dict(zip(axes, values))
            settings = {**base, **point}
            table = method_axes.get(settings.get("method"), {})
            for param_values in itertools.product(*table.values()):
                params = dict(zip(table, param_values))
                for seed in self.seeds():
                    key = {"settings": settings, "params": params, "seed": seed}
                    parts = [_text(settings.get("method", "run"))]
                    parts += [f"{_text(k)}{_text(v)}" for k, v in params.items()]
                    parts += [f"{_text(k)}{_text(v)}" for k, v in point.items() if k != "method"]
                    name = "_".join([*parts, f"seed{seed}", _short_hash(key)])
                    out.append(Run(name, dict(settings), params, seed, {**point, **params}))
        return out

    def to_dict(self) -> dict[str, Any]:
        """The sweep as the TOML file's tables (``base``, ``grid``, ``out``)."""
        return {"base": dict(self.base), "grid": {k: dict(v) if isinstance(v, Mapping) else list(v)
                                                  for k, v in self.grid.items()}, "out": str(self.out)}


def load_spec(path: str | Path, *, out: Optional[str] = None) -> Sweep:
    """Read a sweep from a TOML file: tables ``[base]``, ``[grid]`` (and ``[grid.<method>]``), optional ``out``.

    Parameters
    ----------
    path : the spec file.
    out : the sweep's folder, overriding the file's ``out`` (default: ``runs/<file name without .toml>``).

    Returns
    -------
    Sweep

    Raises
    ------
    SpecError for a file that is not TOML, an unknown top-level key, or a malformed table.
    """
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    path = Path(path)
    try:
        table = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: not a valid TOML file: {err}") from None
    unknown = sorted(set(table) - set(_TOP_LEVEL))
    if unknown:
        raise SpecError(f"{path}: unknown top-level key(s) {', '.join(unknown)}; allowed: {', '.join(_TOP_LEVEL)}")
    folder = out or table.get("out") or f"runs/{path.stem}"
    try:
        return Sweep(base=table.get("base", {}), grid=table.get("grid", {}), out=str(folder))
    except SpecError as err:
        raise SpecError(f"{path}: {err}") from None
