"""Figure 10: Figure 3's quantities (cold / warm / ideal) as the learning threshold gamma varies.

Sweep: gamma in {25, 50, 75, 100} points (the paper's 50 in the middle); fixed at the paper's
setting: C=2, K=50, n=1000, J=50, tau=3, legacy data, exact accuracy, seeds 0-9.
``--quick``: seeds 0-1, J=20.
Writes ``out/figure10.png`` (one row of three panels per gamma) and ``out/figure10.csv`` (the plotted numbers).
"""

import _common

VALUES = (25.0, 50.0, 75.0, 100.0)

if __name__ == "__main__":
    _common.sweep_figure("figure 10", "gamma", VALUES, __doc__)
