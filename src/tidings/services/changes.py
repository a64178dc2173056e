"""Applying an admin's changes to a settings object: known fields only, each value checked
against the field's type, enums read from their values, and a ``ValidationError`` that names
the field for anything else — so the API and the console reject bad input the same way."""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from tidings.domain.errors import ValidationError

T = TypeVar("T")


def apply_changes(target: T, changes: Mapping[str, object], editable: Iterable[str]) -> T:
    """A copy of the dataclass ``target`` with ``changes`` applied, each value checked."""
    allowed = set(editable)
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}; known: {', '.join(sorted(allowed))}")
    hints = typing.get_type_hints(type(target))
    coerced = {
        name: _coerce(name, hints[name], value, getattr(target, name))
        for name, value in changes.items()
    }
    return dataclasses.replace(target, **coerced)  # type: ignore[type-var]


def _coerce(name: str, hint: Any, value: object, current: object) -> object:
    args = typing.get_args(hint)
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        optional = type(None) in args
        if value is None and optional:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if isinstance(value, str) and (hint in _FORM_TYPES or origin is frozenset):
        # A form posts text: an empty optional field is "not set", numbers and booleans
        # are read as a JSON parser would, a list as words separated by spaces or commas.
        if optional and not value.strip():
            return None
        value = _from_text(name, hint, value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum(name, hint, value)
    if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        fields = [f.name for f in dataclasses.fields(hint)]
        return apply_changes(current, value, fields)
    if origin is frozenset:
        return _set_of(name, args[0], value)
    if origin is dict:
        return _string_map(name, value)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is str:
        if isinstance(value, str):
            return check_text(name, value)
    elif hint is datetime:
        if isinstance(value, datetime):
            return value
    elif isinstance(value, hint):
        return value
    raise ValidationError(f"{name}: expected {_describe(hint)}, got {value!r}")


_FORM_TYPES = frozenset({int, bool, datetime})
_TRUE = frozenset({"true", "on", "yes", "1"})
_FALSE = frozenset({"false", "off", "no", "0", ""})


def _from_text(name: str, hint: Any, value: object) -> object:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if hint is int and re.fullmatch(r"[+-]?[0-9]{1,12}", text):
        return int(text)
    if hint is bool and text.lower() in _TRUE | _FALSE:
        return text.lower() in _TRUE
    if hint is datetime:
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(f"{name}: {value!r} is not an ISO 8601 time") from None
    if typing.get_origin(hint) is frozenset:
        return [word for word in re.split(r"[\s,]+", text) if word]
    return value


def read_bool(name: str, value: object) -> bool:
    """A yes or no from JSON (``true``) or a form (``"on"``); anything else is refused."""
    found = _from_text(name, bool, value)
    if not isinstance(found, bool):
        raise ValidationError(f"{name}: expected true or false, got {value!r}")
    return found


def check_text(name: str, value: str, max_length: int = 1000) -> str:
    """Text a database can keep: no NUL character (PostgreSQL refuses it), valid Unicode
    (a lone surrogate cannot be encoded), not too long."""
    if not isinstance(value, str):
        raise ValidationError(f"{name}: expected text")
    if "\0" in value or not _encodable(value):
        raise ValidationError(f"{name}: text cannot contain NUL or unpaired surrogate characters")
    if len(value) > max_length:
        raise ValidationError(f"{name}: at most {max_length} characters")
    return value


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _enum(name: str, kind: type[enum.Enum], value: object) -> enum.Enum:
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(str(member.value) for member in kind)
        raise ValidationError(f"{name}: {value!r} is not one of {choices}") from None


def _set_of(name: str, item: Any, value: object) -> frozenset[object]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError(f"{name}: expected a list")
    return frozenset(_coerce(name, item, v, None) for v in value)


def _string_map(name: str, value: object) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValidationError(f"{name}: expected a mapping of text to text")
    return {check_text(name, k, 100): check_text(name, v) for k, v in value.items()}


def _describe(hint: Any) -> str:
    names = {bool: "true or false", int: "a whole number", str: "text", datetime: "a time"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))
