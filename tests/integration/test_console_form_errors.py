"""Every console form that takes values refuses bad ones the same way: 422, each problem
beside its own field (aria-invalid, aria-describedby naming the error) and in a summary at
the top, what was typed shown again escaped (never a password), and nothing saved."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.builders import Org, make_email
from tests.integration.test_console import ADMIN, BASE, signed_in_admin
from tidings.domain.people import Caller, Privilege
from tidings.entrypoints.api.app import create_app
from tidings.entrypoints.web.forms import shown_value
from tidings.entrypoints.web.views.settings import FIELDS

MARKUP = '<b onmouseover="x">bold</b>'
LONG = "x" * 100_000


@pytest.fixture
def admin(org: Org) -> TestClient:
    return signed_in_admin(org)


def _operator(org: Org) -> Caller:
    return Caller(next(iter(org.users.values())), frozenset(Privilege))


def field_block(page: str, html_id: str) -> str:
    """The field's own div: its input, its error, its hint."""
    found = re.search(rf'<div class="field[^"]*" id="{html_id}-field">(.*?)\n</div>', page, re.S)
    assert found, f"{html_id} is on the page"
    return found.group(1)


def assert_error_beside(page: str, html_id: str, words: str = "") -> str:
    """The field's error is in its div, and its input points at it."""
    block = field_block(page, html_id)
    error = re.search(rf'<span class="field-error" id="{html_id}-error">([^<]*)</span>', block)
    assert error, f"{html_id} shows its error beside it:\n{block[:2000]}"
    assert f'id="{html_id}"' in block
    assert 'aria-invalid="true"' in block
    assert f'aria-describedby="{html_id}-error"' in block
    assert words in error.group(1), error.group(1)
    assert f'href="#{html_id}"' in page.split("<form")[0] or f'href="#{html_id}"' in page
    return error.group(1)


def assert_no_error(page: str, html_id: str) -> None:
    assert f'id="{html_id}-error"' not in page, f"{html_id} has no error"


def assert_refused(answer: Response) -> str:
    assert answer.status_code == 422, answer.text[-3000:]
    assert 'class="error error-summary" role="alert"' in answer.text
    return answer.text


def assert_kept(page: str, html_id: str, typed: str) -> None:
    """What was typed is shown again in its field, escaped."""
    block = field_block(page, html_id)
    shown = re.search(rf'id="{html_id}"[^>]* value="([^"]*)"', block) or re.search(
        rf'<textarea id="{html_id}"[^>]*>([^<]*)</textarea>', block
    )
    assert shown, f"{html_id} shows a value"
    assert html.unescape(shown.group(1)) == typed, f"{html_id} keeps {typed[:40]!r}"
    assert "<" not in shown.group(1) and '"' not in shown.group(1)


def test_new_user_with_mailbox_shows_each_problem_beside_its_field(
    admin: TestClient, org: Org
) -> None:
    before = len(org.tidings.people.list_users(_operator(org)))
    answer = admin.post(
        "/users",
        data={
            "full_name": MARKUP,
            "email": "not an address",
            "password": "secret-password-1",
            "role_id": ["999"],
            "create_mailbox": "maybe",
            "mailbox_address": LONG,
            "mailbox_profile_id": "77",
        },
    )
    page = assert_refused(answer)
    assert_error_beside(page, "f-email", "email address")
    assert_error_beside(page, "f-role-id", "listed")
    assert_error_beside(page, "f-create-mailbox", "yes or no")
    assert_error_beside(page, "f-mailbox-address", "email address")
    assert_error_beside(page, "f-mailbox-profile-id", "listed")
    assert_no_error(page, "f-full-name")
    assert_kept(page, "f-full-name", MARKUP)
    assert_kept(page, "f-email", "not an address")
    assert "secret-password-1" not in page
    assert len(org.tidings.people.list_users(_operator(org))) == before
    # The queue form of the same page is untouched.
    assert_no_error(page, "f-queue-email")


