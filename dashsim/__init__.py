"""dashsim: research toolkit for warm-starting neural networks.

Two halves: a numba simulator of the discrete feature-learning framework of Shin et al.,
"DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss of Plasticity"
(NeurIPS 2024), and (in :mod:`dashsim.nn`, which needs torch) DASH with its baselines.
"""

__version__ = "0.1.0"

from dashsim.accuracy import accuracy_bernoulli, accuracy_composition, accuracy_on
from dashsim.simulator import (
    BUILTIN_RULES,
    BetweenExperimentRule,
    ProcessResult,
    ShrinkPerturbRule,
    SimulationData,
    SimulationResult,
    simulate,
    simulate_composition,
    training_process,
)
from dashsim.synthetic import Composition, PaperData, legacy_test_set, sample_paper_data, sample_test_set

from dashsim.instances import BREAKS, Instance, random_instance
from dashsim.sweeps import PaperSetting, run_setting, run_sweep, summarize
from dashsim.theory import (
    AssumptionReport,
    ClaimResult,
    TheoremReport,
    check_assumptions,
    check_theorems,
    delta,
    h,
    threshold,
    training_time,
)

__all__ = [
    "__version__",
    # Simulator
    "training_process",
    "simulate",
    "simulate_composition",
    "ProcessResult",
    "SimulationResult",
    "SimulationData",
    "BetweenExperimentRule",
    "ShrinkPerturbRule",
    "BUILTIN_RULES",
    # Data
    "Composition",
    "PaperData",
    "sample_paper_data",
    "sample_test_set",
    "legacy_test_set",
    # Test accuracy
    "accuracy_bernoulli",
    "accuracy_composition",
    "accuracy_on",
    # Paper settings and seed sweeps (cached)
    "PaperSetting",
    "run_setting",
    "run_sweep",
    "summarize",
    # Theory: Assumptions 3.1/3.3, Theorems 3.4/3.6, Lemmas D.1-D.3
    "h",
    "delta",
    "threshold",
    "training_time",
    "check_assumptions",
    "check_theorems",
    "AssumptionReport",
    "ClaimResult",
    "TheoremReport",
    "random_instance",
    "Instance",
    "BREAKS",
]
