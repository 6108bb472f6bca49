"""Test-session settings: one torch/OpenMP thread per process.

The default run spreads the tests over one pytest-xdist worker per core (``-n auto`` in
``setup.cfg``); torch's default of one intra-op thread per core would then put two threads on every
core, and spinning OpenMP threads made small CPU runs up to 10x slower. Set before any test module
imports torch; subprocesses that tests start inherit it. An explicit ``OMP_NUM_THREADS`` wins.
"""

import os

for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
