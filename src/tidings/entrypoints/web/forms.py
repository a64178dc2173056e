"""Form fields of the console's edit pages: how each is shown, and how what a browser posts
becomes typed changes for a service (which validates them the same way the API does)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from starlette.datastructures import FormData

from tidings.domain.errors import ValidationError

Kind = Literal["text", "int", "bool", "choice", "words", "datetime", "password", "secret_text"]


@dataclass(frozen=True)
class Field:
    #: Attribute name; ``a.b`` for a field of a nested settings object.
    name: str
    label: str
    kind: Kind = "text"
    choices: tuple[tuple[str, str], ...] = ()
    hint: str = ""
    required: bool = False

    @property
    def html_id(self) -> str:
        return "f-" + self.name.replace(".", "-").replace("_", "-")


def choices_of(
    kind: type[enum.StrEnum], labels: Mapping[str, str] | None = None
) -> tuple[tuple[str, str], ...]:
    labels = labels or {}
    return tuple(
        (member.value, labels.get(member.value, member.value.replace("_", " ").capitalize()))
        for member in kind
    )


def shown_value(target: object, field: Field) -> object:
    """The current value as the form shows it."""
    value: object = target
    for part in field.name.split("."):
        value = value.get(part, "") if isinstance(value, Mapping) else getattr(value, part, "")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, frozenset | set):
        return " ".join(sorted(str(v) for v in value))
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    if value is None:
        return ""
    return value


def changes_from(form: FormData, fields: Iterable[Field]) -> dict[str, object]:
    """Typed changes, nested by the dots in field names; a blank password is no change."""
    changes: dict[str, object] = {}
    for field in fields:
        raw = form.get(field.name)
        text = raw.strip() if isinstance(raw, str) else ""
        value: object
        match field.kind:
            case "bool":
                value = raw is not None
            case "int":
                if not text:
                    raise ValidationError(f"{field.label}: enter a whole number")
                try:
                    value = int(text)
                except ValueError:
                    raise ValidationError(
                        f"{field.label}: {text!r} is not a whole number"
                    ) from None
            case "words":
                value = sorted({w.strip(".").lower() for w in text.replace(",", " ").split() if w})
            case "datetime":
                value = _parse_datetime(field, text)
            case "password":
                if not text:
                    continue
                value = raw
            case _:
                value = text
        target = changes
        *parents, last = field.name.split(".")
        for part in parents:
            nested = target.setdefault(part, {})
            assert isinstance(nested, dict)  # noqa: S101
            target = nested
        target[last] = value
    return changes


def _parse_datetime(field: Field, text: str) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{field.label}: {text!r} is not a date and time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
