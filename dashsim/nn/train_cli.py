"""``dashsim train``: run (or resume) any registered training protocol from the command line.

Every flag is derived from a dataclass, so no default is written twice: the training settings from
:class:`~dashsim.nn.train.TrainConfig`, each protocol's own settings from its plan's fields
(:data:`~dashsim.nn.engine.PROTOCOLS`), and each method's hyper-parameters from its fields
(:data:`~dashsim.nn.methods.METHODS`), typed::

    dashsim train --data fashion-mnist --model resnet18 --method dash --lam 0.9 --seeds 0 1 2
    dashsim train --data digits --model mlp --method sp --lam 0.5 --sigma 0.001 --J 5
    dashsim train --preset sota --data cifar10 --data-root ~/cifar-10-batches-py --method dash
    dashsim train --preset ash_adams --model mlp_ash --J 2 --method warm --optimizer adam
    dashsim train --protocol discarding --m 10 --stop-after 40 --method dash
    dashsim train --protocol continuous --arrival-epochs 500 --final-epochs 500 --method-every 50

A hyper-parameter flag of another method than ``--method``, or a protocol flag of another protocol
than ``--protocol``, is a usage error. ``--preset sota`` sets the paper's "SoTA" variant; flags given
after it, or with non-default values, win. Re-running the same command continues an interrupted run
from its folder (``--out``, by default ``runs/<data>_<model>_<method>_J<J>``, plus ``_<protocol>``
for the protocols other than incremental).

Before training it says what it will run and roughly how long that takes on this device: a few
training steps of the model are timed (images/s), and the time of one epoch over the whole
training set per round, and of every round at the epoch cap, follow from the data size. Both are
upper bounds for protocols whose rounds train on part of the data or stop at the accuracy target.
A run that may take over an hour on the CPU starts only with ``--yes``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
import typing
from pathlib import Path
from typing import Any

from .._config import (_flag, add_dataclass_arguments, add_progress_flag, dataclass_from_args, field_help,
                       plain_text, type_keywords)

__all__ = ["register", "run", "check_flag_names", "estimate_seconds", "images_per_s"]

_log = logging.getLogger(__name__)

# Flags of `dashsim train` that are neither TrainConfig fields nor protocol or method settings.
_OWN_FLAGS = ("protocol", "preset", "progress", "help", "verbose", "quiet", "threads", "yes", "version")
CPU_CONFIRM_S = 3600.0  # a CPU run that may take longer than this starts only with --yes


def check_flag_names(kind: str, cls: type) -> None:
    """Refuse a ``"method"`` or ``"protocol"`` class whose fields cannot be ``dashsim train`` flags (ValueError).

    A field name must not be a training setting (a :class:`~dashsim.nn.train.TrainConfig` field) or
    a setting of the other kind (a protocol's field named like a method hyper-parameter would be one
    flag for two things), and one name has one type across the protocols (or the methods).
    """
    from .engine import PROTOCOLS
    from .methods import METHODS
    from .train import TrainConfig

    if not dataclasses.is_dataclass(cls):
        return
    same, other = (dict(METHODS), dict(PROTOCOLS)) if kind == "method" else (dict(PROTOCOLS), dict(METHODS))
    reserved = {f.name for f in dataclasses.fields(TrainConfig)} | set(_OWN_FLAGS)
    others = _merged_fields(other)
    known = _merged_fields({name: c for name, c in same.items() if c is not cls})
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        flag = _flag(f.name)
        if f.name in reserved:
            raise ValueError(f"{kind} {cls.__qualname__}'s field {f.name!r} would be the flag {flag}, which is a "
                             "training setting of dashsim train; rename the field")
        if f.name in others:
            raise ValueError(f"{kind} {cls.__qualname__}'s field {f.name!r} would be the flag {flag}, which is "
                             f"already a setting of {' / '.join(others[f.name]['owners'])}; rename the field")
        if f.name in known and known[f.name]["type"] != hints[f.name]:
            raise ValueError(f"{kind} {cls.__qualname__}'s field {f.name!r} has type {hints[f.name]}, but the flag "
                             f"{flag} of {' / '.join(known[f.name]['owners'])} has type {known[f.name]['type']}; "
                             "a flag has one type")


def _merged_fields(classes: dict[str, type]) -> dict[str, dict[str, Any]]:
    """Each field name of the dataclasses ``classes`` (by owner name) -> its type, and default per owner."""
    merged: dict[str, dict[str, Any]] = {}
    for owner, cls in classes.items():
        if not dataclasses.is_dataclass(cls):
            continue
        hints = typing.get_type_hints(cls)
        helps = field_help(cls)
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            entry = merged.setdefault(f.name, {"type": hints[f.name], "owners": {}, "help": helps.get(f.name, "")})
            if entry["type"] != hints[f.name]:
                raise TypeError(f"field {f.name!r} has type {hints[f.name]} in {owner} but {entry['type']} elsewhere; "
                                "a flag has one type")
            entry["owners"][owner] = f.default
    return merged


def _add_owned_flags(parser: argparse.ArgumentParser, title: str, fields: dict[str, dict[str, Any]], what: str) -> None:
    """One flag per merged field; absent unless given (so a flag given for the wrong owner can be refused)."""
    group = parser.add_argument_group(title)
    for name, entry in fields.items():
        tp = entry["type"]
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS}
        kwargs.update(type_keywords(tp))
        owners = ", ".join(f"{owner}: {default!r}" for owner, default in entry["owners"].items())
        kwargs["help"] = f"{entry['help']} ({what} {owners})".strip()
        group.add_argument(_flag(name), **kwargs)


def _given(args: argparse.Namespace, fields: dict[str, dict[str, Any]], owner: str, what: str) -> dict[str, Any]:
    """The flags of ``fields`` given on the command line, checked to belong to ``owner``; list values as tuples."""
    given = {}
    for name, entry in fields.items():
        if name not in vars(args):
            continue
        if owner not in entry["owners"]:
            raise ValueError(f"{_flag(name)} is a setting of {what} {' / '.join(entry['owners'])}, not of {owner}")
        value = getattr(args, name)
        given[name] = tuple(value) if isinstance(value, list) else value
    return given


class _PresetAction(argparse.Action):
    """``--preset NAME``: set the preset's fields that still hold their defaults (so explicit flags win)."""

    def __call__(self, parser, namespace, value, option_string=None):
        from .train import PRESETS, TrainConfig

        defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
        for name, preset_value in PRESETS[value].items():
            current = getattr(namespace, name)
            if (tuple(current) if isinstance(current, list) else current) == defaults[name]:
                setattr(namespace, name, list(preset_value) if isinstance(preset_value, tuple) else preset_value)
        setattr(namespace, self.dest, value)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` sub-command."""
    from .engine import PROTOCOLS
    from .methods import METHODS
    from .train import PRESETS, TrainConfig

    parser = subparsers.add_parser(
        "train",
        help="run a training protocol (incremental, two-phase, online, discarding, continuous, class-incremental, ...; "
             "resumable)",
        description=plain_text(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dataclass_arguments(parser, TrainConfig)
    parser.add_argument("--protocol", default="incremental", choices=tuple(PROTOCOLS),
                        help="training protocol (default: incremental)")
    protocol_fields = _merged_fields(dict(PROTOCOLS))
    clash = set(protocol_fields) & {f.name for f in dataclasses.fields(TrainConfig)}
    if clash:
        raise TypeError(f"protocol settings {sorted(clash)} clash with TrainConfig fields")
    _add_owned_flags(parser, "protocol settings (each only for its protocols)", protocol_fields, "protocol")
    _add_owned_flags(parser, "method hyper-parameters (each only for its methods)", _merged_fields(dict(METHODS)),
                     "method")
    parser.add_argument("--preset", action=_PresetAction, choices=tuple(PRESETS), default=None,
                        help="a named setting: sota (lr 0.1, weight decay 5e-4, crop+flip, x0.2 after epochs "
                        "60/120/160/200 with a 1-epoch warm-up, 260 epochs) or ash_adams (SGD without momentum at "
                        "lr 1e-3, a new optimizer every experiment, inputs (x - 0.5) / 0.5, to 99%%, cap 10,000; "
                        "with --model mlp_ash or resnet18_ash); flags given after it, or with non-default values, win")
    add_progress_flag(parser)
    parser.add_argument("--keep-going", action="store_true",
                        help="if one seed's loss diverges, say so and go on with the other seeds (exit status 1 at "
                             "the end); re-running the command retries the failed seeds")
    parser.add_argument("--yes", action="store_true",
                        help=f"start a run even if it may take over {CPU_CONFIRM_S / 3600:g} hour on the CPU")
    parser.set_defaults(func=run, _parser=parser)


def estimate_seconds(images_per_s: float, *, units: int, rounds: int, n_train: int, max_epochs: int
                     ) -> tuple[float, float]:
    """A rough upper bound on a run's training time: one epoch per round, and every round at the epoch cap.

    ``t_one = units * rounds * n_train / images_per_s`` and ``t_cap = max_epochs * t_one``: every
    round of every unit trains on at most the ``n_train`` training images, for at most
    ``max_epochs`` epochs. Rounds that train on part of the data (the incremental protocol's
    experiment j sees j/J of it) or reach the accuracy target early take less; test passes and the
    method's steps are left out.

    Parameters
    ----------
    images_per_s : measured training throughput of the model on the device.
    units, rounds : the plan's units (seeds) and rounds per unit.
    n_train : training images available to a round.
    max_epochs : epoch cap per round.

    Returns
    -------
    (t_one, t_cap) in seconds.
    """
    one = units * rounds * n_train / images_per_s
    return one, one * max_epochs


def images_per_s(spec, data, device) -> float:
    """Training images per second of a run's model on ``device``, measured now.

    ``rate = B (s - 1) / t``: ``s`` steps of the configured optimizer on the first ``B =
    min(batch_size, N)`` training images, the first of which (allocations, kernel selection) is not
    timed, and ``t`` the time of the others (at least 0.5 s, at most 19 steps). A fresh model is
    built under a forked RNG, so the run's own random draws are unchanged.

    Parameters
    ----------
    spec : the resolved run (:func:`dashsim.nn.engine.resolve`).
    data : its training data on ``device`` (:func:`dashsim.nn.train.prepare_data`).
    device : the training device.

    Returns
    -------
    float : images per second of forward, backward and optimizer step.
    """
    import torch
    import torch.nn.functional as F

    from .train import build_learner

    batch = min(spec.config.batch_size, data.x.shape[0])
    x, y = data.x[:batch], data.y[:batch]
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):  # the run's own models are drawn after seeding
        learner = build_learner(dataclasses.replace(spec.config, compile=False), spec.dataset, device, spec.model)
        model, optimizer = learner.model.train(), learner.optimizer

        def closure():
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            return loss

        steps, started, elapsed = 0, 0.0, 0.0
        while steps < 2 or (elapsed < 0.5 and steps < 20):
            if steps == 1:  # the first step pays for allocations and kernel selection
                started = time.perf_counter()
            closure()
            # SAM re-evaluates the loss at the perturbed weights through the closure.
            optimizer.step(closure) if getattr(optimizer, "requires_closure", False) else optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            steps += 1
            if steps > 1:
                elapsed = time.perf_counter() - started
    return batch * (steps - 1) / elapsed


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _announce(args: argparse.Namespace, plan, method, spec, device) -> int | None:
    """Log what will run and a rough time; refuse (exit code 2) a CPU run that may exceed an hour without --yes."""
    import pandas as pd
    import torch

    from ..runs import RunFolder
    from .engine import run_folder_name
    from .train import prepare_data

    config = spec.config
    data = prepare_data(config, spec.dataset, device)
    rounds, units = plan.n_rounds(config, data), len(plan.units(config))
    folder = Path(run_folder_name(config, plan))
    metrics = folder / RunFolder.METRICS
    done = len(pd.read_csv(metrics)) if metrics.exists() else 0
    params = ", ".join(f"{k}={v}" for k, v in method.hyperparameters().items())
    # A round trains on at most the (seeded) subset, when one is set.
    n_train = min(config.subset, data.x.shape[0]) if config.subset else data.x.shape[0]
    _log.info("dashsim train: protocol %s, data %s (%s training images), model %s, method %s%s, %d round(s) x "
              "%d unit(s), up to %d epochs a round, batch %d, on %s (%d CPU threads), into %s",
              plan.name, config.data, f"{n_train:,}", config.model, method.name,
              f" ({params})" if params else "", rounds, units, config.max_epochs, config.batch_size, device,
              torch.get_num_threads(), folder)
    if done >= rounds * units:
        return None
    rate = images_per_s(spec, data, device)
    one, cap = estimate_seconds(rate, units=units, rounds=rounds, n_train=n_train,
                                max_epochs=config.max_epochs)
    left = 1.0 - done / (rounds * units)
    one, cap = one * left, cap * left
    _log.info("rough time on %s (%.0f training images/s measured now): %s at one epoch a round, %s if every round "
              "runs to the %d-epoch cap (upper bounds: rounds on part of the data, or reaching %.1f%% train accuracy "
              "sooner, take less)%s", device, rate, _duration(one), _duration(cap), config.max_epochs,
              100 * config.target_accuracy, f"; {done} round(s) already done" if done else "")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if device.type == "cpu" and torch.get_num_threads() > 1 and load >= (os.cpu_count() or 1):
        _log.info("the machine is busy (load %.1f on %d cores): --threads 1 is likely faster", load, os.cpu_count())
    if device.type == "cpu" and cap > CPU_CONFIRM_S and not args.yes:
        sys.stderr.write(f"dashsim train: this run may take up to {_duration(cap)} on the CPU (over "
                         f"{CPU_CONFIRM_S / 3600:g} hour). Pass --yes to start it, or choose a smaller setting "
                         "(e.g. --model mlp, --subset 5000, --J 10, --max-epochs 30) or a GPU (--device cuda).\n")
        return 2
    return None


def run(args: argparse.Namespace) -> int:
    """Build the config, protocol and method from ``args``, say what runs and how long, run it, print a summary."""
    from .. import runs
    from .._validate import check_output_folder
    from ..errors import CorruptFileError
    from .data import load_dataset
    from .engine import PROTOCOLS, resolve, run as run_plan, run_folder_name
    from .methods import METHODS, make_method
    from .protocols import summarize, two_phase_table
    from .train import NonFiniteLossError, SettingsError, TrainConfig, resolve_device

    try:
        config = dataclass_from_args(TrainConfig, args)
        plan_cls = PROTOCOLS[args.protocol]
        plan = plan_cls(**_given(args, _merged_fields(dict(PROTOCOLS)), args.protocol, "protocol"))
        method = make_method(config.method, **_given(args, _merged_fields(dict(METHODS)), config.method, "method"))
        check_output_folder("--out", run_folder_name(dataclasses.replace(config, method=method.name), plan))
        # Loaded here so that a data set without a default location (--data-root needed) is a usage error.
        dataset = load_dataset(config.data, config.data_root)
    except (ValueError, TypeError) as err:
        args._parser.error(str(err))  # exits with status 2 and the usage line
    except FileNotFoundError as err:
        sys.stderr.write(f"dashsim train: error: {err}\n")
        return 1
    try:
        # The same checks as the engine's, before any run folder: a combination that cannot work is a usage error.
        spec = resolve(plan.configure(config), dataset=dataset, method=method)
        refused = _announce(args, plan, method, spec, resolve_device(spec.config.device))
        if refused is not None:
            return refused
        rows = run_plan(config, plan, dataset=dataset, method=method, progress=args.progress,
                        keep_going=args.keep_going)
    except (NonFiniteLossError, runs.ConfigMismatchError, runs.RunFolderBusyError, FileNotFoundError,
            CorruptFileError) as err:
        sys.stderr.write(f"dashsim train: error: {err}\n")
        return 1
    except SettingsError as err:
        # The protocols' checks of their settings against the data (k above the data set size, ...);
        # any other ValueError is a failure during training and keeps its traceback.
        args._parser.error(str(err))
    if rows.empty:
        sys.stderr.write(f"dashsim train: error: every seed failed {rows.attrs.get('failed_seeds')} (the loss "
                         "diverged); nothing to summarize\n")
        return 1
    if plan.name == "two-phase":
        table = two_phase_table(rows)[["seed", "pretrain_epochs", "pretrain_train_accuracy", "test_accuracy", "steps",
                                       "converged"]].to_string(index=False)
    else:
        table = summarize(rows).T.to_string()
    folder = run_folder_name(dataclasses.replace(config, method=method.name), plan)
    sys.stdout.write(f"protocol: {plan.name}\nrun folder: {folder}\n{table}\n")
    if rows.attrs.get("failed_seeds"):
        sys.stderr.write(f"dashsim train: error: seed(s) {rows.attrs['failed_seeds']} failed (the loss diverged); the "
                         "table holds the other seeds; re-run the same command to retry them\n")
        return 1
    return 0
