"""Form fields of the console's edit pages: how each is shown, and how what a browser posts
becomes typed changes for a service, checked field by field and against the API's shape for
the same changes, every problem reported at once beside its field."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from starlette.datastructures import FormData

from tidings.domain.errors import (
    ConflictError,
    FieldValueError,
    NotAuthorizedError,
    UserError,
    ValidationError,
)
from tidings.domain.records import MAX_ADDRESS_LENGTH, is_email_address, normalize_address

Kind = Literal[
    "text", "int", "port", "bool", "choice", "id_choice", "words", "datetime", "password",
    "secret_text", "multi_choice", "id_choices", "email",
]  # fmt: skip
#: Kinds whose value is never shown again once posted.
SECRET_KINDS = frozenset({"password", "secret_text"})
#: Kinds posted as several values of one name (ticked boxes).
MULTI_KINDS = frozenset({"multi_choice", "id_choices"})


@dataclass(frozen=True)
class Field:
    #: Attribute name; ``a.b`` for a field of a nested settings object.
    name: str
    label: str
    kind: Kind = "text"
    choices: tuple[tuple[str, str], ...] = ()
    hint: str = ""
    required: bool = False
    #: The name in the API's request shape, when the form posts it under another.
    api_name: str = ""
    #: Tells apart fields of the same name in two forms of one page.
    form_key: str = ""

    @property
    def html_id(self) -> str:
        key = f"{self.form_key}-{self.name}" if self.form_key else self.name
        return "f-" + key.replace(".", "-").replace("_", "-")

    @property
    def target(self) -> str:
        return self.api_name or self.name


#: The grids' saved-view forms (templates/_grid.html): save as, and rename.
SAVE_VIEW_FIELD = Field("name", "Save this view as", required=True, form_key="view")
RENAME_VIEW_FIELD = Field("name", "Rename to", required=True, form_key="rename")


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


class FieldErrors(ValidationError):
    """Every field's problem at once, by field name, for the form to show beside each."""

    def __init__(self, errors: Mapping[str, str], labels: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        named = ", ".join(labels.get(name, name) for name in self.errors if name)
        general = self.errors.get("", "")
        summary = f"Please correct the fields marked below: {named}." if named else ""
        super().__init__(" ".join(part for part in (summary, general) if part))


@dataclass(frozen=True)
class Posted:
    """A form that was refused: which form of the page it was, what was typed (shown again,
    secrets excepted) and each field's problem, for the page to show beside each field."""

    form: str
    values: FormData
    errors: Mapping[str, str]
    fields: tuple[Field, ...] = ()
    message: str = ""

    def shown(self, field: Field) -> object:
        if field.kind in SECRET_KINDS:
            return ""
        if field.kind in MULTI_KINDS:
            return [v for v in self.values.getlist(field.name) if isinstance(v, str)]
        raw = self.values.get(field.name)
        text = raw if isinstance(raw, str) else ""
        if field.kind == "bool":  # the box stays ticked only for a yes
            return text.strip().lower() in _YES
        return text

    def error(self, field: Field) -> str | None:
        return self.errors.get(field.name)

    @property
    def problems(self) -> list[tuple[Field | None, str]]:
        """Each problem for the summary at the top, in the form's order; a problem of no
        one field last."""
        listed: list[tuple[Field | None, str]] = [
            (f, self.errors[f.name]) for f in self.fields if f.name in self.errors
        ]
        known = {f.name for f in self.fields}
        listed += [(None, m) for n, m in self.errors.items() if n not in known and m]
        if not listed and self.message:
            listed.append((None, self.message))
        return listed


def refused(form_key: str, values: FormData, error: UserError, fields: Iterable[Field]) -> Posted:
    """What the page needs to show ``error`` beside the fields of the form ``form_key``."""
    fields = tuple(fields)
    errors = errors_by_field(error, fields)
    return Posted(form_key, values, errors, fields, "" if errors else str(error))


def errors_by_field(error: UserError, fields: Iterable[Field]) -> dict[str, str]:
    """Each problem of ``error`` by the name of the form's field it concerns; none when it
    concerns no one field."""
    if isinstance(error, FieldErrors):
        return dict(error.errors)
    if not isinstance(error, FieldValueError):
        return {}
    # The service names fields as the API does; a problem of a field this form lacks is the
    # form's as a whole.
    by_target = {f.target: f.name for f in fields}
    return {by_target.get(name, ""): problem for name, problem in error.problems.items()}


def form_status(error: UserError) -> int:
    """A form refused for what was typed is 422; a clash with stored data 409."""
    if isinstance(error, ConflictError):
        return 409
    if isinstance(error, NotAuthorizedError):
        return 403
    return 422


def changes_from(
    form: FormData,
    fields: Iterable[Field],
    model: type[BaseModel] | None = None,
    *,
    blank_is_absent: bool = False,
) -> dict[str, object]:
    """Typed changes, nested by the dots in field names; a blank password is no change.

    Each field is read on its own and ``model`` (the API's request shape for the same
    changes) then checks them together, so a form gets every field's problem at once
    (``FieldErrors``), checked exactly as the API would check it. With ``blank_is_absent``
    a field left empty is not given at all, as an API client would leave it out.
    """
    fields = list(fields)
    changes: dict[str, object] = {}
    errors: dict[str, str] = {}
    for field in fields:
        try:
            value = _read(form, field)
        except ValidationError as error:
            errors[field.name] = str(error)
            continue
        if value is _UNCHANGED or (blank_is_absent and value in ("", None)):
            continue
        target = changes
        *parents, last = field.target.split(".")
        for part in parents:
            nested = target.setdefault(part, {})
            assert isinstance(nested, dict)  # noqa: S101
            target = nested
        target[last] = value
    if model is not None:
        by_target = {f.target: f.name for f in fields}
        for name, message in _model_errors(model, changes, set(by_target)).items():
            errors.setdefault(by_target.get(name, name), message)
    if errors:
        raise FieldErrors(errors, {f.name: f.label for f in fields})
    return changes


def changes_of(
    form: FormData, *groups: tuple[Sequence[Field], type[BaseModel] | None]
) -> list[dict[str, object]]:
    """``changes_from`` for each group of fields (each checked by its own API shape), every
    group's problems reported together."""
    found: list[dict[str, object]] = []
    errors: dict[str, str] = {}
    for fields, model in groups:
        try:
            found.append(changes_from(form, fields, model))
        except FieldErrors as error:
            errors.update(error.errors)
            found.append({})
    if errors:
        labels = {f.name: f.label for fields, _ in groups for f in fields}
        raise FieldErrors(errors, labels)
    return found


_UNCHANGED = object()
_YES = frozenset({"on", "yes", "true", "1"})
_NO = frozenset({"no", "off", "false", "0"})


def _read(form: FormData, field: Field) -> object:
    raw = form.get(field.name)
    text = raw.strip() if isinstance(raw, str) else ""
    match field.kind:
        case "bool":
            # A ticked box posts "on"; nothing else is a yes or a no.
            if raw is None:
                return False
            if text.lower() in _YES | _NO:
                return text.lower() in _YES
            raise ValidationError("choose yes or no")
        case "int":
            if not text:
                raise ValidationError("enter a whole number")
            if not re.fullmatch(r"[+-]?[0-9]{1,12}", text):
                raise ValidationError("enter a whole number in range")
            return int(text)
        case "port":
            if not text:
                return None
            if not re.fullmatch(r"[0-9]{1,5}", text) or not 1 <= int(text) <= 65535:
                raise ValidationError("enter a port number from 1 to 65535, or leave it empty")
            return int(text)
        case "choice":
            if text not in {value for value, _ in field.choices}:
                raise ValidationError("choose one of the listed options")
            return text
        case "id_choice":
            # A record chosen from a list (its id), or "" for none when the list offers it.
            if text not in {value for value, _ in field.choices}:
                raise ValidationError("choose one of the listed options")
            return int(text) if text else None
        case "words":
            return sorted({w.strip(".").lower() for w in text.replace(",", " ").split() if w})
        case "datetime":
            return _parse_datetime(field, text)
        case "password":
            return raw if text else _UNCHANGED
        case "multi_choice" | "id_choices":
            return _read_many(form, field)
        case "email":
            if not text and not field.required:
                return ""
            if len(text) > MAX_ADDRESS_LENGTH or not is_email_address(normalize_address(text)):
                raise ValidationError("enter an email address, such as dana@example.com")
            return text
        case _:
            return text


def _read_many(form: FormData, field: Field) -> list[object]:
    """Ticked boxes: each one of the listed values, each at most once."""
    allowed = {value for value, _ in field.choices}
    posted = [v.strip() if isinstance(v, str) else "" for v in form.getlist(field.name)]
    if any(v not in allowed for v in posted):
        raise ValidationError("choose among the listed options")
    chosen = list(dict.fromkeys(posted))
    return [int(v) for v in chosen] if field.kind == "id_choices" else list(chosen)


def _model_errors(
    model: type[BaseModel], changes: Mapping[str, object], names: set[str]
) -> dict[str, str]:
    """The API shape's verdict on ``changes``, by the name of the field each concerns."""
    try:
        model.model_validate(changes)
    except PydanticValidationError as error:
        found: dict[str, str] = {}
        for item in error.errors():
            parts = [str(part) for part in item["loc"] if isinstance(part, str)]
            # ("options", "ca_file") is the field options.ca_file; (..., 3) an item of a list.
            name = ".".join(parts)
            while name and name not in names:
                name = name.rpartition(".")[0]
            message = str(item["msg"]).removeprefix("Value error, ")
            found.setdefault(name, message[:1].lower() + message[1:])
        return found
    return {}


def _parse_datetime(field: Field, text: str) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError("enter a date and time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
