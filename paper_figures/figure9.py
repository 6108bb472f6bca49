"""Figure 9: Figure 3's quantities (cold / warm / ideal) as the number of classes C varies.

Sweep: C in {2, 5, 10} (n = 1000 points per experiment split evenly, so C = 10 means 100 points
per class per experiment); fixed at the paper's setting: K=50, n=1000, J=50, gamma=50, tau=3,
legacy data, exact accuracy, seeds 0-9. ``--quick``: seeds 0-1, J=20.
Writes ``out/figure9.png`` (one row of three panels per C) and ``out/figure9.csv`` (the plotted numbers).
"""

import _common

VALUES = (2, 5, 10)

if __name__ == "__main__":
    _common.sweep_figure("figure 9", "C", VALUES, __doc__)
