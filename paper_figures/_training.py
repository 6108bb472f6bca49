"""Plumbing shared by the torch figure scripts (Figures 1, 2, 6, 7, 13, 14, 16-18, Table 1, the appendix and Ash & Adams scripts).

Each script has a few flags of its own (model, J, subset, ...) on top of :func:`_common.parse_args`'s;
their defaults depend on ``--quick`` (tiny digits runs for CI) or full mode (the paper's model, J
and seeds, on Fashion-MNIST unless ``--data`` says otherwise).
Runs go through the library's resumable protocols, one cached run folder per configuration
(:func:`_common.run_dir`), so a second script reading the same runs recomputes nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Callable

import _common


def parse_args(doc: str, argv, add_flags: Callable[[argparse.ArgumentParser], None], *, quick_defaults: dict[str, Any],
               full_defaults: dict[str, Any]) -> argparse.Namespace:
    """``_common.parse_args`` plus the script's own flags; unset flags take the quick or full default.

    Flags added by ``add_flags`` must default to None; after parsing, each None is replaced by
    ``quick_defaults[dest]`` with ``--quick`` and by ``full_defaults[dest]`` otherwise.
    """
    own = argparse.ArgumentParser(add_help=False, usage=argparse.SUPPRESS)
    add_flags(own)
    known, rest = own.parse_known_args(argv)
    # The common parser owns --help, so the script's flags are shown in its description.
    args = _common.parse_args(doc + "\n" + own.format_help(), rest, data=True)
    if args.quick:
        import torch

        # Tiny models: a second thread only adds synchronization, and under load it costs 10x.
        torch.set_num_threads(1)
    defaults = quick_defaults if args.quick else full_defaults
    for name, value in vars(known).items():
        setattr(args, name, defaults.get(name) if value is None else value)
    return args


def int_list(parser: argparse.ArgumentParser, flag: str, help_text: str) -> None:
    parser.add_argument(flag, type=int, nargs="+", default=None, help=help_text)


# The run flags most scripts share: dest -> (flag, argparse keywords, help without the defaults).
RUN_FLAGS = {
    "model": ("--model", {}, "network"),
    "width": ("--width", {"type": int}, "MLP hidden width"),
    "subset": ("--subset", {"type": int}, "train on a seeded random subset of this many images"),
    "max_epochs": ("--max-epochs", {"type": int}, "epoch cap per {unit}"),
    "seeds": ("--seeds", {"type": int, "nargs": "+"}, "seeds"),
    "methods": ("--methods", {"nargs": "+"}, "methods"),
}


def _shown(value: Any) -> str:
    if value is None:
        return "all"
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def add_run_flags(parser: argparse.ArgumentParser, full: dict[str, Any], quick: dict[str, Any], *, skip=(),
                  unit: str = "experiment") -> None:
    """Declare ``--model --width --subset --max-epochs --seeds --methods`` (less ``skip``, given as dests), each defaulting to None.

    :func:`parse_args` then fills them from ``quick`` or ``full``; the help shows both of those
    defaults, read from the same dicts, so it cannot drift from them. ``unit`` names what the epoch
    cap applies to (experiment, round, phase).
    """
    for dest, (flag, keywords, text) in RUN_FLAGS.items():
        if dest in skip:
            continue
        shown = f"full: {_shown(full.get(dest))}" + ("" if quick.get(dest) == full.get(dest) else f"; quick: {_shown(quick.get(dest))}")
        parser.add_argument(flag, default=None, help=f"{text.format(unit=unit)} ({shown})", **keywords)



def train_config(args: argparse.Namespace, **fields: Any):
    """A :class:`~dashsim.nn.TrainConfig` on the script's data and device, with ``fields`` set."""
    from dashsim.nn import TrainConfig

    return TrainConfig(data=args.data, data_root=args.data_root, device=args.device, **fields)


def cached_run(args: argparse.Namespace, name: str, fields: dict[str, Any], run: Callable[[Any], Any],
               *, sweep: dict[str, Any] | None = None):
    """The metrics of one cached run: ``run(config)`` with its run folder in the script's cache.

    ``fields`` set the run's :class:`~dashsim.nn.TrainConfig`; ``sweep`` (e.g. the method's
    hyper-parameters, the swept pretrain lengths) only joins the cache key. The engine resumes the
    folder: a finished run trains nothing and returns its rows, an unfinished one continues.

    The folder is :func:`_common.run_dir` of the data set and the script's explicit ``fields`` only,
    so a field added to :class:`~dashsim.nn.TrainConfig` later (with a default that keeps the old
    behaviour) does not move finished runs.
    """
    folder = _common.run_dir(args, name, {"data": args.data, **fields, **(sweep or {})})
    return run(dataclasses.replace(train_config(args, **fields), out=folder))

# The main protocol (Figure 1, Table 1): the paper's model, J and seeds in full mode, tiny digits runs with --quick.
INCREMENTAL_FULL = {"model": "resnet18", "width": 1000, "J": 50, "subset": None, "max_epochs": 100,
                    "seeds": [0, 1, 2, 3, 4], "methods": ["cold", "warm", "sp", "dash"], "optimizers": ["sgd", "sam"]}
