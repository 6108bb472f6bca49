"""DASH and the warm-starting baselines in torch (imported separately: ``import dashsim.nn``).

Methods and models: :func:`dash_`, the between-experiments method registry :data:`METHODS`, the
paper's networks :func:`build_model`, :class:`SAM`. Running the paper's protocols on real data:
:func:`load_dataset`, :class:`TrainConfig`, :func:`run_incremental`, :func:`run_two_phase`,
:func:`run_continuous`, :func:`run_class_incremental` and Ash & Adams' online protocols.
"""

from .arrival import run_class_incremental, run_continuous
from .dash import dash_, dash_shrink
from .methods import METHODS, Learner, Method, make_method
from .models import MODELS, build_model
from .data import DATASETS, ImageDataset, load_dataset
from .online import run_active_online, run_discarding, run_passive_online, smallest_margin
from .plotting import plot_incremental
from . import diagnostics
from .diagnostics import StartCorrelation, dead_neurons, filter_cosines, gradient_norm, weight_correlation
from .protocols import ProbeContext, run_incremental, run_two_phase, summarize
from .sam import SAM
from .tables import claim_check, format_table1, table1
from .train import PRESETS, NonFiniteLossError, SettingsError, TrainConfig, apply_preset

__all__ = [
    "dash_",
    "dash_shrink",
    "Learner",
    "Method",
    "METHODS",
    "make_method",
    "MODELS",
    "build_model",
    "SAM",
    # Real data and the incremental-training protocols
    "DATASETS",
    "ImageDataset",
    "load_dataset",
    "TrainConfig",
    "PRESETS",
    "apply_preset",
    "NonFiniteLossError",
    "SettingsError",
    "run_incremental",
    "run_two_phase",
    "run_passive_online",
    "run_active_online",
    "smallest_margin",
    "run_discarding",
    "run_continuous",
    "run_class_incremental",
    "summarize",
    "plot_incremental",
    "ProbeContext",
    # Tables and diagnostics of the paper's figures
    "table1",
    "format_table1",
    "claim_check",
    "diagnostics",
    "gradient_norm",
    "filter_cosines",
    "dead_neurons",
    "weight_correlation",
    "StartCorrelation",
]
