"""Table 1 of the DASH paper: final and average test accuracy and steps, "mean (std)" over seeds, methods x optimizers.

Reads the same cached run folders as ``figure1.py`` (same flags, same defaults), so after
``figure1.py`` it recomputes nothing; missing runs are computed. Full mode: the paper's model, J
and seeds on the offline data (ResNet-18, J=50, all of Fashion-MNIST, seeds 0-4, SGD and SAM); ``--quick``: digits, MLP of width 32, J=3, 2 seeds.

Writes ``table1.png`` (the table rendered) and ``table1.csv`` (the numeric means and stds shown).
"""

from __future__ import annotations

import _common
import _training


def main(argv=None) -> None:
    from dashsim.nn.tables import format_table1, table1

    args = _training.parse_args(__doc__, argv, _training.add_incremental_flags,
                                quick_defaults=_training.INCREMENTAL_QUICK, full_defaults=_training.INCREMENTAL_FULL)
    table = table1(_training.incremental_metrics(args))
    shown = format_table1(table)
    figure = _training.render_table(shown.values.tolist(), list(shown.columns), f"Table 1: {_training.incremental_setting(args)}")
    _common.write_table(args, "table1", table, figure)


if __name__ == "__main__":
    main()
