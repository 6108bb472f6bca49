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

# --- Theory exports (SIM-THEORY): add `from dashsim.theory import ...` here and names below. ---

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
    # Theory (SIM-THEORY)
]
