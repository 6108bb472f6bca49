"""Command-line flags derived from frozen config dataclasses, so no default is written twice.

Each dataclass field becomes ``--field-name``; its default and type come from the field, its help
from the field's trailing comment (``lr: float = 0.01  # learning rate``) or ``metadata["help"]``.
Fields declared with :func:`field` and ``choices`` (a tuple, or a callable returning one, read when
the parser is built so that registered additions appear) reject other values with the list of
choices; tuple-typed fields take several values (``nargs="+"``).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import io
import textwrap
import tokenize
import types
import typing
from typing import Any, Callable, TypeVar, Union

T = TypeVar("T")

__all__ = ["add_dataclass_arguments", "dataclass_from_args", "config_to_dict", "field", "field_help"]


def field(default: Any, *, choices: Union[tuple, Callable[[], tuple], None] = None) -> Any:
    """A dataclass field with ``default`` whose command-line flag accepts only ``choices`` (a tuple or a callable)."""
    return dataclasses.field(default=default, metadata={"choices": choices} if choices is not None else {})


@functools.lru_cache(maxsize=None)
def _comments(cls: type) -> dict[str, str]:
    """The trailing comment of each annotated line in the body of ``cls`` itself (not its bases)."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # no source (e.g. defined in a REPL)
        return {}
    by_line = {tok.start[0]: tok.string.lstrip("#").strip()
               for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT}
    comments = {}
    for node in getattr(ast.parse(source).body[0], "body", []):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.end_lineno in by_line:
            comments[node.target.id] = by_line[node.end_lineno]
    return comments


def field_help(cls: type) -> dict[str, str]:
    """Each field's help text: ``metadata["help"]``, else the trailing comment of the line declaring it (in ``cls`` or a base)."""
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            comments.update(_comments(klass))
    return {f.name: f.metadata.get("help", comments.get(f.name, "")) for f in dataclasses.fields(cls)}


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


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = ()) -> None:
    """Add one ``--flag`` per field of the dataclass ``cls`` (except ``skip``) to ``parser``."""
    hints = typing.get_type_hints(cls)
    helps = field_help(cls)
    for f in dataclasses.fields(cls):
        if not f.init or f.name in skip:
            continue
        tp = hints[f.name]
        default = f.default
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        kwargs: dict[str, Any] = {"default": default, "dest": f.name}
        help_text = helps.get(f.name, "")
        kwargs["help"] = f"{help_text} (default: {default!r})" if help_text else f"default: {default!r}"
        choices = f.metadata.get("choices")
        if choices is not None:
            kwargs["choices"] = tuple(choices() if callable(choices) else choices)
        if typing.get_origin(tp) is tuple:
            item = typing.get_args(tp)[0]
            kwargs["type"] = _scalar_type(item)
            kwargs["nargs"] = "+"
        else:
            kwargs["type"] = _scalar_type(tp)
        parser.add_argument(_flag(f.name), **kwargs)


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
