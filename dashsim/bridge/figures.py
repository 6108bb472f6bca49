"""The bridge figures' flags: one per :class:`~dashsim.bridge.BridgeConfig` field, with full and quick defaults.

Built on :mod:`dashsim.figures`; used by ``paper_figures/bridge.py`` and ``bridge_sweep.py``, whose
seeds are split over the script's executor (:func:`run_bridge_seeds`).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Optional

from ..figures import add_config_flags

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BRIDGE_QUICK", "add_bridge_flags", "bridge_config", "describe", "run_bridge_seeds"]

# --quick: tiny, so the tests run it in seconds; every other field keeps the full default.
BRIDGE_QUICK = {"C": 2, "K": 6, "n_per_chunk": 30, "J": 4, "p_max": 0.6, "gamma": 3.0, "tau": 2, "n_test": 200,
                "dim": 48, "width": 32, "max_epochs": 30, "seeds": (0,)}


def add_bridge_flags(parser, *, full: Optional[dict] = None, quick: Optional[dict] = None) -> None:
    """One flag per :class:`~dashsim.bridge.BridgeConfig` field.

    Full-mode default: ``full[field]``, else the field's; quick: :data:`BRIDGE_QUICK` updated by
    ``quick``, else the full one.
    """
    from .experiment import BridgeConfig

    names = [f.name for f in dataclasses.fields(BridgeConfig) if f.init]
    add_config_flags(parser, BridgeConfig, names, full=full, quick={**BRIDGE_QUICK, **(quick or {})},
                     title="bridge settings (BridgeConfig fields)")


def bridge_config(args: argparse.Namespace):
    """The :class:`~dashsim.bridge.BridgeConfig` of the parsed flags."""
    from .experiment import BridgeConfig

    return BridgeConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(BridgeConfig) if f.init})


def describe(config) -> str:
    """One line naming a bridge setting, for titles."""
    return (f"C={config.C}, K={config.K}, n={config.n_per_chunk}, J={config.J}, p_max={config.p_max:g}, "
            f"gamma={config.gamma:g}, tau={config.tau}; {config.model} width {config.width}, D={config.dim}, "
            f"noise/feature={config.noise_strength / config.feature_strength:g}")


def _bridge_seed(item: tuple) -> "pd.DataFrame":
    """:func:`~dashsim.bridge.run_bridge` of a one-seed setting (an executor's item)."""
    from .experiment import run_bridge

    config, out = item
    return run_bridge(config, out=out)


def run_bridge_seeds(config, runner, *, out=None, progress: bool = False) -> "pd.DataFrame":
    """:func:`~dashsim.bridge.run_bridge` of ``config``, one seed per item of ``runner.map``.

    Seeds are independent (each its own data, simulator rows and network run folders,
    :func:`~dashsim.bridge.experiment.network_run_dir`), so the rows equal ``run_bridge(config,
    out=out)``'s on any executor. A :class:`~dashsim.sweep.LocalExecutor` calls ``run_bridge`` here
    once, with its progress bar.
    """
    import pandas as pd

    from ..sweep import LocalExecutor
    from .experiment import run_bridge

    if isinstance(runner, LocalExecutor):
        return run_bridge(config, out=out, progress=progress)
    items = [(dataclasses.replace(config, seeds=(seed,)), out) for seed in config.seeds]
    return pd.concat(runner.map(_bridge_seed, items), ignore_index=True)