def test_new_queue_errors_stay_in_the_queue_form(admin: TestClient) -> None:
    answer = admin.post("/queues", data={"name": " ", "email": MARKUP, "role_id": "x"})
    page = assert_refused(answer)
    assert_error_beside(page, "f-queue-name")
    assert_error_beside(page, "f-queue-email", "email address")
    assert_error_beside(page, "f-queue-role-id", "listed")
    assert_kept(page, "f-queue-email", MARKUP)
    assert_no_error(page, "f-email")


def test_saving_a_user_refuses_every_bad_field_and_keeps_no_password(
    admin: TestClient, org: Org
) -> None:
    user = org.tidings.people.list_users(_operator(org))[0]
    answer = admin.post(
        f"/users/{user.id}",
        data={"full_name": "", "email": "@", "is_active": "perhaps", "password": "p" * 1001},
    )
    page = assert_refused(answer)
    assert_error_beside(page, "f-full-name")
    assert_error_beside(page, "f-email", "email address")
    assert_error_beside(page, "f-is-active", "yes or no")
    assert_error_beside(page, "f-password")
    assert "p" * 1001 not in page
    after = org.tidings.people.get_user(_operator(org), user.id)
    assert (after.full_name, after.email) == (user.full_name, user.email)


def test_a_role_form_refuses_an_unknown_privilege_beside_its_field(
    admin: TestClient, org: Org
) -> None:
    answer = admin.post("/roles", data={"name": LONG, "privilege": ["track_email", "fly"]})
    page = assert_refused(answer)
    assert_error_beside(page, "f-role-new-name", "200")
    assert_error_beside(page, "f-role-new-privilege", "listed")
    assert not any(r.name == LONG for r in org.tidings.people.list_roles(_operator(org)))


def test_role_levels_refuse_a_level_a_privilege_cannot_have_beside_its_row(
    admin: TestClient, org: Org
) -> None:
    role = next(
        r for r in org.tidings.people.list_roles(_operator(org)) if r.name != "System Administrator"
    )
    before = org.tidings.people.get_role(_operator(org), role.id)
    answer = admin.post(
        f"/roles/{role.id}",
        data={"level-write_settings": "business_unit", "level-track_email": "galaxy"},
    )
    page = assert_refused(answer)
    assert_error_beside_row(page, "f-level-write-settings")
    assert_error_beside_row(page, "f-level-track-email")
    assert org.tidings.people.get_role(_operator(org), role.id) == before


def assert_error_beside_row(page: str, html_id: str) -> None:
    row = re.search(rf'<tr id="{html_id}-field" class="invalid">(.*?)</tr>', page, re.S)
    assert row, f"{html_id} is marked"
    assert f'<span class="field-error" id="{html_id}-error">' in row.group(1)
    assert f'aria-describedby="{html_id}-error"' in row.group(1)


def test_business_unit_forms_show_errors_beside_their_fields(admin: TestClient, org: Org) -> None:
    units = org.tidings.business_units.list_units(_operator(org))
    answer = admin.post("/business-units", data={"name": MARKUP * 30, "parent": "0"})
    page = assert_refused(answer)
    assert_error_beside(page, "f-unit-name", "200")
    assert_error_beside(page, "f-unit-parent", "listed")
    assert_kept(page, "f-unit-name", MARKUP * 30)
    assert org.tidings.business_units.list_units(_operator(org)) == units
    queue = org.tidings.people.create_queue(
        _operator(org), name="Support", email="support@northwind.example"
    )
    answer = admin.post(f"/queues/{queue.id}/members", data={"unit": "x", "member": ["1", "-5"]})
    page = assert_refused(answer)
    assert_error_beside(page, f"f-queue-{queue.id}-unit", "listed")
    assert_error_beside(page, f"f-queue-{queue.id}-member", "listed")
    user = org.tidings.people.list_users(_operator(org))[0]
    answer = admin.post(f"/users/{user.id}/business-unit", data={"unit": "99999999999"})
    assert_error_beside(assert_refused(answer), "f-unit", "listed")


def test_personal_options_refuse_a_yes_or_no_that_is_neither(admin: TestClient, org: Org) -> None:
    user = org.tidings.people.list_users(_operator(org))[0]
    before = org.tidings.personal_options.get_options(_operator(org), user.id)
    answer = admin.post(
        f"/options/{user.id}", data={"track_incoming": "<none>", "create_contacts": "2"}
    )
    page = assert_refused(answer)
    assert_error_beside(page, "f-track-incoming", "listed")
    assert_error_beside(page, "f-create-contacts", "yes or no")
    assert org.tidings.personal_options.get_options(_operator(org), user.id) == before


