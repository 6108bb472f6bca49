"""Figure 11: Figure 3's quantities (cold / warm / ideal) as tau, the features needed to classify, varies.

Sweep: tau in {1, 2, 3, 4, 5} (the paper's 3 in the middle); fixed at the paper's setting: C=2,
K=50, n=1000, J=50, gamma=50, legacy data, exact accuracy, seeds 0-9. ``--quick``: seeds 0-1, J=10.
The fixed settings are flags (``--K``, ``--J``, ``--seeds``, ...); ``--replot`` redraws from the CSV.
Writes ``<out>/figure11.png`` and ``.pdf`` (one row of three panels per tau) and ``<out>/figure11.csv``
(the plotted numbers).
"""

from __future__ import annotations

from pathlib import Path

from dashsim.sim.figures import sweep_figure

OUT = Path(__file__).resolve().parent / "out"  # default output folder

VALUES = (1, 2, 3, 4, 5)


def main(argv=None) -> None:
    sweep_figure("figure11", "tau", VALUES, __doc__, argv, default_out=OUT)


if __name__ == "__main__":
    main()
