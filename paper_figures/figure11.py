"""Figure 11: Figure 3's quantities (cold / warm / ideal) as tau, the features needed to classify, varies.

Sweep: tau in {1, 2, 3, 4, 5} (the paper's 3 in the middle); fixed at the paper's setting: C=2,
K=50, n=1000, J=50, gamma=50, legacy data, exact accuracy, seeds 0-9. ``--quick``: seeds 0-1, J=20.
Writes ``out/figure11.png`` (one row of three panels per tau) and ``out/figure11.csv`` (the plotted numbers).
"""

import _common

VALUES = (1, 2, 3, 4, 5)

if __name__ == "__main__":
    _common.sweep_figure("figure 11", "tau", VALUES, __doc__)
