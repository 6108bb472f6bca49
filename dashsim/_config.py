"""Command-line flags derived from frozen config dataclasses, so no default is written twice.

Each dataclass field becomes ``--field-name``; its default, type and trailing documentation
(``metadata={"help": ...}``) come from the field. Fields whose metadata has ``choices`` reject
other values with the list of choices; tuple-typed fields take several values (``nargs="+"``).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["add_dataclass_arguments", "dataclass_from_args", "config_to_dict"]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _scalar_type(tp: Any) -> Any:
    """The callable argparse should use to parse one value of annotation ``tp``."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _scalar_type(args[0])
    if tp in (int, float, str):
        return tp
    if tp is bool:
        return _parse_bool
    raise TypeError(f"unsupported config field type {tp!r}")


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {text!r}")


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one ``--flag`` per field of the dataclass ``cls`` to ``parser``."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        tp = hints[field.name]
        default = field.default
        if default is dataclasses.MISSING and field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        kwargs: dict[str, Any] = {"default": default, "dest": field.name}
        help_text = field.metadata.get("help", "")
        kwargs["help"] = f"{help_text} (default: {default!r})" if help_text else f"default: {default!r}"
        if "choices" in field.metadata:
            kwargs["choices"] = tuple(field.metadata["choices"])
        if typing.get_origin(tp) is tuple:
            item = typing.get_args(tp)[0]
            kwargs["type"] = _scalar_type(item)
            kwargs["nargs"] = "+"
        else:
            kwargs["type"] = _scalar_type(tp)
        parser.add_argument(_flag(field.name), **kwargs)


def dataclass_from_args(cls: type[T], args: argparse.Namespace) -> T:
    """Build ``cls`` from the parsed flags added by :func:`add_dataclass_arguments`."""
    values = {}
    for field in dataclasses.fields(cls):
        if field.init and hasattr(args, field.name):
            value = getattr(args, field.name)
            if isinstance(value, list):
                value = tuple(value)
            values[field.name] = value
    return cls(**values)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (possibly nested) config dataclass."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}