def test_an_api_token_name_too_long_is_refused_beside_it(admin: TestClient, org: Org) -> None:
    answer = admin.post("/tokens", data={"name": LONG})
    page = assert_refused(answer)
    assert_error_beside(page, "f-token-name", "200")
    assert_kept(page, "f-token-name", LONG)
    assert 'id="new-token"' not in page


def test_mailbox_forms_show_errors_beside_fields_and_never_the_password(
    admin: TestClient, org: Org
) -> None:
    mailbox = org.mailboxes["dana"]
    answer = admin.post(
        f"/mailboxes/{mailbox}/credentials",
        data={"direction": "sideways", "username": "", "password": "hunter2-secret"},
    )
    page = assert_refused(answer)
    assert_error_beside(page, "f-cr-direction", "listed")
    assert_error_beside(page, "f-cr-username")
    assert "hunter2-secret" not in page
    answer = admin.post(
        "/mailboxes", data={"address": MARKUP, "owner": "robot:1", "profile_id": "x"}
    )
    page = assert_refused(answer)
    assert_error_beside(page, "f-new-address", "email address")
    assert_error_beside(page, "f-new-owner", "listed")
    assert_error_beside(page, "f-new-profile-id", "listed")
    assert_kept(page, "f-new-address", MARKUP)


def test_saving_a_view_without_a_name_keeps_the_grid_and_marks_the_name(admin: TestClient) -> None:
    answer = admin.post("/views", data={"grid": "activities", "name": " ", "query": "q=x"})
    page = assert_refused(answer)
    assert_error_beside(page, "f-view-name")


def test_compose_marks_each_bad_field_and_keeps_what_was_typed(admin: TestClient, org: Org) -> None:
    answer = admin.post(
        "/emails",
        data={
            "mailbox_id": "0",
            "to": "nobody, " + MARKUP,
            "cc": "x@@",
            "subject": "s" * 1000,
            "body": MARKUP,
            "regarding_kind": "planet",
            "regarding_id": "abc",
        },
    )
    assert answer.status_code == 422
    page = answer.text
    for html_id in (
        "compose-from",
        "compose-to",
        "compose-cc",
        "compose-subject",
        "compose-regarding-kind",
    ):
        assert f'id="{html_id}-error"' in page, html_id
        assert f'aria-describedby="{html_id}-error"' in page, html_id
    assert 'href="#compose-to"' in page
    assert "&lt;b onmouseover=" in page and MARKUP not in page


def test_sign_in_marks_an_empty_field_and_never_echoes_the_password(org: Org) -> None:
    org.tidings.access.create_admin("Ada Admin", *ADMIN)
    client = TestClient(create_app(org.tidings), base_url=BASE)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/signin").text)
    assert token
    answer = client.post(
        "/signin", data={"csrf_token": token.group(1), "email": "", "password": "typed-secret"}
    )
    assert answer.status_code == 422
    assert 'aria-describedby="email-error"' in answer.text
    assert '<span class="field-error" id="email-error">' in answer.text
    assert "typed-secret" not in answer.text


def test_the_folder_picker_marks_a_typed_name_too_long(admin: TestClient, org: Org) -> None:
    url = f"/mailboxes/{org.mailboxes['dana']}/folders"
    answer = admin.post(url, data={"typed": LONG, "folder": ["y" * 300]})
    page = assert_refused(answer)
    assert_error_beside(page, "f-typed", "200")
    assert 'id="f-folder-error"' in page and 'aria-describedby="f-folder-error"' in page
    assert_kept(page, "f-typed", LONG)


