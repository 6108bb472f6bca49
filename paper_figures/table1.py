"""Table 1 of the DASH paper: final and average test accuracy and steps, "mean (std)" over seeds, methods x optimizers.

Reads the same cached run folders as ``figure1.py`` (same flags, same defaults), so after
``figure1.py`` it recomputes nothing; missing runs are computed. Full mode: the paper's model, J
and seeds on the offline data (ResNet-18, J=50, all of Fashion-MNIST, seeds 0-4, SGD and SAM);
``--quick``: digits, MLP of width 32, J=3, SGD, 2 seeds.

The full-mode epoch cap is the authors' 10,000 epochs per experiment (none in practice); runs with
a lower ``--max-epochs`` count the experiments that stopped at it (``n_capped``, in the footer).

Writes ``table1.png`` and ``.pdf`` (the table rendered) and ``table1.csv`` (the numeric means and stds shown,
and ``n_capped``: experiments that stopped at the epoch cap); ``--replot`` redraws from the CSV. When
cold, warm, S&P and DASH all ran, it prints the paper's claims with their seed-level evidence
(:func:`dashsim.nn.tables.claim_check`: per optimizer and claim, the mean paired difference over
seeds, its standard error and the verdict) and writes them to ``table1_claims.csv``.
"""

from __future__ import annotations

from pathlib import Path

from dashsim.figures import parse_args, read_table, render_table
from dashsim.nn.figures import (FULL_MAX_EPOCHS, add_incremental_flags, finish, incremental_metrics,
                                incremental_setting)

OUT = Path(__file__).resolve().parent / "out"  # default output folder
CLAIMED = {"cold", "warm", "sp", "dash"}  # the methods the paper's claims compare


def claims(args, metrics):
    """:func:`dashsim.nn.tables.claim_check` of the seed-level rows, printed and written (None without CLAIMED)."""
    from dashsim.nn.tables import claim_check

    missing = CLAIMED - set(metrics["method"])
    if missing:
        print(f"claim check skipped: it compares cold, warm, sp and dash; {sorted(missing)} did not run")
        return None
    checked = claim_check(metrics, by="optimizer")
    args.out.mkdir(parents=True, exist_ok=True)
    checked.to_csv(args.out / "table1_claims.csv", index=False)
    print(f"The paper's claims, seed by seed ({incremental_setting(args)}):")
    print(checked.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return checked


def main(argv=None) -> None:
    from dashsim.nn.tables import format_table1, table1

    args = parse_args(__doc__, argv, lambda p: add_incremental_flags(p, full={"max_epochs": FULL_MAX_EPOCHS},
                                                                     quick={"max_epochs": 10}, optimizers=True),
                      default_out=OUT)
    if args.replot:
        table = read_table(args, "table1")
    else:
        metrics = incremental_metrics(args)
        table = table1(metrics)
        if "converged" in metrics.columns:
            capped = (~metrics["converged"].astype(bool)).groupby([metrics["optimizer"], metrics["method"]]).sum()
            table["n_capped"] = [int(capped.get((o, m), 0)) for o, m in zip(table["optimizer"], table["method"])]
        claims(args, metrics)
    shown = format_table1(table)
    title = f"Table 1: {incremental_setting(args)}"
    footer = ("experiments that stopped at the epoch cap (all seeds): "
              + ", ".join(f"{o} {m} {n}" for o, m, n in zip(table["optimizer"], table["method"], table["n_capped"]))
              if "n_capped" in table.columns else None)
    finish(args, "table1", table, render_table(shown.values.tolist(), list(shown.columns), title, footer=footer))


if __name__ == "__main__":
    main()
