"""Appendix C.4 of the DASH paper: class-incremental learning with accumulated data, cold / warm / S&P / DASH.

Round r adds every training image of one more class (the class order is drawn from the seed) and
keeps the old ones; the method's step runs with one chunk per class, then the model trains on all
seen classes until the epoch's train accuracy reaches 99.9% (or the epoch cap) and is scored on
the test images of the seen classes. Panels: test accuracy and optimizer steps vs round, mean +-
std over seeds.

Full mode: ResNet-18 on all of Fashion-MNIST (10 rounds), seeds 0-2 (a GPU job). The committed CPU
result (``paper_figures/results``; about 10 min on 2 shared cores): ``--model mlp --width 256
--subset 6000 --max-epochs 50 --seeds 0 1 --out paper_figures/results`` (some late rounds stop at
the 50-epoch cap). ``--quick``: digits, MLP of width 32, 300 images, 4 classes.

Each (method, seed) run is cached in a resumable run folder. Writes ``appendix_class_incremental.png``
and ``appendix_class_incremental.csv`` (the plotted means and stds per method and round).
"""

from __future__ import annotations

import _common
import _training

FULL = {"model": "resnet18", "width": 1000, "n_classes": None, "subset": None, "max_epochs": 100, "seeds": [0, 1, 2],
        "methods": ["cold", "warm", "sp", "dash"]}
QUICK = dict(FULL, model="mlp", width=32, n_classes=4, subset=300, max_epochs=20, seeds=[0, 1])


def add_flags(parser) -> None:
    _training.add_run_flags(parser, FULL, QUICK, unit="round")
    parser.add_argument("--n-classes", type=int, default=None, help="classes / rounds (full: all; quick: 4)")


def metrics(args, dataset):
    """Run (or read from the cache) the class-incremental protocol for every (method, seed); one row per round."""
    import pandas as pd

    from dashsim.nn import run_class_incremental

    frames = []
    for seed in args.seeds:
        for method in args.methods:
            fields = {"model": args.model, "width": args.width, "method": method, "seeds": (seed,), "subset": args.subset,
                      "max_epochs": args.max_epochs}
            run = lambda config: run_class_incremental(config, n_classes=args.n_classes, dataset=dataset, progress=not args.no_progress)  # noqa: E731
            frames.append(_training.cached_run(args, "class_incremental", fields, run, sweep={"n_classes": args.n_classes}))
    return pd.concat(frames, ignore_index=True)


def main(argv=None) -> None:
    from dashsim.nn import load_dataset

    args = _training.parse_args(__doc__, argv, add_flags, quick_defaults=QUICK, full_defaults=FULL)
    dataset = load_dataset(args.data, args.data_root)
    rows = metrics(args, dataset)
    table = _training.curve_table(rows, args.methods)
    title = (f"Class-incremental with accumulation (App. C.4): {_training.data_phrase(args)}, {args.model}, max {args.max_epochs} epochs, "
             f"{_training.seeds_phrase(args)}")
    figure = _training.plot_curves(rows, args.methods, xlabel="round r (classes seen; scored on them)", title=title)
    _common.write_table(args, "appendix_class_incremental", table, figure)


if __name__ == "__main__":
    main()
