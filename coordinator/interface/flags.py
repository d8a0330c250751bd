"""The run's settings as command-line flags, derived from the config's own declarations.

Each SearchConfig setting becomes one flag, `--` and its name with `-` for `_` (`time_budget` is
`--time-budget`, the YAML key `time_budget`), grouped by its section, with its description and
its default as declared. The value's form follows the setting's type: numbers, one of a fixed set
of words, on/off switches (`--adaptive`, `--no-adaptive`), comma-separated sizes (`2,64,3`), and
`none` where a setting may be unset.
"""

from __future__ import annotations

import argparse
import types
import typing
from typing import Annotated, Any, Literal, Union

from pydantic.fields import FieldInfo

from coordinator.config import SECTIONS, SearchConfig, setting_names, setting_section

NONE_WORDS = ("none", "off")


def flag_name(setting: str) -> str:
    """The flag of a setting: time_budget -> --time-budget."""
    return "--" + setting.replace("_", "-")


def _strip(annotation: Any) -> tuple[Any, bool]:
    """(the setting's type without None and constraints, whether it may be None)."""
    optional = False
    if typing.get_origin(annotation) in (Union, types.UnionType):
        members = [member for member in typing.get_args(annotation) if member is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        annotation = members[0]  # every setting is of one type, or of that type or None
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation, optional


class _NoneGiven:
    """`--flag none`: told apart from a flag not given (argparse's None)."""


NONE_GIVEN = _NoneGiven()


def format_value(value: Any) -> str:
    """A value as the command line writes it: 2,64,3 / on / off / none / 20000."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(str(part) for part in value)
    return str(value)


def _converter(name: str, kind: Any, optional: bool):
    """The function argparse calls on the flag's text."""

    def convert(text: str) -> Any:
        if optional and text.strip().lower() in NONE_WORDS:
            return NONE_GIVEN
        try:
            if kind is int:
                return int(text)
            if kind is float:
                return float(text)
            if typing.get_origin(kind) is tuple:
                return tuple(int(part) for part in text.split(","))
        except ValueError:
            expected = {int: "an integer", float: "a number"}.get(kind, "comma-separated integers like 2,64,3")
            also = " or 'none'" if optional else ""
            raise argparse.ArgumentTypeError(f"expected {expected}{also}, got {text!r}") from None
        return text

    convert.__name__ = name
    return convert


def _add_flag(group: argparse._ArgumentGroup, name: str, field: FieldInfo) -> None:
    kind, optional = _strip(field.annotation)
    text = f"{field.description} (default: {format_value(field.default)})"
    if kind is bool:
        group.add_argument(flag_name(name), dest=name, action=argparse.BooleanOptionalAction, default=None, help=text)
        return
    options: dict[str, Any] = {"dest": name, "default": None, "help": text}
    if typing.get_origin(kind) is Literal:
        options["choices"] = list(typing.get_args(kind))
    else:
        options["type"] = _converter(name, kind, optional)
        options["metavar"] = {int: "N", float: "X"}.get(kind, "N,N,..." if typing.get_origin(kind) is tuple else "TEXT")
    group.add_argument(flag_name(name), **options)


def add_setting_flags(parser: argparse.ArgumentParser) -> dict[str, argparse._ArgumentGroup]:
    """One flag per SearchConfig setting, in a group per section (returned); every flag defaults to 'not given'."""
    groups = {section: parser.add_argument_group(title) for section, title in SECTIONS.items()}
    for name in setting_names():
        _add_flag(groups[setting_section(name)], name, SearchConfig.model_fields[name])
    return groups


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags (a flag not given is absent, so YAML values stand)."""
    values = {name: getattr(args, name) for name in SearchConfig.model_fields if getattr(args, name) is not None}
    return {name: None if value is NONE_GIVEN else value for name, value in values.items()}
