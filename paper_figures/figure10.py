"""Figure 10: Figure 3's quantities (cold / warm / ideal) as the learning threshold gamma varies.

Sweep: gamma in {25, 50, 75, 100} points (the paper's 50 in the middle); fixed at the paper's
setting: C=2, K=50, n=1000, J=50, tau=3, legacy data, exact accuracy, seeds 0-9.
``--quick``: seeds 0-1, J=10.
The fixed settings are flags (``--K``, ``--J``, ``--seeds``, ...); ``--replot`` redraws from the CSV.
Writes ``<out>/figure10.png`` and ``.pdf`` (one row of three panels per gamma) and ``<out>/figure10.csv``
(the plotted numbers).
"""

from __future__ import annotations

from pathlib import Path

from dashsim.sim.figures import sweep_figure

OUT = Path(__file__).resolve().parent / "out"  # default output folder

VALUES = (25.0, 50.0, 75.0, 100.0)


def main(argv=None) -> None:
    sweep_figure("figure10", "gamma", VALUES, __doc__, argv, default_out=OUT)


if __name__ == "__main__":
    main()
