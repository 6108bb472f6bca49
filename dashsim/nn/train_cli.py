"""``dashsim train``: run (or resume) any registered training protocol from the command line.

Every flag is derived from a dataclass, so no default is written twice: the training settings from
:class:`~dashsim.nn.train.TrainConfig`, each protocol's own settings from its plan's fields
(:data:`~dashsim.nn.engine.PROTOCOLS`), and each method's hyper-parameters from its fields
(:data:`~dashsim.nn.methods.METHODS`), typed::

    dashsim train --data fashion-mnist --model resnet18 --method dash --lam 0.9 --seeds 0 1 2
    dashsim train --data digits --model mlp --method sp --lam 0.5 --sigma 0.001 --J 5
    dashsim train --preset sota --data cifar10 --data-root ~/cifar-10-batches-py --method dash
    dashsim train --protocol discarding --m 10 --stop-after 40 --method dash
    dashsim train --protocol continuous --arrival-epochs 500 --final-epochs 500 --method-every 50

A hyper-parameter flag of another method than ``--method``, or a protocol flag of another protocol
than ``--protocol``, is a usage error. ``--preset sota`` sets the paper's "SoTA" variant; flags given
after it, or with non-default values, win. Re-running the same command continues an interrupted run
from its folder (``--out``, by default ``runs/<data>_<model>_<method>_J<J>``, plus ``_<protocol>``
for the protocols other than incremental).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from typing import Any

from .._config import _flag, _scalar_type, add_dataclass_arguments, dataclass_from_args, field_help

__all__ = ["register", "run", "check_flag_names"]

# Flags of `dashsim train` that are neither TrainConfig fields nor protocol or method settings.
_OWN_FLAGS = ("protocol", "preset", "no_progress", "help", "verbose", "quiet")


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
            raise ValueError(f"{kind} {cls.__qualname__}'s field {f.name!r} would be the flag {flag}, which is a training "
                             "setting of dashsim train; rename the field")
        if f.name in others:
            raise ValueError(f"{kind} {cls.__qualname__}'s field {f.name!r} would be the flag {flag}, which is already a "
                             f"setting of {' / '.join(others[f.name]['owners'])}; rename the field")
        if f.name in known and known[f.name]["type"] != hints[f.name]:
            raise ValueError(f"{kind} {cls.__qualname__}'s field {f.name!r} has type {hints[f.name]}, but the flag {flag} "
                             f"of {' / '.join(known[f.name]['owners'])} has type {known[f.name]['type']}; a flag has one type")


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
        if typing.get_origin(tp) is tuple:
            kwargs.update(type=_scalar_type(typing.get_args(tp)[0]), nargs="+")
        else:
            kwargs["type"] = _scalar_type(tp)
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
        description="Train with a warm-starting method between experiments under one of the registered protocols; "
        "writes config.json, metrics.csv, environment.json and checkpoint.pt to the run folder (--out) and resumes from them.",
    )
    add_dataclass_arguments(parser, TrainConfig)
    parser.add_argument("--protocol", default="incremental", choices=tuple(PROTOCOLS), help="training protocol (default: incremental)")
    protocol_fields = _merged_fields(dict(PROTOCOLS))
    clash = set(protocol_fields) & {f.name for f in dataclasses.fields(TrainConfig)}
    if clash:
        raise TypeError(f"protocol settings {sorted(clash)} clash with TrainConfig fields")
    _add_owned_flags(parser, "protocol settings (each only for its protocols)", protocol_fields, "protocol")
    _add_owned_flags(parser, "method hyper-parameters (each only for its methods)", _merged_fields(dict(METHODS)), "method")
    parser.add_argument("--preset", action=_PresetAction, choices=tuple(PRESETS), default=None,
                        help="a named setting, e.g. sota: lr 0.1, weight decay 5e-4, crop+flip, x0.2 after epochs "
                        "60/120/160/200 with a 1-epoch warm-up, 260 epochs (flags given after it, or with non-default "
                        "values, win)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(func=run, _parser=parser)


def run(args: argparse.Namespace) -> int:
    """Build the config, protocol and method from ``args``, run the protocol, print a per-method summary."""
    from .. import runs
    from .data import load_dataset
    from .engine import PROTOCOLS, run as run_plan, run_folder_name
    from .methods import METHODS, make_method
    from .protocols import summarize, two_phase_table
    from .train import NonFiniteLossError, SettingsError, TrainConfig

    try:
        config = dataclass_from_args(TrainConfig, args)
        plan_cls = PROTOCOLS[args.protocol]
        plan = plan_cls(**_given(args, _merged_fields(dict(PROTOCOLS)), args.protocol, "protocol"))
        method = make_method(config.method, **_given(args, _merged_fields(dict(METHODS)), config.method, "method"))
        # Loaded here so that a data set without a default location (--data-root needed) is a usage error.
        dataset = load_dataset(config.data, config.data_root)
    except (ValueError, TypeError) as err:
        args._parser.error(str(err))  # exits with status 2 and the usage line
    except FileNotFoundError as err:
        sys.stderr.write(f"dashsim train: error: {err}\n")
        return 1
    try:
        rows = run_plan(config, plan, dataset=dataset, method=method, progress=not args.no_progress)
    except (NonFiniteLossError, runs.ConfigMismatchError, runs.RunFolderBusyError, FileNotFoundError) as err:
        sys.stderr.write(f"dashsim train: error: {err}\n")
        return 1
    except SettingsError as err:
        # The protocols' checks of their settings against the data (k above the data set size, ...);
        # any other ValueError is a failure during training and keeps its traceback.
        args._parser.error(str(err))
    if plan.name == "two-phase":
        table = two_phase_table(rows)[["seed", "pretrain_epochs", "pretrain_train_accuracy", "test_accuracy", "steps",
                                       "converged"]].to_string(index=False)
    else:
        table = summarize(rows).T.to_string()
    folder = run_folder_name(dataclasses.replace(config, method=method.name), plan)
    sys.stdout.write(f"protocol: {plan.name}\nrun folder: {folder}\n{table}\n")
    return 0
