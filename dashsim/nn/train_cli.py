"""``dashsim train``: run (or resume) any of the training protocols from the command line.

Every flag is derived from :class:`~dashsim.nn.train.TrainConfig` (the model, optimizer, method,
data, ...) and :class:`ProtocolConfig` (which protocol, and its own settings), e.g.::

    dashsim train --data fashion-mnist --model resnet18 --method dash --seeds 0 1 2
    dashsim train --data digits --model mlp --method sp --method-args lam=0.5 sigma=0.001 --J 5
    dashsim train --preset sota --data cifar10 --data-root ~/cifar-10-batches-py --method dash
    dashsim train --protocol discarding --m 10 --stop-after 40 --method dash
    dashsim train --protocol continuous --arrival-epochs 500 --final-epochs 500 --method-every 50
    dashsim train --protocol class-incremental --method dash

``--preset sota`` sets the paper's "SoTA" variant (lr 0.1, weight decay 5e-4, crop + flip, step
schedule with warm-up, 260 epochs); flags given after it, or with non-default values, win.
Re-running the same command continues an interrupted run from its folder (``--out``, by default
``runs/<data>_<model>_<method>_J<J>``, plus ``_<protocol>`` for the protocols other than incremental).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import logging
import sys
from typing import Any, Optional

import pandas as pd

from .._config import add_dataclass_arguments, dataclass_from_args
from .. import runs

logger = logging.getLogger(__name__)

__all__ = ["register", "run", "ProtocolConfig", "PROTOCOLS", "run_protocol"]

PROTOCOLS = ("incremental", "two-phase", "passive-online", "active-online", "discarding", "continuous", "class-incremental")


def _default(function: str, name: str) -> Any:
    """The default of parameter ``name`` of protocol function ``function``, so it is written once."""
    from . import arrival, online

    module = arrival if function in ("run_continuous", "run_class_incremental") else online
    return inspect.signature(getattr(module, function)).parameters[name].default


def _protocol_fields() -> dict[str, Any]:
    return {
        "stop_after": _default("run_discarding", "stop_after"),
        "online_target": _default("run_passive_online", "target_accuracy"),
        "arrival_epochs": _default("run_continuous", "arrival_epochs"),
        "final_epochs": _default("run_continuous", "final_epochs"),
        "method_every": _default("run_continuous", "method_every"),
    }


_D = _protocol_fields()


@dataclasses.dataclass(frozen=True)
class ProtocolConfig:
    """Which protocol ``dashsim train`` runs, and the settings only that protocol uses (paper defaults)."""

    protocol: str = dataclasses.field(default="incremental", metadata={"help": "training protocol", "choices": PROTOCOLS})
    pretrain_epochs: tuple[int, ...] = dataclasses.field(default=(0, 5, 10, 20, 40), metadata={"help": "two-phase: pretraining lengths E swept on the first half"})
    k: int = dataclasses.field(default=1000, metadata={"help": "passive/active online: images added per round (Ash & Adams: 1000)"})
    rounds: Optional[int] = dataclasses.field(default=None, metadata={"help": "passive/active online: number of rounds (default: as many as the data allow)"})
    online_target: float = dataclasses.field(default=_D["online_target"], metadata={"help": "passive/active online: train accuracy ending a round"})
    m: int = dataclasses.field(default=10, metadata={"help": "discarding: apply the method every m experiments (paper: 10, 15, 20)"})
    stop_after: int = dataclasses.field(default=_D["stop_after"], metadata={"help": "discarding: last experiment the method may run before"})
    new_per_epoch: Optional[int] = dataclasses.field(default=None, metadata={"help": "continuous: images joining per epoch (default: training images // arrival epochs)"})
    arrival_epochs: int = dataclasses.field(default=_D["arrival_epochs"], metadata={"help": "continuous: epochs during which data arrive"})
    final_epochs: int = dataclasses.field(default=_D["final_epochs"], metadata={"help": "continuous: epochs on all data afterwards"})
    method_every: int = dataclasses.field(default=_D["method_every"], metadata={"help": "continuous: apply the method every this many epochs"})
    method_until: Optional[int] = dataclasses.field(default=None, metadata={"help": "continuous: last epoch the method may run before (default: the last arrival epoch)"})
    n_classes: Optional[int] = dataclasses.field(default=None, metadata={"help": "class-incremental: number of classes / rounds (default: all)"})

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {list(PROTOCOLS)}, got {self.protocol!r}")

    # Which protocols read each field; a non-default value for another protocol is a usage error.
    USED_BY = {
        "pretrain_epochs": ("two-phase",), "k": ("passive-online", "active-online"), "rounds": ("passive-online", "active-online"),
        "online_target": ("passive-online", "active-online"), "m": ("discarding",), "stop_after": ("discarding",),
        "new_per_epoch": ("continuous",), "arrival_epochs": ("continuous",), "final_epochs": ("continuous",),
        "method_every": ("continuous",), "method_until": ("continuous",), "n_classes": ("class-incremental",),
    }

    def check_unused(self) -> None:
        """Reject settings that the chosen protocol would silently ignore."""
        for field in dataclasses.fields(self):
            users = self.USED_BY.get(field.name)
            if users and self.protocol not in users and getattr(self, field.name) != field.default:
                flag = "--" + field.name.replace("_", "-")
                raise ValueError(f"{flag} is only used by --protocol {' / '.join(users)}, not {self.protocol}")


def run_protocol(config, protocol: ProtocolConfig, *, dataset=None, progress: bool = False) -> pd.DataFrame:
    """Run (or resume) ``protocol.protocol`` with training settings ``config``; its tidy metrics.

    Parameters
    ----------
    config : :class:`~dashsim.nn.train.TrainConfig`.
    protocol : which protocol and its settings.
    dataset : the data (default: loaded from ``config.data``).
    progress : show progress bars.

    Returns
    -------
    pandas.DataFrame: the protocol function's rows (see each function).
    """
    from . import arrival, online, protocols

    p = protocol
    common = {"dataset": dataset, "progress": progress}
    if p.protocol == "incremental":
        return protocols.run_incremental(config, **common)
    if p.protocol == "two-phase":
        return protocols.run_two_phase(config, tuple(p.pretrain_epochs), **common)
    if p.protocol == "passive-online":
        return online.run_passive_online(config, k=p.k, rounds=p.rounds, target_accuracy=p.online_target, **common)
    if p.protocol == "active-online":
        return online.run_active_online(config, k=p.k, rounds=p.rounds, target_accuracy=p.online_target, **common)
    if p.protocol == "discarding":
        return online.run_discarding(config, m=p.m, stop_after=p.stop_after, **common)
    if p.protocol == "continuous":
        return arrival.run_continuous(config, new_per_epoch=p.new_per_epoch, arrival_epochs=p.arrival_epochs, final_epochs=p.final_epochs,
                                      method_every=p.method_every, method_until=p.method_until, **common)
    return arrival.run_class_incremental(config, n_classes=p.n_classes, **common)


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
    from .train import PRESETS, TrainConfig

    parser = subparsers.add_parser(
        "train",
        help="run a training protocol (incremental, two-phase, online, discarding, continuous, class-incremental; resumable)",
        description="Train with a warm-starting method between experiments under one of the paper's protocols; "
        "writes config.json, metrics.csv, environment.json and checkpoint.pt to the run folder (--out) and resumes from them.",
    )
    add_dataclass_arguments(parser, TrainConfig)
    add_dataclass_arguments(parser, ProtocolConfig)
    parser.add_argument("--preset", action=_PresetAction, choices=tuple(PRESETS), default=None,
                        help="a named setting, e.g. sota: lr 0.1, weight decay 5e-4, crop+flip, x0.2 after epochs 60/120/160/200 with a "
                        "1-epoch warm-up, 260 epochs (flags given after it, or with non-default values, win)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(func=run, _parser=parser)


def run(args: argparse.Namespace) -> int:
    """Build both configs from ``args``, run the protocol, print a per-method summary."""
    from .data import load_dataset
    from .protocols import run_folder_name, summarize
    from .train import NonFiniteLossError, SettingsError, TrainConfig

    try:
        config = dataclass_from_args(TrainConfig, args)
        protocol = dataclass_from_args(ProtocolConfig, args)
        protocol.check_unused()
        # Loaded here so that a data set without a default location (--data-root needed) is a usage error.
        dataset = load_dataset(config.data, config.data_root)
    except ValueError as err:
        args._parser.error(str(err))  # exits with status 2 and the usage line
    except FileNotFoundError as err:
        sys.stderr.write(f"dashsim train: error: {err}\n")
        return 1
    try:
        metrics = run_protocol(config, protocol, dataset=dataset, progress=not args.no_progress)
    except (NonFiniteLossError, runs.ConfigMismatchError, FileNotFoundError) as err:
        sys.stderr.write(f"dashsim train: error: {err}\n")
        return 1
    except SettingsError as err:
        # The protocols' checks of their settings against the data (k above the data set size, ...);
        # any other ValueError is a failure during training and keeps its traceback.
        args._parser.error(str(err))
    if protocol.protocol == "two-phase":
        table = metrics[["seed", "pretrain_epochs", "pretrain_train_accuracy", "test_accuracy", "steps", "converged"]].to_string(index=False)
    else:
        table = summarize(metrics).T.to_string()
    sys.stdout.write(f"protocol: {protocol.protocol}\nrun folder: {run_folder_name(config, protocol.protocol)}\n{table}\n")
    return 0
