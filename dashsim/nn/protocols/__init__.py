"""The training protocols, each a small :class:`~dashsim.nn.engine.Plan` on the one experiment engine.

One file per protocol; each registers its plan (:func:`~dashsim.nn.engine.register_protocol`) so
that :func:`run_protocol` and ``dashsim train --protocol NAME`` find it by name:

- ``incremental``: the DASH paper's main protocol (Section 5, Figure 1, Table 1);
- ``two-phase``: pretrain on half for E epochs, then all (Figure 2; Ash & Adams, Section 2);
- ``passive-online``, ``active-online``: Ash & Adams' online learning (Section 3);
- ``discarding``, ``continuous``, ``class-incremental``: the DASH paper's Appendix C.4 settings;
- ``previous-data``: accuracy on the old data after new data arrive (Figure 13).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..engine import PROTOCOLS, Plan, register_protocol, run
from ..train import SettingsError, TrainConfig
# Imported (so registered, and listed by `dashsim train --protocol`) in the order of the papers.
from .incremental import Incremental, run_incremental, summarize  # noqa: I001
from .two_phase import TWO_PHASE_COLUMNS, TwoPhase, run_two_phase, two_phase_table
from .online import ActiveOnline, PassiveOnline, run_active_online, run_passive_online, smallest_margin
from .discarding import Discarding, discarding_schedule, run_discarding
from .continuous import Continuous, continuous_schedule, run_continuous
from .class_incremental import ClassIncremental, class_order, run_class_incremental
from .previous_data import PreviousData, previous_data_curves, run_previous_data

__all__ = [
    "PROTOCOLS", "register_protocol", "run_protocol", "Plan",
    "Incremental", "TwoPhase", "PassiveOnline", "ActiveOnline", "Discarding", "Continuous", "ClassIncremental",
    "PreviousData",
    "run_incremental", "run_two_phase", "run_passive_online", "run_active_online", "run_discarding", "run_continuous",
    "run_class_incremental", "run_previous_data",
    "summarize", "two_phase_table", "previous_data_curves", "smallest_margin", "discarding_schedule",
    "continuous_schedule", "class_order", "TWO_PHASE_COLUMNS",
]


def run_protocol(config: TrainConfig, protocol: "str | Plan", **pieces: Any) -> pd.DataFrame:
    """Run (or resume) ``protocol`` (a :class:`Plan`, or a registered name at its default settings) with ``config``.

    Parameters
    ----------
    config : the training settings.
    protocol : e.g. ``Discarding(m=10)`` or ``"incremental"`` (see :data:`PROTOCOLS`).
    **pieces : ``dataset``, ``model``, ``method``, ``progress``, ``probe``, ``probe_after`` (see
        :func:`dashsim.nn.engine.run`).

    Returns
    -------
    pandas.DataFrame: the engine's rows, one per (unit, round).
    """
    if isinstance(protocol, str):
        if protocol not in PROTOCOLS:
            raise SettingsError(f"protocol must be one of {', '.join(PROTOCOLS)}; got {protocol!r}")
        protocol = PROTOCOLS[protocol]()
    return run(config, protocol, **pieces)
