"""Test-session settings: one thread per process for torch, OpenMP, BLAS and numba.

The default run spreads the tests over one pytest-xdist worker per core (``-n auto`` in
``setup.cfg``); torch's default of one intra-op thread per core would then put two threads on every
core, and spinning OpenMP threads made small CPU runs up to 10x slower. These are the variables the
sweep executors set for their workers, set here before anything imports numpy, numba or torch
(they read them when loaded), also with ``-n 0``; subprocesses that tests start inherit them. A
value already in the environment wins.
"""

import os

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
for _name in THREAD_VARS:
    os.environ.setdefault(_name, "1")

from dashsim.sweep.executors import _THREAD_VARS  # noqa: E402 - after the variables, on purpose

assert set(_THREAD_VARS) == set(THREAD_VARS), "keep tests/conftest.py's THREAD_VARS equal to the executors' list"
