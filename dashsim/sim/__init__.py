"""The simulator of the DASH paper's discrete feature-learning framework (numba; no torch).

Validating wrappers (:mod:`.simulator`) in front of the numba kernels (:mod:`._kernels`), the
paper's data (:mod:`.synthetic`), test accuracy (:mod:`.accuracy`), the paper's setting run over
seeds (:mod:`.settings`), the theory's quantities and claims (:mod:`.theory`, :mod:`.instances`,
:mod:`.claims`), figures (:mod:`.plotting`) and the ``dashsim simulate`` command (:mod:`.cli`).
Every name below is also available from the top-level ``dashsim`` package.

References: Shin, Oh, Cho, Yun, "DASH: Warm-Starting Neural Network Training in Stationary
Settings without Loss of Plasticity", NeurIPS 2024, Section 3 and Appendices A, D and E.
"""

from .accuracy import accuracy_bernoulli, accuracy_composition, accuracy_on
from .instances import BREAKS, Instance, random_instance
from .settings import PaperSetting, run_setting, run_sweep, summarize
from .simulator import (BUILTIN_RULES, BetweenExperimentRule, ProcessResult, ShrinkPerturbRule, SimulationData,
                        SimulationResult, simulate, simulate_composition, training_process)
from .synthetic import Composition, PaperData, legacy_test_set, sample_paper_data, sample_test_set
from .theory import (AssumptionReport, ClaimResult, TheoremReport, check_assumptions, check_theorems, delta, h,
                     threshold, training_time)

__all__ = [
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
