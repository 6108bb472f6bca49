"""Command-line flags derived from frozen config dataclasses, so no default is written twice.

Each dataclass field becomes ``--field-name``; its default and type come from the field, its help
from the field's trailing comment (``lr: float = 0.01  # learning rate``) or ``metadata["help"]``,
followed once by the default. Fields declared with :func:`field` and ``choices`` (a tuple, or a
callable returning one, read when the parser is built so that registered additions appear) reject
other values with the list of choices; tuple-typed fields take several values (``nargs="+"``);
``bool`` and ``Optional[bool]`` fields are switches, ``--flag`` / ``--no-flag``.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import io
import re
import textwrap
import tokenize
import types
import typing
from typing import Any, Callable, TypeVar, Union

T = TypeVar("T")

__all__ = ["add_dataclass_arguments", "dataclass_from_args", "config_to_dict", "field", "field_help", "plain_text",
           "BooleanFlag", "add_progress_flag"]


def field(default: Any, *, choices: Union[tuple, Callable[[], tuple], None] = None) -> Any:
    """A dataclass field with ``default`` whose command-line flag accepts only ``choices`` (a tuple or a callable)."""
    return dataclasses.field(default=default, metadata={"choices": choices} if choices is not None else {})


@functools.lru_cache(maxsize=None)
def positive_int(text: str) -> int:
    """An argparse ``type``: ``text`` as an integer >= 1, or a usage error saying so."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def type_keywords(tp: Any) -> dict[str, Any]:
    """The ``add_argument`` keywords for a field annotated ``tp``: a --x/--no-x flag for a bool, one or
    more values for a tuple, else one value converted to the scalar type."""
    if _unwrap_optional(tp) is bool:
        return {"action": BooleanFlag}
    if typing.get_origin(tp) is tuple:
        return {"type": _scalar_type(typing.get_args(tp)[0]), "nargs": "+"}
    return {"type": _scalar_type(tp)}


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
    """Each field's help: ``metadata["help"]``, else the trailing comment of its line (in ``cls`` or a base)."""
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            comments.update(_comments(klass))
    return {f.name: f.metadata.get("help", comments.get(f.name, "")) for f in dataclasses.fields(cls)}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _unwrap_optional(tp: Any) -> Any:
    """``X`` for ``Optional[X]`` (``X | None``), else ``tp``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _scalar_type(tp: Any) -> Any:
    """The callable argparse should use to parse one value of annotation ``tp`` (int, float, str, optional)."""
    tp = _unwrap_optional(tp)
    if tp in (int, float, str):
        return tp
    raise TypeError(f"unsupported config field type {tp!r}")


class BooleanFlag(argparse.BooleanOptionalAction):
    """``--flag`` / ``--no-flag``, with the help text exactly as given.

    argparse's own action appends "(default: ...)" to the help on Python < 3.14, which would print
    the default twice next to :func:`add_dataclass_arguments`' own.
    """

    def __init__(self, *args: Any, help: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, help=None, **kwargs)
        self.help = help


def add_progress_flag(parser: argparse.ArgumentParser) -> None:
    """``--progress/--no-progress``, the progress display of every command and figure script (default on)."""
    parser.add_argument("--progress", action=BooleanFlag, default=True, help="show progress bars (default: on)")


_ROLE = re.compile(r":[a-z]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`")


def plain_text(text: str) -> str:
    """A docstring's reStructuredText as plain text for ``--help``: roles and literals unwrapped.

    ``:func:`~dashsim.nn.train.TrainConfig``` becomes ``TrainConfig`` (``~`` keeps the last name),
    ````code```` becomes ``code`` and a paragraph's closing ``::`` becomes ``:``.
    """
    def role(match: re.Match) -> str:
        target = match.group(1).strip()
        return target.rsplit(".", 1)[-1] if match.group(0).split("`", 1)[1].startswith("~") else target

    text = _ROLE.sub(role, text)
    text = re.sub(r"``((?:(?!\n\s*\n).)+?)``", r"\1", text, flags=re.DOTALL)  # across a line break, not a paragraph
    return re.sub(r"::(\s*\n)", r":\1", text)


def _default_text(default: Any) -> str:
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, tuple):
        return " ".join(map(str, default)) if default else "none"
    if default == "":
        return "none"
    return str(default)


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
        help_text = plain_text(helps.get(f.name, ""))
        # A help text that speaks of its default (an Optional field's None: "decided from other
        # settings") says it better than the bare value; otherwise the value is shown, once.
        shown = "" if default is None or "default" in help_text else f"default: {_default_text(default)}"
        kwargs["help"] = " ".join(filter(None, [help_text, f"({shown})" if shown else ""]))
        choices = f.metadata.get("choices")
        if choices is not None:
            kwargs["choices"] = tuple(choices() if callable(choices) else choices)
        kwargs.update(type_keywords(tp))
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