INCREMENTAL_QUICK = dict(INCREMENTAL_FULL, model="mlp", width=32, J=3, subset=450, max_epochs=10, seeds=[0, 1])


def add_incremental_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of the main protocol's scripts (all default to None: quick or full default)."""
    add_run_flags(parser, INCREMENTAL_FULL, INCREMENTAL_QUICK)
    parser.add_argument("--J", type=int, default=None, help="number of chunks / experiments (full: 50; quick: 3)")
    parser.add_argument("--optimizers", nargs="+", default=None, help="base optimizers (default: sgd sam)")
    int_list(parser, "--sam-seeds", "seeds of the SAM runs (default: --seeds; SAM costs two passes a step)")


def incremental_runs(args: argparse.Namespace, name: str, grid: list[dict[str, Any]]):
    """Run (or read from the cache ``name``) the main protocol once per settings dict of ``grid``; rows concatenated.

    Each dict holds :class:`~dashsim.nn.TrainConfig` fields of one single-seed run (its own run
    folder, so adding a seed or a method later reuses the finished runs); the rows get an
    ``optimizer`` column to tell SGD, SAM and Adam runs apart.
    """
    import pandas as pd

    from dashsim.nn import load_dataset, run_incremental

    dataset = load_dataset(args.data, args.data_root)  # once, shared by every run
    run = lambda config: run_incremental(config, dataset=dataset, progress=not args.no_progress)  # noqa: E731
    return pd.concat([cached_run(args, name, fields, run).assign(optimizer=fields.get("optimizer", "sgd"))
                      for fields in grid], ignore_index=True)


def incremental_metrics(args: argparse.Namespace):
    """The main protocol for every (optimizer, seed, method) of the flags; one row per experiment.

    Seed by seed, so an interrupted run has every method for its first seeds.
    """
    grid = [{"model": args.model, "width": args.width, "method": method, "J": args.J, "seeds": (seed,),
             "subset": args.subset, "max_epochs": args.max_epochs, "optimizer": optimizer}
            for optimizer in args.optimizers
            for seed in ((args.sam_seeds or args.seeds) if optimizer == "sam" else args.seeds)
            for method in args.methods]
    return incremental_runs(args, "incremental", grid)


def setting_line(args: argparse.Namespace, protocol: str, *, extra: str = "", seeds_note: str = "") -> str:
    """One line naming a run's setting, for titles: data, model, ``protocol`` (e.g. "J=10"), subset, ``extra``, cap, seeds."""
    subset = f", subset {args.subset}" if args.subset else ""
    return (f"{args.data}, {args.model}{f' (width {args.width})' if args.model == 'mlp' else ''}, {protocol}{subset}{extra}, "
            f"max {args.max_epochs} epochs, seeds {' '.join(map(str, args.seeds))}{seeds_note}" + (" (quick)" if args.quick else ""))


def incremental_setting(args: argparse.Namespace) -> str:
    """One line naming the main protocol's setting, for titles."""
    sam = f" (SAM: {' '.join(map(str, args.sam_seeds))})" if args.sam_seeds and "sam" in args.optimizers else ""
    return setting_line(args, f"J={args.J}", seeds_note=sam)


def data_phrase(args: argparse.Namespace) -> str:
    """The data set and, when given, its subset size, for titles."""
    return f"{args.data}, subset {args.subset}" if args.subset else args.data


def seeds_phrase(args: argparse.Namespace) -> str:
    """"N seed(s)", marked "(quick)" in quick mode, for titles."""
    n = len(args.seeds)
    return f"{n} seed{'s' if n > 1 else ''}" + (" (quick)" if args.quick else "")


def curve_table(rows, labels):
    """The plotted numbers of :func:`plot_curves`: seed mean and std per (curve, experiment), curves in legend order."""
    from dashsim.nn.plotting import incremental_curves

    table = incremental_curves(rows).set_index("method").loc[labels].reset_index()
    return table[["method", "experiment", "n_seeds", "test_accuracy_mean", "test_accuracy_std", "steps_mean", "steps_std"]]


def plot_curves(rows, labels, *, xlabel: str, title: str):
    """:func:`dashsim.nn.plot_incremental`'s two panels for the appendix protocols, one colour per curve in order.

    Warm and cold are dashed: they are the references that run every experiment, drawn next to
    curves (e.g. "dash every 10") that are not in the paper's per-method colours.
    """
    from dashsim.nn.plotting import plot_incremental

    fig = plot_incremental(rows, methods=labels, xlabel=xlabel, colours={label: f"C{i}" for i, label in enumerate(labels)},
                           linestyles={"warm": "--", "cold": "--"})
    fig.axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def render_table(cells: list[list[str]], header: list[str], title: str, *, footer: str | None = None):
    """A table of strings drawn as a matplotlib figure (for the scripts whose figure is a table)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(8.0, 1.3 * len(header)), 0.45 * len(cells) + 1.4))
    ax.axis("off")
    drawn = ax.table(cellText=cells, colLabels=header, loc="center", cellLoc="center")
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(9)
    drawn.scale(1, 1.4)
    ax.set_title(title, fontsize=10)
    if footer:
        fig.text(0.5, 0.02, footer, ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.05 if footer else 0, 1, 1))
    return fig
