"""dashsim: research toolkit for warm-starting neural networks.

Two halves: a numba simulator of the discrete feature-learning framework of Shin et al.,
"DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss of Plasticity"
(NeurIPS 2024), in :mod:`dashsim.sim`, and (in :mod:`dashsim.nn`, which needs torch) DASH with
its baselines. This facade re-exports the simulator's public API (listed in ``dashsim/sim/__init__.py``),
so ``dashsim.simulate`` is ``dashsim.sim.simulate``.
"""

from dashsim import sim
from dashsim._version import __version__
from dashsim.sim import *  # noqa: F403 (the simulator's curated API)

# In the form type checkers read (`__all__ += submodule.__all__`).
__all__ = ["__version__"]
__all__ += sim.__all__
