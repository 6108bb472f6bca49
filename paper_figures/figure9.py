"""Figure 9: Figure 3's quantities (cold / warm / ideal) as the number of classes C varies.

Sweep: C in {2, 5, 10} (n = 1000 points per experiment split evenly, so C = 10 means 100 points
per class per experiment); fixed at the paper's setting: K=50, n=1000, J=50, gamma=50, tau=3,
legacy data, exact accuracy, seeds 0-9. ``--quick``: seeds 0-1, J=10.
The fixed settings are flags (``--K``, ``--J``, ``--seeds``, ...); ``--replot`` redraws from the CSV.
Writes ``<out>/figure9.png`` and ``.pdf`` (one row of three panels per C) and ``<out>/figure9.csv``
(the plotted numbers).
"""

from __future__ import annotations

from pathlib import Path

from dashsim.sim.figures import sweep_figure

OUT = Path(__file__).resolve().parent / "out"  # default output folder

VALUES = (2, 5, 10)


def main(argv=None) -> None:
    sweep_figure("figure9", "C", VALUES, __doc__, argv, default_out=OUT)


if __name__ == "__main__":
    main()
