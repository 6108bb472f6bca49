"""Appendix C.4.3 of the DASH paper: data discarding, with DASH or S&P every m experiments vs warm and cold.

The training set is split into J equal chunks; experiment j trains only on the newest chunk T_j
(older data are discarded) until the epoch's train accuracy reaches 99.9% (or the epoch cap).
DASH / S&P run before experiment j when j % m == 0 and j <= stop_after (the paper: m = 10, 15,
20, stopped after experiment 40); warm keeps the model throughout; cold re-initializes it before
every experiment. Panels: test accuracy and optimizer steps vs experiment, mean +- std over seeds.

Full mode: ResNet-18, J=50, all of Fashion-MNIST (the paper: CIFAR-10), m in {10, 15, 20}, seeds
0-2 (a GPU job). The committed CPU result (``paper_figures/results``; about 10 min on 2 shared cores):
``--model mlp --width 1000 --J 20 --subset 20000 --periods 5 --stop-after 15 --max-epochs 50 --seeds 0 1
--out paper_figures/results``. ``--quick``: digits, MLP of width 32, 300 images, J=4, m=2.

Each (curve, seed) run is cached in a resumable run folder. Writes ``appendix_discarding.png``, ``.pdf``
and ``appendix_discarding.csv`` (the plotted means and stds per curve and experiment, and ``n_capped``:
seeds that stopped at the epoch cap, circled); ``--replot`` redraws from the CSV.
"""

from __future__ import annotations

from pathlib import Path

from dashsim.figures import add_config_flags, mode_flag, parse_args, read_table
from dashsim.nn.figures import (add_methods_flag, add_train_flags, curve_table, data_phrase, finish, plot_curves,
                                run_all, seeds_phrase, task)

OUT = Path(__file__).resolve().parent / "out"  # default output folder


def add_flags(parser) -> None:
    from dashsim.nn.protocols.discarding import Discarding

    add_train_flags(parser, ("model", "width", "J", "subset", "max_epochs", "seeds"), full={"seeds": (0, 1, 2)},
                    quick={"J": 4})
    add_methods_flag(parser, ("dash", "sp"))
    mode_flag(parser, "--periods", type=int, nargs="+", full=(10, 15, 20), quick=(2,),
              help="m values: the method runs every m experiments, one curve per (method, m)")
    add_config_flags(parser, Discarding, ["stop_after"], quick={"stop_after": 3}, title="protocol settings")


def curves_to_run(args) -> list[tuple[str, str, int, int]]:
    """(label, method, m, stop_after) per curve: the periodic methods, then warm and cold (every experiment)."""
    periodic = [(f"{method} every {m}", method, m, args.stop_after) for m in args.periods for method in args.methods]
    return periodic + [("warm", "warm", 1, args.J), ("cold", "cold", 1, args.J)]


def metrics(args):
    """Run (or read from the cache) discarding for every (curve, seed); one row per experiment, method = curve label."""
    from dashsim.nn import run_discarding

    tasks = [task(args, "discarding", {"model": args.model, "width": args.width, "method": method, "J": args.J,
                                       "seeds": (seed,), "subset": args.subset, "max_epochs": args.max_epochs},
                  run_discarding, sweep={"m": m, "stop_after": stop_after}, m=m, stop_after=stop_after,
                  columns={"method": label})
             for seed in args.seeds for label, method, m, stop_after in curves_to_run(args)]
    return run_all(args, tasks)


def main(argv=None) -> None:
    args = parse_args(__doc__, argv, add_flags, default_out=OUT)
    labels = [c[0] for c in curves_to_run(args)]
    table = read_table(args, "appendix_discarding") if args.replot else curve_table(metrics(args), labels)
    title = (f"Data discarding (App. C.4.3): {data_phrase(args)}, {args.model}, J={args.J}, method stops after "
             f"j={args.stop_after}, {seeds_phrase(args)}")
    figure = plot_curves(table, labels, xlabel="experiment j (trained on chunk j only)", title=title)
    finish(args, "appendix_discarding", table, figure)


if __name__ == "__main__":
    main()
