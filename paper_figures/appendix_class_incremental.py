"""Appendix C.4 of the DASH paper: class-incremental learning with accumulated data, cold / warm / S&P / DASH.

Round r adds every training image of one more class (the class order is drawn from the seed) and
keeps the old ones; the method's step runs with one chunk per class, then the model trains on all
seen classes until the epoch's train accuracy reaches 99.9% (or the epoch cap) and is scored on
the test images of the seen classes. Panels: test accuracy and optimizer steps vs round, mean +-
std over seeds.

Full mode: ResNet-18 on all of Fashion-MNIST (10 rounds), seeds 0-2 (a GPU job). The committed CPU
result (``paper_figures/results``; about 10 min on 2 shared cores): ``--model mlp --width 256
--subset 6000 --max-epochs 50 --seeds 0 1 --out paper_figures/results`` (some late rounds stop at
the 50-epoch cap, circled). ``--quick``: digits, MLP of width 32, 300 images, 4 classes.

Each (method, seed) run is cached in a resumable run folder. Writes ``appendix_class_incremental.png``,
``.pdf`` and ``appendix_class_incremental.csv`` (the plotted means and stds per method and round, and
``n_capped``); ``--replot`` redraws from the CSV.
"""

from __future__ import annotations

from pathlib import Path

from dashsim.figures import add_config_flags, parse_args, read_table
from dashsim.nn.figures import (MAIN_METHODS, add_methods_flag, add_train_flags, curve_table, data_phrase, finish,
                                plot_curves, run_all, seeds_phrase, task)

OUT = Path(__file__).resolve().parent / "out"  # default output folder


def add_flags(parser) -> None:
    from dashsim.nn.protocols.class_incremental import ClassIncremental

    add_train_flags(parser, ("model", "width", "subset", "max_epochs", "seeds"), full={"seeds": (0, 1, 2)})
    add_config_flags(parser, ClassIncremental, ["n_classes"], quick={"n_classes": 4}, title="protocol settings")
    add_methods_flag(parser, MAIN_METHODS)


def metrics(args):
    """Run (or read from the cache) the class-incremental protocol for every (method, seed); one row per round."""
    from dashsim.nn import run_class_incremental

    return run_all(args, [task(args, "class_incremental", {"model": args.model, "width": args.width, "method": method,
                                                           "seeds": (seed,), "subset": args.subset,
                                                           "max_epochs": args.max_epochs},
                               run_class_incremental, sweep={"n_classes": args.n_classes}, n_classes=args.n_classes)
                          for seed in args.seeds for method in args.methods])


def main(argv=None) -> None:
    args = parse_args(__doc__, argv, add_flags, default_out=OUT)
    table = read_table(args, "appendix_class_incremental") if args.replot else curve_table(metrics(args), args.methods)
    title = (f"Class-incremental with accumulation (App. C.4): {data_phrase(args)}, {args.model}, "
             f"max {args.max_epochs} epochs, {seeds_phrase(args)}")
    figure = plot_curves(table, args.methods, xlabel="round r (classes seen; scored on them)", title=title)
    finish(args, "appendix_class_incremental", table, figure)


if __name__ == "__main__":
    main()