def test_an_activity_regarding_and_untrack_forms_mark_their_fields(
    admin: TestClient, org: Org
) -> None:
    result = org.deliver(make_email())
    activity = result.activity_id
    assert activity is not None
    answer = admin.post(
        f"/activities/{activity}/regarding", data={"kind": "mailbox", "record_id": "-4"}
    )
    page = assert_refused(answer)
    assert_error_beside(page, "f-regarding-kind", "listed")
    assert_error_beside(page, "f-regarding-record-id", "record number")
    assert_kept(page, "f-regarding-record-id", "-4")
    answer = admin.post(f"/activities/{activity}/untrack", data={"reason": MARKUP * 100})
    page = assert_refused(answer)
    assert_error_beside(page, "f-untrack-reason", "500")
    assert_kept(page, "f-untrack-reason", MARKUP * 100)
    assert admin.get(f"/activities/{activity}").status_code == 200  # still tracked


def test_a_new_server_profile_takes_only_host_names_or_ip_addresses(
    admin: TestClient, org: Org
) -> None:
    answer = admin.post(
        "/profiles/new",
        data={
            "kind": "imap_smtp",
            "name": MARKUP,
            "credential_source": "mailbox",
            "incoming_host": "mail server.example",
            "incoming_security": "tls",
            "outgoing_host": "999.1.1.1",
            "outgoing_security": "starttls",
            "allow_insecure": "sure",
            "min_polling_interval_minutes": "5",
            "max_concurrent_connections": "10",
            "connection_timeout_seconds": "30",
            "password": "profile-secret-1",
            "username": "svc@northwind.example",
        },
    )
    page = assert_refused(answer)
    assert_error_beside(page, "f-incoming-host", "host name")
    assert_error_beside(page, "f-outgoing-host", "IP address")
    assert_error_beside(page, "f-allow-insecure", "yes or no")
    assert_kept(page, "f-name", MARKUP)
    assert_kept(page, "f-incoming-host", "mail server.example")
    assert "profile-secret-1" not in page
    assert org.tidings.server_profiles.list_profiles(_operator(org)) == []


def test_email_settings_mark_every_bad_field_at_once(admin: TestClient, org: Org) -> None:
    before = org.tidings.email_settings.get(_operator(org))
    answer = admin.post(
        "/settings/email",
        data={
            "use_correlation": "1x",
            "tracking_token.user_digits": "99",
            "max_attachment_kb": LONG,
            "tracking_address": MARKUP,
        },
    )
    assert answer.status_code == 422
    page = answer.text
    for html_id in (
        "f-use-correlation",
        "f-tracking-token-user-digits",
        "f-max-attachment-kb",
        "f-tracking-address",
    ):
        assert_error_beside(page, html_id)
    assert org.tidings.email_settings.get(_operator(org)) == before


def test_a_user_s_address_as_tracking_address_is_refused_beside_that_field(
    admin: TestClient, org: Org
) -> None:
    # The service's verdict on one field's value is shown beside that field, as the form's own.
    before = org.tidings.email_settings.get(_operator(org))
    user = org.tidings.people.list_users(_operator(org))[0]
    form: dict[str, object] = {}
    for field in FIELDS:  # every other field as it stands
        value = shown_value(before, field)
        if field.kind != "bool":
            form[field.name] = str(value)
        elif value:
            form[field.name] = "on"
    answer = admin.post("/settings/email", data=form | {"tracking_address": user.email})
    page = assert_refused(answer)
    assert_error_beside(page, "f-tracking-address", "is a user&#39;s address; name a queue")
    assert org.tidings.email_settings.get(_operator(org)) == before


def test_a_queue_s_roles_and_a_view_s_new_name_are_refused_beside_their_fields(
    admin: TestClient, org: Org
) -> None:
    queue = org.tidings.people.create_queue(
        _operator(org), name="Help", email="help@northwind.example"
    )
    answer = admin.post(f"/queues/{queue.id}/roles", data={"role_id": ["1", "1x"]})
    assert_error_beside(assert_refused(answer), f"f-queue-{queue.id}-role-id", "listed")
    saved = admin.post(
        "/views",
        data={"grid": "mailboxes", "name": "Mine", "query": "view=all"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    view_id = saved.headers["location"].rsplit("saved=", 1)[1]
    answer = admin.post(f"/views/{view_id}/rename", data={"name": LONG})
    page = assert_refused(answer)
    assert_error_beside(page, "f-rename-name", "100")
    assert_kept(page, "f-rename-name", LONG)
