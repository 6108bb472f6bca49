"""DASH and the warm-starting baselines in torch (imported separately: ``import dashsim.nn``).

Methods and models: :func:`dash_`, the method classes (:class:`Dash`, :class:`ShrinkPerturb`, ...)
and their registry :data:`METHODS`, the paper's networks :func:`build_model`, :class:`SAM`.
Running the protocols on real data: every protocol is a small plan on one experiment engine
(:mod:`dashsim.nn.engine`); :func:`run_incremental` and its siblings take your own data set
(:meth:`ImageDataset.from_tensors`), model (a zero-argument callable) and method (a
:class:`Method` object) as well as registry names.
"""

from . import diagnostics, engine
from .dash import dash_, dash_shrink
from .data import DATASETS, ImageDataset, load_dataset, register_dataset
from .diagnostics import StartCorrelation, dead_neurons, filter_cosines, gradient_norm, weight_correlation
from .engine import PROTOCOLS, Plan, ProbeContext, Round, register_protocol
from .methods import (METHODS, AshShrinkPerturb, Cold, Dash, L2Init, Learner, Method, ResetHead, Shrink, ShrinkPerturb,
                      Warm, WarmReM, make_method, register_method)
from .models import MODELS, build_model, register_model
from .plotting import plot_incremental
from .protocols import (ActiveOnline, ClassIncremental, Continuous, Discarding, Incremental, PassiveOnline,
                        PreviousData, TwoPhase, previous_data_curves, run_active_online, run_class_incremental,
                        run_continuous, run_discarding, run_incremental, run_passive_online, run_previous_data,
                        run_protocol, run_two_phase, smallest_margin, summarize)
from .sam import SAM
from .tables import claim_check, format_table1, table1
from .train import PRESETS, NonFiniteLossError, SettingsError, TrainConfig, apply_preset

__all__ = [
    "dash_",
    "dash_shrink",
    # Between-experiments methods (bring your own: subclass Method)
    "Learner",
    "Method",
    "Cold",
    "Warm",
    "WarmReM",
    "ShrinkPerturb",
    "AshShrinkPerturb",
    "Shrink",
    "ResetHead",
    "L2Init",
    "Dash",
    "METHODS",
    "make_method",
    "register_method",
    # Networks (bring your own: a zero-argument callable)
    "MODELS",
    "build_model",
    "register_model",
    "SAM",
    # Data (bring your own: ImageDataset.from_tensors)
    "DATASETS",
    "ImageDataset",
    "load_dataset",
    "register_dataset",
    # The experiment engine and the protocols on it
    "engine",
    "TrainConfig",
    "PRESETS",
    "apply_preset",
    "NonFiniteLossError",
    "SettingsError",
    "Plan",
    "Round",
    "PROTOCOLS",
    "register_protocol",
    "run_protocol",
    "Incremental",
    "TwoPhase",
    "PassiveOnline",
    "ActiveOnline",
    "Discarding",
    "Continuous",
    "ClassIncremental",
    "PreviousData",
    "run_incremental",
    "run_two_phase",
    "run_passive_online",
    "run_active_online",
    "smallest_margin",
    "run_discarding",
    "run_continuous",
    "run_class_incremental",
    "run_previous_data",
    "previous_data_curves",
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
