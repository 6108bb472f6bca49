"""dashsim: research toolkit for warm-starting neural networks.

Two halves: a numba simulator of the discrete feature-learning framework of Shin et al.,
"DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss of Plasticity"
(NeurIPS 2024), and (in :mod:`dashsim.nn`, which needs torch) DASH with its baselines.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
