"""How the console reads a posted form: yes/no strictly, ticked lists only among the listed
values, every problem at once, and a refused form shown again without its secrets."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from tidings.domain.errors import ConflictError, ValidationError
from tidings.entrypoints.web.forms import (
    Field,
    FieldErrors,
    changes_from,
    changes_of,
    form_status,
    refused,
)

FLAG = Field("flag", "Flag", "bool")
ROLES = Field("role_id", "Roles", "id_choices", (("1", "One"), ("2", "Two")), api_name="role_ids")
SECRET = Field("password", "Password", "password")


@pytest.mark.parametrize(
    ("posted", "expected"), [("on", True), ("yes", True), ("no", False), ("off", False)]
)
def test_a_yes_or_no_takes_a_ticked_box_and_the_yes_no_words(posted: str, expected: bool) -> None:
    assert changes_from(FormData([("flag", posted)]), [FLAG]) == {"flag": expected}


def test_a_missing_box_is_no() -> None:
    assert changes_from(FormData([]), [FLAG]) == {"flag": False}


@pytest.mark.parametrize("posted", ["maybe", "2", "onn", "<script>", "x" * 100_000])
def test_anything_else_is_the_field_s_error(posted: str) -> None:
    with pytest.raises(FieldErrors) as refused_:
        changes_from(FormData([("flag", posted)]), [FLAG])
    assert refused_.value.errors == {"flag": "choose yes or no"}


def test_ticked_ids_are_read_under_the_api_s_name_and_only_among_the_listed() -> None:
    assert changes_from(FormData([("role_id", "2"), ("role_id", "2")]), [ROLES]) == {
        "role_ids": [2]
    }
    with pytest.raises(FieldErrors) as error:
        changes_from(FormData([("role_id", "1"), ("role_id", "3")]), [ROLES])
    assert set(error.value.errors) == {"role_id"}


def test_every_group_s_problems_come_at_once() -> None:
    form = FormData([("flag", "perhaps"), ("role_id", "9")])
    with pytest.raises(FieldErrors) as error:
        changes_of(form, ([FLAG], None), ([ROLES], None))
    assert set(error.value.errors) == {"flag", "role_id"}


def test_a_refused_form_shows_what_was_typed_but_never_a_secret() -> None:
    form = FormData([("flag", "off"), ("role_id", "2"), ("password", "hunter2")])
    posted = refused("f", form, FieldErrors({"flag": "x"}, {}), [FLAG, ROLES, SECRET])
    assert posted.shown(SECRET) == ""
    assert posted.shown(FLAG) is False
    assert posted.shown(ROLES) == ["2"]
    assert [(f.name if f else None, m) for f, m in posted.problems] == [("flag", "x")]


def test_a_form_s_own_mistake_is_422_and_a_clash_with_stored_data_409() -> None:
    assert form_status(ValidationError("bad")) == 422
    assert form_status(ConflictError("taken")) == 409
