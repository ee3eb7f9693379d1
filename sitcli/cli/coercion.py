"""Option values turned into their Python types without pydantic, for the plain types sitcli's
commands declare.

typer (0.2x) checks every parameter's value through a pydantic TypeAdapter that it builds the
first time the parameter is parsed, even for a value of None; the first one imports pydantic,
about 0.1 CPU-s of every command. sitcli's options are str, int, float, bool, Path, its
choice enums and lists of str or Path, whose conversions are plain: `install` gives each such
parameter a `PlainCoercion` that does them directly, calling typer's own choice and path
checks. Anything it is not sure of (another type, a str that is not a plain number, a value of
an unexpected type, any error) goes to typer's own pydantic route, so what is accepted, the
value given and every error message stay typer's (`tests/test_cli_coercion.py` compares the
two on every option of every command). The hook is typer's private `_runtime_param` slot:
on a typer without it `install` does nothing, and typer's own route runs, slower and the same.
"""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

INT = re.compile(r"[+-]?[0-9]+")
FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


class NotPlain(Exception):
    """The value needs typer's own route."""


def _exactly(kind, text=None):
    """A value already of `kind`, or (`text`: a pattern) a string of that form, converted."""
    def coerce(value, param, ctx):
        if type(value) is kind:
            return value
        if text is not None and type(value) is str and text.fullmatch(value):
            return kind(value)
        raise NotPlain
    return coerce


_plain_str = _exactly(str)
_plain_int = _exactly(int, INT)
_plain_float = _exactly(float, FLOAT)
_plain_bool = _exactly(bool)


def _plain_path(value, param, ctx):
    from typer._param_types import coerce_cli_path

    if type(value) is str and value and "\0" not in value:
        value = Path(value)
    if not isinstance(value, Path):
        raise NotPlain
    info = param.type_descriptor.parameter_info
    return coerce_cli_path(value, info, path_type=info.path_type or Path, param=param, ctx=ctx)


def _choice(enum: type[Enum]):
    def plain_choice(value, param, ctx):
        from typer._param_types import coerce_cli_choice

        if not isinstance(value, (str, Enum)):
            raise NotPlain
        return coerce_cli_choice(value, choices=list(enum), ctx=ctx,
                                 case_sensitive=param.type_descriptor.parameter_info.case_sensitive)
    return plain_choice


LEAVES = {str: _plain_str, int: _plain_int, float: _plain_float, bool: _plain_bool,
          Path: _plain_path}


def _leaf(annotation):
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _choice(annotation)
    return LEAVES.get(annotation)


class PlainCoercion:
    """A parameter's coercion (typer's RuntimeParam interface: `coerce(value, param, ctx)`):
    the plain conversion, else typer's own."""

    def __init__(self, leaf, is_list: bool):
        self.leaf = leaf
        self.is_list = is_list
        self.typer_route = None

    def coerce(self, value: Any, param, ctx) -> Any:
        multi = param.multiple or param.nargs == -1
        if value is None:
            return () if multi else None
        try:
            return self._plain(value, param, ctx)
        except Exception:   # not plain, or invalid: typer's route decides and words the error
            return self._typer(param).coerce(value, param=param, ctx=ctx)

    def _plain(self, value, param, ctx):
        if not self.is_list:
            return self.leaf(value, param, ctx)
        if isinstance(value, str):
            raise NotPlain
        items = value if isinstance(value, (list, tuple)) else [value]
        return [self.leaf(item, param, ctx) for item in items]

    def _typer(self, param):
        if self.typer_route is None:
            from typer._coercion import build_runtime_param

            self.typer_route = build_runtime_param(param.type_descriptor)
        return self.typer_route


def plain_coercion(param) -> PlainCoercion | None:
    """The plain coercion of a typer parameter, or None when its type is not a plain one."""
    descriptor = param.type_descriptor
    info = descriptor.parameter_info
    if info.parser is not None or descriptor.file_annotation is not None:
        return None
    annotation = descriptor.annotation
    is_list = get_origin(annotation) is list
    if is_list:
        (annotation,) = get_args(annotation) or (None,)
    elif get_origin(annotation) is not None:
        return None
    leaf = _leaf(annotation)
    if leaf is None:
        return None
    if leaf is _plain_path and not _plain_path_info(info):
        return None
    if annotation in (int, float) and (info.min is not None or info.max is not None):
        return None
    return PlainCoercion(leaf, is_list)


def _plain_path_info(info) -> bool:
    """A path option with none of typer's extra path handling."""
    return info.path_type in (None, Path) and not info.resolve_path and not info.allow_dash


def supported() -> bool:
    try:
        from typer._coercion import build_runtime_param  # noqa: F401
        from typer._param_types import coerce_cli_choice, coerce_cli_path  # noqa: F401
        from typer.core import _TyperParameter
    except ImportError:
        return False
    return callable(getattr(_TyperParameter, "get_runtime_param", None))


def install(command) -> int:
    """Give every plain parameter of `command` and its subcommands a PlainCoercion; returns
    how many (0 on a typer without the slot)."""
    if not supported():
        return 0
    from typer.core import _TyperParameter

    count = 0
    for cmd in _commands(command):
        for param in [*cmd.params, *_help_option(cmd)]:
            if not isinstance(param, _TyperParameter) or param.__dict__.get("_runtime_param"):
                continue
            if "_runtime_param" not in param.__dict__ or not hasattr(param, "type_descriptor"):
                continue
            coercion = plain_coercion(param)
            if coercion is not None:
                param._runtime_param = coercion
                count += 1
    return count


def _help_option(command) -> list:
    """The command's --help option, which click makes on its first parse (and keeps): made
    now, with the context settings that parse would use, so it is coerced plainly too."""
    try:
        ctx = command.context_class(command, **(command.context_settings or {}))
        option = command.get_help_option(ctx)
    except Exception:   # a click that does it differently: typer's route for --help
        return []
    return [option] if option is not None else []


def _commands(command):
    yield command
    for sub in (getattr(command, "commands", None) or {}).values():
        yield from _commands(sub)
