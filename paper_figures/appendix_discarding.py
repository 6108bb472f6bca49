"""Appendix C.4.3 of the DASH paper: data discarding, with DASH or S&P every m experiments vs warm and cold.

The training set is split into J equal chunks; experiment j trains only on the newest chunk T_j
(older data are discarded) until the epoch's train accuracy reaches 99.9% (or the epoch cap).
DASH / S&P run before experiment j when j % m == 0 and j <= stop_after (the paper: m = 10, 15,
20, stopped after experiment 40); warm keeps the model throughout; cold re-initializes it before
every experiment. Panels: test accuracy and optimizer steps vs experiment, mean +- std over seeds.

Full mode: ResNet-18, J=50, all of Fashion-MNIST (the paper: CIFAR-10), m in {10, 15, 20}, seeds
0-2 (a GPU job). The committed CPU result (``paper_figures/results``; about 10 min on 2 shared cores):
``--model mlp --width 1000 --J 20 --subset 20000 --periods 5 --stop-after 15 --max-epochs 50 --seeds 0 1
--out paper_figures/results``. ``--quick``: digits, MLP of width 32, J=4, m=2.

Each (curve, seed) run is cached in a resumable run folder. Writes ``appendix_discarding.png`` and
``appendix_discarding.csv`` (the plotted means and stds per curve and experiment).
"""

from __future__ import annotations

import _common
import _training

FULL = {"model": "resnet18", "width": 1000, "J": 50, "periods": [10, 15, 20], "stop_after": 40, "subset": None,
        "max_epochs": 100, "seeds": [0, 1, 2], "methods": ["dash", "sp"]}
QUICK = dict(FULL, model="mlp", width=32, J=4, periods=[2], stop_after=3, subset=400, max_epochs=30, seeds=[0, 1])


def add_flags(parser) -> None:
    _training.add_run_flags(parser, FULL, QUICK)
    parser.add_argument("--J", type=int, default=None, help="number of chunks / experiments (full: 50; quick: 4)")
    _training.int_list(parser, "--periods", "m values: the method runs every m experiments (full: 10 15 20)")
    parser.add_argument("--stop-after", type=int, default=None, help="last experiment the method may run before (full: 40)")


def curves_to_run(args) -> list[tuple[str, str, int, int]]:
    """(label, method, m, stop_after) per curve: the periodic methods, then warm and cold (every experiment)."""
    periodic = [(f"{method} every {m}", method, m, args.stop_after) for m in args.periods for method in args.methods]
    return periodic + [("warm", "warm", 1, args.J), ("cold", "cold", 1, args.J)]


def metrics(args):
    """Run (or read from the cache) discarding for every (curve, seed); one row per experiment, ``method`` = curve label."""
    import pandas as pd

    from dashsim.nn import load_dataset, run_discarding

    dataset = load_dataset(args.data, args.data_root)
    frames = []
    for seed in args.seeds:
        for label, method, m, stop_after in curves_to_run(args):
            fields = {"model": args.model, "width": args.width, "method": method, "J": args.J, "seeds": (seed,),
                      "subset": args.subset, "max_epochs": args.max_epochs}
            run = lambda config, m=m, s=stop_after: run_discarding(config, m=m, stop_after=s, dataset=dataset, progress=not args.no_progress)  # noqa: E731
            rows = _training.cached_run(args, "discarding", fields, run, sweep={"m": m, "stop_after": stop_after})
            frames.append(rows.assign(method=label))
    return pd.concat(frames, ignore_index=True)


def main(argv=None) -> None:
    args = _training.parse_args(__doc__, argv, add_flags, quick_defaults=QUICK, full_defaults=FULL)
    labels = [c[0] for c in curves_to_run(args)]
    rows = metrics(args)
    table = _training.curve_table(rows, labels)
    title = (f"Data discarding (App. C.4.3): {_training.data_phrase(args)}, {args.model}, J={args.J}, method stops after j={args.stop_after}, "
             f"{_training.seeds_phrase(args)}")
    figure = _training.plot_curves(rows, labels, xlabel="experiment j (trained on chunk j only)", title=title)
    _common.write_table(args, "appendix_discarding", table, figure)


if __name__ == "__main__":
    main()
