"""Figure 6 of the DASH paper: gradient norm at the start of an experiment vs the steps it then takes to converge.

The main protocol (paper Section 5) for cold, warm, S&P and DASH; at the start of experiment j
(after the method's step, before training) the probe :func:`dashsim.nn.diagnostics.gradient_norm_probe`
measures ``||grad L(T_{1:j})||`` in eval mode. One point per (method, seed, experiment): x = that
norm, y = the optimizer steps experiment j took to reach 99.9% train accuracy (log-log axes).

Full mode: the paper's model, J and seeds on the offline data (ResNet-18, J=50, all of Fashion-MNIST, seeds 0-4; a GPU job). A
CPU-sized run, e.g. ``--model mlp --J 10 --subset 10000 --max-epochs 30 --seeds 0 1 2``.
``--quick``: digits, MLP of width 32, 450 images, J=3, at most 30 epochs, 2 seeds.

This file also holds the flags and the cached probed runs that ``figure7.py``, ``figure14.py``,
``figure16.py`` and ``ash_adams_pearson.py`` share (Figure 7 reads exactly these runs).
Writes ``figure6.png`` and ``figure6.csv`` (the plotted points).
"""

from __future__ import annotations

import _common
import _training

FULL = {"model": "resnet18", "width": 1000, "J": 50, "subset": None, "max_epochs": 100, "seeds": [0, 1, 2, 3, 4],
        "methods": ["cold", "warm", "sp", "dash"]}
QUICK = dict(FULL, model="mlp", width=32, J=3, subset=450, max_epochs=30, seeds=[0, 1])


def add_flags(parser, *, full: dict = FULL, quick: dict = QUICK, methods: bool = True, chunks: bool = True) -> None:
    """The flags of the diagnostics scripts (all default to None: the quick or full default)."""
    _training.add_run_flags(parser, full, quick, skip=() if methods else ("methods",))
    if chunks:
        parser.add_argument("--J", type=int, default=None, help=f"number of chunks / experiments (full: {full['J']}; quick: {quick['J']})")


def parse_args(doc: str, argv, *, full: dict = FULL, quick: dict = QUICK, methods: bool = True, chunks: bool = True, extra=None):
    """The script's arguments; ``extra(parser)`` adds script-specific flags (defaults None, filled from full/quick)."""
    def add(parser) -> None:
        add_flags(parser, full=full, quick=quick, methods=methods, chunks=chunks)
        if extra is not None:
            extra(parser)

    return _training.parse_args(doc, argv, add, quick_defaults=quick, full_defaults=full)


def probed_metrics(args, name: str, *, probe=None, probe_after=None, variants=None):
    """Rows of the main protocol with ``probe``/``probe_after`` columns, one cached run per (seed, variant).

    ``variants``: method objects, e.g. ``Dash(alpha=0.5, lam=0.9)`` (default: each of ``args.methods``
    at its defaults); the rows carry each method's hyper-parameters as typed columns. ``name`` is
    the cache folder, so scripts whose probes differ never share a run folder.
    """
    import pandas as pd

    from dashsim.nn import load_dataset, make_method, run_incremental

    dataset = load_dataset(args.data, args.data_root)
    frames = []
    for seed in args.seeds:
        for method in variants or [make_method(m) for m in args.methods]:
            fields = {"model": args.model, "width": args.width, "method": method.name, "J": args.J, "seeds": (seed,),
                      "subset": args.subset, "max_epochs": args.max_epochs}
            run = lambda config, method=method: run_incremental(  # noqa: E731
                config, dataset=dataset, method=method, progress=not args.no_progress, probe=probe, probe_after=probe_after)
            frames.append(_training.cached_run(args, name, fields, run, sweep={"method_params": method.hyperparameters()}))
    return pd.concat(frames, ignore_index=True)


def setting(args) -> str:
    """One line naming the setting, for titles."""
    return _training.setting_line(args, f"J={args.J}")


def wrapped(title: str, width: int = 90) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(title, width))


def band_table(metrics, column: str):
    """The plotted numbers of a per-experiment curve: seed mean and std of ``column`` per (method, n_train)."""
    out = metrics.groupby(["method", "n_train"], sort=False).agg(
        **{f"{column}_mean": (column, "mean"), f"{column}_std": (column, "std")}, n_seeds=("seed", "nunique"))
    return out.reset_index()


def plot_bands(table, methods, column: str, *, ylabel: str, title: str, xlabel: str = "training images $n_{train}$",
               zero_line: bool = False):
    """One line per method of ``column``'s seed mean against n_train, with a mean +- std band."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.8))
    for colour, method in enumerate(methods):
        c = table[table["method"] == method]
        mean, std = c[f"{column}_mean"], c[f"{column}_std"].fillna(0.0)
        ax.plot(c["n_train"], mean, marker="o", markersize=3, color=f"C{colour}", label=method)
        ax.fill_between(c["n_train"], mean - std, mean + std, alpha=0.2, color=f"C{colour}", linewidth=0)
    if zero_line:
        ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.legend()
    ax.set_title(wrapped(title), fontsize=9)
    fig.tight_layout()
    return fig


def metrics(args):
    """The cached runs of Figures 6 and 7: the main protocol with the gradient norm at each experiment's start."""
    from dashsim.nn.diagnostics import gradient_norm_probe

    return probed_metrics(args, "figure6", probe=gradient_norm_probe)


def plot(table, methods, title):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.8))
    for colour, method in enumerate(methods):
        rows = table[table["method"] == method]
        done, capped = rows[rows["converged"]], rows[~rows["converged"]]
        ax.scatter(done["grad_norm"], done["steps"], s=14, alpha=0.7, color=f"C{colour}", label=method)
        # Experiments that hit the epoch cap: their step count is a lower bound.
        ax.scatter(capped["grad_norm"], capped["steps"], s=18, alpha=0.7, color=f"C{colour}", marker="x",
                   label=f"{method} (epoch cap)" if len(capped) else None)
    ax.set(xscale="log", yscale="log", xlabel="gradient norm at the start of experiment j (eval mode, on $T_{1:j}$)",
           ylabel="optimizer steps in experiment j")
    ax.legend()
    ax.set_title(wrapped(title), fontsize=9)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = parse_args(__doc__, argv)
    table = metrics(args)[["method", "seed", "experiment", "n_train", "grad_norm", "steps", "converged"]]
    _common.write_table(args, "figure6", table, plot(table, args.methods, f"Figure 6: {setting(args)}"))


if __name__ == "__main__":
    main()
