"""The torch paper-figure scripts' machinery: their flags, their cached runs, their tables and plots.

Built on :mod:`dashsim.figures` (flags with a full and a quick default, run cache, outputs). A
script's run flags are :class:`~dashsim.nn.TrainConfig`'s fields (:func:`add_train_flags`), so a
setting the script does not change keeps the library's default. Its runs are :class:`RunTask`
objects mapped through the script's runner (:func:`dashsim.figures.make_runner`): each one is
a protocol call on one cached, resumable run folder ``<out>/cache/<name>/<hash>``, whose hash
covers the data set, the script's explicit :class:`~dashsim.nn.TrainConfig` fields and the swept
settings (so a field added to :class:`~dashsim.nn.TrainConfig` later, with a default that keeps
the old behaviour, does not move finished runs). The runner only runs (or resumes) the folders;
a script's rows are read back from them with :func:`dashsim.sweep.collect` (:func:`run_all`), so
a figure reads its data exactly as ``dashsim sweep --collect`` would.

Plots are drawn in the project's style (:mod:`dashsim.style`): one colour and line style per method,
``seaborn.lineplot(errorbar="sd")`` for curves over seeds, an open circle where some seed stopped
at the epoch cap (counted in the CSV's ``n_capped``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
from typing import Any, Callable, Optional, Sequence

import pandas as pd

from .. import style
from ..figures import add_config_flags, fit_title, mode_flag, run_dir
from ..stats import seed_stats

__all__ = ["TRAIN_QUICK", "PAPER_SEEDS", "FULL_MAX_EPOCHS", "paper_method", "MAIN_METHODS", "add_train_flags",
           "add_methods_flag", "add_incremental_flags", "incremental_metrics", "incremental_setting", "RunTask",
           "run_task", "task_rows", "run_all", "task", "incremental_tasks", "probed_tasks", "setting_line",
           "data_phrase", "seeds_phrase", "curve_stats", "plot_seed_curves", "curve_table", "plot_curves", "finish",
           "ONLINE_PROTOCOLS", "add_online_flags", "online_tasks", "online_setting"]

# The quick settings every torch figure starts from: scikit-learn's digits (a core dependency, so always
# installed; no download), a narrow MLP, a few hundred images, two seeds; each script shrinks or extends them.
TRAIN_QUICK = {"data": "digits", "model": "mlp", "width": 32, "subset": 300, "max_epochs": 20, "seeds": (0, 1)}
DATA_FIELDS = ("data", "data_root", "device")  # the TrainConfig fields every torch figure takes as flags
PAPER_SEEDS = (0, 1, 2, 3, 4)  # the DASH paper's seeds for the main protocol
# The DASH authors' epoch cap per experiment (main.py's --max_epochs 10000: none in practice), the
# full-mode cap of Figure 1 and Table 1, so no experiment is censored by it.
FULL_MAX_EPOCHS = 10_000
MAIN_METHODS = ("cold", "warm", "sp", "dash")  # the DASH paper's Figure 1 methods
# The TrainConfig fields of the main protocol's scripts.
INCREMENTAL_FIELDS = ("model", "width", "J", "subset", "max_epochs", "lr", "seeds")


def add_train_flags(parser, names: Sequence[str], *, full: Optional[dict] = None, quick: Optional[dict] = None) -> None:
    """Flags for the :class:`~dashsim.nn.TrainConfig` fields ``names`` (``--model``, ``--J``, ``--seeds``, ...).

    ``--data``, ``--data-root`` and ``--device`` (:data:`DATA_FIELDS`) come first, always. Full-mode
    defaults are the field's, unless ``full`` says otherwise; quick ones are :data:`TRAIN_QUICK`
    (digits, always present) updated by ``quick``. ``--seeds`` lists seeds that each get a run folder
    of their own (adding a seed later reuses the finished ones).
    """
    from .train import TrainConfig

    add_config_flags(parser, TrainConfig, [*DATA_FIELDS, *(n for n in names if n not in DATA_FIELDS)], full=full,
                     quick={**TRAIN_QUICK, **(quick or {})}, title="run settings (TrainConfig fields)")


def add_methods_flag(parser, full: Sequence[str], quick: Optional[Sequence[str]] = None) -> None:
    """``--methods``: the registered between-experiments methods to run, one curve each."""
    from .methods import METHODS

    mode_flag(parser, "--methods", nargs="+", choices=tuple(METHODS), full=tuple(full),
              quick=tuple(full if quick is None else quick), help="between-experiments methods, one curve each")


def add_incremental_flags(parser, *, quick: Optional[dict] = None, methods: Optional[Sequence[str]] = MAIN_METHODS,
                          optimizers: bool = False, full: Optional[dict] = None) -> None:
    """The flags of the main protocol's scripts: :data:`INCREMENTAL_FIELDS`, ``--methods`` and maybe ``--optimizers``.

    Full mode: the paper's setting (the :class:`~dashsim.nn.TrainConfig` defaults: ResNet-18, J = 50,
    100-epoch cap) with seeds :data:`PAPER_SEEDS` and ``full``'s changes (Figure 1 and Table 1:
    the authors' cap :data:`FULL_MAX_EPOCHS`); quick: :data:`TRAIN_QUICK` with J = 3 and
    ``quick``'s changes. ``methods=None`` leaves ``--methods`` out; ``optimizers=True`` adds
    ``--optimizers`` (full: SGD and SAM; quick: SGD) and ``--sam-seeds``.
    """
    from .train import OPTIMIZERS

    add_train_flags(parser, INCREMENTAL_FIELDS, full={"seeds": PAPER_SEEDS, **(full or {})},
                    quick={"J": 3, **(quick or {})})
    if methods is not None:
        add_methods_flag(parser, methods)
    if optimizers:
        mode_flag(parser, "--optimizers", nargs="+", choices=OPTIMIZERS, full=("sgd", "sam"), quick=("sgd",),
                  help="base optimizers, one row of panels each")
        parser.add_argument("--sam-seeds", type=int, nargs="+", default=None,
                            help="seeds of the SAM runs (default: --seeds; SAM costs two passes a step)")


def incremental_metrics(args: argparse.Namespace, name: str = "incremental") -> pd.DataFrame:
    """The main protocol for every (optimizer, seed, method) of the flags; one row per experiment.

    Seed by seed, so an interrupted run has every method for its first seeds. ``figure1.py`` and
    ``table1.py`` read the same run folders.
    """
    return run_all(args, incremental_tasks(args, name, incremental_grid(args)))


def incremental_grid(args: argparse.Namespace) -> list[dict]:
    """The TrainConfig fields of every single-seed run of the flags, seed by seed (each seed's methods together).

    ``lr`` is among them only when ``--lr`` was given (:func:`given_lr`).
    """
    return [{"model": args.model, "width": args.width, "method": method, "J": args.J, "seeds": (seed,),
             "subset": args.subset, "max_epochs": args.max_epochs, "optimizer": optimizer, **given_lr(args)}
            for optimizer in args.optimizers
            for seed in ((args.sam_seeds or args.seeds) if optimizer == "sam" else args.seeds)
            for method in args.methods]


def given_lr(args: argparse.Namespace) -> dict:
    """``{"lr": args.lr}`` when ``--lr`` was given, else ``{}``: runs at the model's default learning
    rate keep the cache keys they had before the flag existed."""
    return {} if getattr(args, "lr", None) is None else {"lr": args.lr}


def incremental_setting(args: argparse.Namespace) -> str:
    """One line naming the main protocol's setting, for titles."""
    sam = f" (SAM: {' '.join(map(str, args.sam_seeds))})" if args.sam_seeds and "sam" in args.optimizers else ""
    return setting_line(args, f"J={args.J}", seeds_note=sam)


@dataclasses.dataclass(frozen=True)
class RunTask:
    """One cached run of a figure: ``protocol(config, dataset=<data>, **kwargs)``; its rows get ``columns`` added.

    The rows are read back from the run folder (:func:`task_rows`); a protocol function that
    returns a table made from the engine's rows (:func:`~dashsim.nn.run_two_phase`:
    :func:`~dashsim.nn.protocols.two_phase_table`) names that function in ``table``
    (:func:`task` fills it in). Picklable (top-level functions, plain values), so an executor may
    run it elsewhere.
    """

    config: Any  # the TrainConfig, its ``out`` the cached run folder
    protocol: Callable[..., pd.DataFrame]  # e.g. dashsim.nn.run_incremental
    kwargs: dict  # the protocol's other arguments (method object, probes, protocol settings, progress)
    columns: dict = dataclasses.field(default_factory=dict)  # constant columns added to the rows (e.g. a label)
    table: Optional[Callable[[pd.DataFrame], pd.DataFrame]] = None  # engine rows -> the protocol's rows (if it differs)


def paper_method(name: str):
    """The registered method ``name`` as the DASH authors ran it: L2-Init's ``variant="authors"``, others as defaults.

    L2-Init's default formula is Kumar et al.'s sum of squares; the DASH authors' code squares the
    sum of per-layer Frobenius norms (baekrok/DASH-Direction-Aware-SHrinking @3d3cea6,
    ``utils/train_utils.py`` 73-87), which the paper's figures and tables use.
    """
    from .methods import make_method

    method = make_method(name)
    return dataclasses.replace(method, variant="authors") if method.name == "l2_init" else method


@functools.lru_cache(maxsize=4)
def _dataset(name: str, root: Optional[str]):
    from .data import load_dataset

    return load_dataset(name, root)


def run_task(item: RunTask) -> int:
    """Run (or resume, or find finished) one :class:`RunTask` in its run folder; the number of rows it holds.

    Called for its side effect, the finished run folder: :func:`task_rows` reads the rows back.
    The data set is loaded once per process and shared by every run of that process.
    """
    dataset = _dataset(item.config.data, item.config.data_root)
    return len(item.protocol(item.config, dataset=dataset, **item.kwargs))


def task_rows(tasks: Sequence[RunTask]) -> pd.DataFrame:
    """The rows of the tasks' run folders, in task order: :func:`dashsim.sweep.collect` plus each task's columns.

    Per task, ``collect(<run folder>)`` (the engine's rows as the protocol returned them, its
    ``config.json`` settings as columns, ``run`` its folder), made into the protocol's table by
    :attr:`RunTask.table` if set, with the task's :attr:`RunTask.columns` assigned; the tables are
    concatenated, so the result is ``collect(<the tasks' folders>)`` with those columns added.
    """
    from ..sweep import collect

    frames = []
    for item in tasks:
        rows = collect([item.config.out])
        if rows.empty:
            raise RuntimeError(f"run folder {item.config.out} holds no finished round after its run")
        rows = item.table(rows) if item.table is not None else rows
        frames.append(rows.assign(**item.columns) if item.columns else rows)
    return pd.concat(frames, ignore_index=True, sort=False)


def task(args: argparse.Namespace, name: str, fields: dict, protocol: Callable, *, sweep: Optional[dict] = None,
         columns: Optional[dict] = None, **kwargs: Any) -> RunTask:
    """A :class:`RunTask` on the script's data and device, with its run folder in the script's cache.

    ``fields`` set the run's :class:`~dashsim.nn.TrainConfig`; ``sweep`` (a method's
    hyper-parameters, a protocol setting) joins only the cache key: the folder is
    :func:`dashsim.figures.run_dir` ``(args, name, {"data": args.data, **fields, **sweep})``.
    A method named ``"l2_init"`` without a method object in ``kwargs`` runs as
    :func:`paper_method` makes it (the DASH authors' formula), its hyper-parameters in the key.
    """
    from .train import TrainConfig

    if fields.get("method") == "l2_init" and "method" not in kwargs:
        kwargs["method"] = paper_method("l2_init")
        sweep = {**(sweep or {}), "method_params": kwargs["method"].hyperparameters()}

    folder = run_dir(args, name, {"data": args.data, **fields, **(sweep or {})})
    config = TrainConfig(data=args.data, data_root=args.data_root, device=args.device, out=str(folder), **fields)
    return RunTask(config, protocol, {"progress": args.progress, **kwargs}, dict(columns or {}),
                   _reshaping().get(protocol))


def _reshaping() -> dict:
    """The protocol functions whose rows are a table of the engine's rows, and the function making it."""
    from .protocols import run_two_phase, two_phase_table

    return {run_two_phase: two_phase_table}


def run_all(args: argparse.Namespace, tasks: Sequence[RunTask]) -> pd.DataFrame:
    """Run every task through the script's runner (``args.runner``), then read their rows back (:func:`task_rows`).

    The runner runs (or resumes) each task's run folder, anywhere; the rows always come from the
    finished folders through :func:`dashsim.sweep.collect`, in task order.
    """
    from ..figures import make_runner

    tasks = list(tasks)
    runner = getattr(args, "runner", None) or make_runner(args)
    runner.map(run_task, tasks)
    return task_rows(tasks)


def incremental_tasks(args: argparse.Namespace, name: str, grid: Sequence[dict]) -> list[RunTask]:
    """One main-protocol run per settings dict of ``grid`` (TrainConfig fields of a single-seed run).

    The rows get an ``optimizer`` column to tell SGD, SAM and Adam runs apart.
    """
    from .protocols import run_incremental

    return [task(args, name, fields, run_incremental, columns={"optimizer": fields.get("optimizer", "sgd")})
            for fields in grid]


def probed_tasks(args: argparse.Namespace, name: str, *, probe=None, probe_after=None, variants=None
                 ) -> list[RunTask]:
    """The main protocol with ``probe`` / ``probe_after`` columns, one run per (seed, variant).

    ``variants``: method objects, e.g. ``Dash(alpha=0.5, lam=0.9)`` (default: each of
    ``args.methods`` as :func:`paper_method` makes it); the rows carry each method's
    hyper-parameters as typed columns. ``name`` is the cache folder, so scripts whose probes differ
    never share a run folder.
    """
    from .protocols import run_incremental

    tasks = []
    for seed in args.seeds:
        for method in variants or [paper_method(m) for m in args.methods]:
            fields = {"model": args.model, "width": args.width, "method": method.name, "J": args.J, "seeds": (seed,),
                      "subset": args.subset, "max_epochs": args.max_epochs, **given_lr(args)}
            tasks.append(task(args, name, fields, run_incremental, sweep={"method_params": method.hyperparameters()},
                              method=method, probe=probe, probe_after=probe_after))
    return tasks


def setting_line(args: argparse.Namespace, protocol: str, *, extra: str = "", seeds_note: str = "") -> str:
    """One line naming a run's setting, for titles: data, model, ``protocol`` (e.g. "J=10"), subset, cap, seeds."""
    subset = f", subset {args.subset}" if args.subset else ""
    width = f" (width {args.width})" if args.model == "mlp" else ""
    lr = f", lr {args.lr:g}" if getattr(args, "lr", None) is not None else ""
    return (f"{args.data}, {args.model}{width}, {protocol}{subset}{extra}{lr}, max {args.max_epochs} epochs, "
            f"seeds {' '.join(map(str, args.seeds))}{seeds_note}" + (" (quick)" if args.quick else ""))


def data_phrase(args: argparse.Namespace) -> str:
    """The data set and, when given, its subset size, for titles."""
    return f"{args.data}, subset {args.subset}" if args.subset else args.data


def seeds_phrase(args: argparse.Namespace) -> str:
    """"N seed(s)", marked "(quick)" in quick mode, for titles."""
    n = len(args.seeds)
    return f"{n} seed{'s' if n > 1 else ''}" + (" (quick)" if args.quick else "")


def curve_stats(rows: pd.DataFrame, by: Sequence[str], values: Sequence[str]) -> pd.DataFrame:
    """The plotted numbers of curves over seeds: :func:`dashsim.stats.seed_stats` plus ``n_capped``.

    ``n_capped`` (when the rows have ``converged``) counts, per group, the seeds whose round
    stopped at the epoch cap (:func:`dashsim.style.capped_counts`).
    """
    return style.with_capped_counts(seed_stats(rows, list(by), list(values)), rows, by)


def plot_seed_curves(panels: Sequence[tuple[str, str]], table: pd.DataFrame, *, x: str, hue: str = "method",
                     order: Sequence[str], xlabel: str, title: str, scale: float = 100.0, styles=None,
                     facet: Optional[str] = None, facet_order: Optional[Sequence] = None, marker: Optional[str] = "o",
                     zero_line: bool = False, sharey: bool = False):
    """Curves over seeds, one panel per ``(column, ylabel)`` of ``panels`` (or per value of ``facet``).

    Each curve is :func:`dashsim.style.seed_lineplot` of the summary ``table`` (``<column>_mean`` and
    ``_std``), with :func:`dashsim.style.mark_capped` circles where ``n_capped > 0``.

    Parameters
    ----------
    panels : (column, y label) per panel; with ``facet``, a single pair drawn once per facet value.
    table : the plotted numbers (a summary with ``<column>_mean``, ``<column>_std``, and maybe ``n_capped``).
    x, hue, order : the x column, the column naming a curve and the curves in legend order.
    xlabel, title : axis label and figure title.
    scale : multiplies the values (100: fractions as percent).
    styles : per curve, style overrides (see :func:`dashsim.style.method_styles`).
    facet, facet_order : draw one panel per value of this column.
    marker : marker of the mean points (None: a plain line).
    zero_line : draw y = 0.
    sharey : panels share the y axis.
    """
    import matplotlib.pyplot as plt

    cells = ([(value, panels[0]) for value in (facet_order or list(dict.fromkeys(table[facet])))] if facet
             else [(None, p) for p in panels])
    with style.theme():
        fig, axes = plt.subplots(1, len(cells), figsize=(4.6 * len(cells) + 0.8, 3.9), squeeze=False, sharey=sharey)
        for ax, (value, (column, ylabel)) in zip(axes[0], cells):
            part = table if facet is None else table[table[facet] == value]
            present = [name for name in order if name in set(part[hue])]
            kws = {"marker": marker, "markersize": 4} if marker else {}
            style.seed_lineplot(ax, part, x, column, hue=hue, order=present, styles=styles, scale=scale, **kws)
            if "n_capped" in part.columns:
                style.mark_capped(ax, part, x, column, hue=hue, order=present, styles=styles, scale=scale)
            if zero_line:
                ax.axhline(0.0, color="grey", linewidth=0.6)
            ax.set(xlabel=xlabel, ylabel=ylabel, title=None if facet is None else str(value).replace("-", " "))
            if ax is not axes[0][0] and ax.get_legend() is not None:
                ax.get_legend().remove()
        fit_title(fig, title, fontsize=9)
        fig.tight_layout()
    return fig


def finish(args: argparse.Namespace, name: str, table: pd.DataFrame, figure) -> None:
    """Write the figure's CSV, PNG and PDF (:func:`dashsim.figures.write_table`)."""
    from ..figures import write_table

    write_table(args, name, table, figure)


def curve_table(rows: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """The plotted numbers of :func:`plot_curves`: :func:`~dashsim.nn.plotting.incremental_curves`, in legend order."""
    from .plotting import incremental_curves

    return incremental_curves(rows).set_index("method").loc[list(labels)].reset_index()


def plot_curves(table: pd.DataFrame, labels: Sequence[str], *, xlabel: str, title: str):
    """:func:`dashsim.nn.plot_incremental`'s two panels (test accuracy, steps) for the appendix protocols.

    Registered methods keep the project's colour and line style; other labels (e.g. "dash every 10")
    get their own (:func:`dashsim.style.method_styles`).
    """
    from .plotting import plot_incremental

    with style.theme():
        fig = plot_incremental(table, methods=list(labels), xlabel=xlabel)
        fit_title(fig, title, fontsize=9)
        fig.tight_layout()
    return fig


ONLINE_PROTOCOLS = ("passive-online", "active-online")  # Ash & Adams' online settings


def add_online_flags(parser, *, quick: Optional[dict] = None) -> None:
    """The flags of Ash & Adams' online scripts: run fields of :class:`~dashsim.nn.TrainConfig` and the online plan's.

    Full: the paper's model (ResNet-18) on all the data, k = 1000 for as many rounds as the data
    allow, seeds :data:`PAPER_SEEDS`; quick: :data:`TRAIN_QUICK`, seed 0, k = 100, 3 rounds.
    """
    from ..figures import add_config_flags
    from .protocols.online import PassiveOnline

    add_train_flags(parser, ("model", "width", "subset", "max_epochs", "seeds"), full={"seeds": PAPER_SEEDS},
                    quick={"seeds": (0,), **(quick or {})})
    add_config_flags(parser, PassiveOnline, ["k", "rounds", "online_target"], quick={"k": 100, "rounds": 3},
                     title="online protocol settings")


def online_tasks(args: argparse.Namespace, name: str, protocols: Sequence[str], variants) -> list[RunTask]:
    """Runs of the online protocols, one cached run folder per (seed, protocol, variant).

    ``variants``: ``(label, method)`` pairs, ``method`` a method object or registered name; the rows
    get ``label`` and ``protocol`` columns.
    """
    from .methods import make_method
    from .protocols import run_active_online, run_passive_online

    runners = {"passive-online": run_passive_online, "active-online": run_active_online}
    tasks = []
    for seed in args.seeds:
        for protocol in protocols:
            for label, method in variants:
                method = make_method(method) if isinstance(method, str) else method
                fields = {"model": args.model, "width": args.width, "method": method.name, "seeds": (seed,),
                          "subset": args.subset, "max_epochs": args.max_epochs}
                sweep = {"protocol": protocol, "k": args.k, "rounds": args.rounds, "target": args.online_target,
                         "method_params": method.hyperparameters()}
                tasks.append(task(args, name, fields, runners[protocol], sweep=sweep, columns={"label": label},
                                  method=method, k=args.k, rounds=args.rounds, target_accuracy=args.online_target))
    return tasks


def online_setting(args: argparse.Namespace) -> str:
    """One line naming the online setting, for titles."""
    return setting_line(args, f"k={args.k}, {args.rounds or 'all'} rounds", extra=f", target {args.online_target:g}")
