"""The administration REST API through HTTP: every endpoint refuses a caller without its
privilege with a 403 problem, secrets never come back, bad input is a 4xx problem."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.builders import Org, make_email
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer
from tidings.adapters.passwords import Argon2PasswordHasher
from tidings.domain.people import SYSTEM_ADMINISTRATOR, TrackIncoming
from tidings.domain.tracking import Outcome
from tidings.entrypoints.api.app import create_app

ROOT = ("root@northwind.example", "root-password-1")
DANA = ("dana@northwind.example", "dana-password-1")  # tracking role only
NOBODY = ("nobody@northwind.example", "nobody-password-1")  # no role at all
PROBLEM = "application/problem+json"

IMAP = {
    "name": "Contoso IMAP",
    "kind": "imap_smtp",
    "incoming_host": "imap.contoso.example",
    "incoming_port": 993,
    "outgoing_host": "smtp.contoso.example",
    "outgoing_port": 587,
}


@pytest.fixture
def client(org: Org) -> Iterator[TestClient]:
    org.add_user("root", tracking_role=False)
    org.add_user("nobody", tracking_role=False)
    hasher = Argon2PasswordHasher("cheapest")
    with org.tidings.uow() as uow:
        for (email, password), roles in (
            (ROOT, {org.roles[SYSTEM_ADMINISTRATOR]}),
            (DANA, None),
            (NOBODY, None),
        ):
            user = uow.directory.get_user_by_email(email)
            user.password_hash = hasher.hash(password)
            if roles is not None:
                user.role_ids = frozenset(roles)
            uow.directory.save_user(user)
        uow.commit()
    with TestClient(create_app(org.tidings)) as http:
        yield http


def _ids(org: Org) -> dict[str, int]:
    return {"user": org.users["dana"].id, "mailbox": org.mailboxes["dana"]}


#: Every administration endpoint with a body it would accept, and the words of its refusal.
def _endpoints(ids: dict[str, int]) -> list[tuple[str, str, object, str]]:
    user, mailbox = ids["user"], ids["mailbox"]
    rule = {"folder": "Projects"}
    return [
        ("GET", "/api/settings/email", None, "read_settings"),
        ("PATCH", "/api/settings/email", {"use_smart_matching": True}, "write_settings"),
        ("GET", "/api/server-profiles", None, "read_server_profiles"),
        ("GET", "/api/server-profiles/kinds", None, "read_server_profiles"),
        ("POST", "/api/server-profiles", IMAP, "write_server_profiles"),
        ("GET", "/api/server-profiles/1", None, "read_server_profiles"),
        ("PATCH", "/api/server-profiles/1", {"name": "X"}, "write_server_profiles"),
        ("DELETE", "/api/server-profiles/1", None, "write_server_profiles"),
        (
            "PUT",
            "/api/server-profiles/1/credentials",
            {"username": "svc@x.example", "password": "pw-123456"},
            "write_server_profiles",
        ),
        ("POST", "/api/server-profiles/1/test", {}, "write_server_profiles"),
        ("GET", "/api/mailboxes/views", None, "read_mailboxes"),
        ("GET", "/api/mailboxes/views/all", None, "read_mailboxes"),
        ("GET", "/api/mailboxes/grid", None, "read_mailboxes"),
        (
            "POST",
            "/api/mailboxes",
            {"address": "a@b.example", "owner": "user:1"},
            "write_mailboxes",
        ),
        (
            "POST",
            "/api/mailboxes/bulk",
            [{"email": "a@b.example", "profile": "X"}],
            "write_mailboxes",
        ),
        ("POST", "/api/mailboxes/approve", {"ids": [mailbox]}, "approve_email"),
        ("POST", "/api/mailboxes/test-and-enable", {"ids": [mailbox]}, "write_mailboxes"),
        ("GET", f"/api/mailboxes/{mailbox}", None, "read_mailboxes"),
        ("PATCH", f"/api/mailboxes/{mailbox}", {"profile_id": None}, "write_mailboxes"),
        (
            "PUT",
            f"/api/mailboxes/{mailbox}/credentials",
            {"username": "dana@northwind.example", "password": "pw-123456"},
            "write_mailboxes",
        ),
        ("POST", f"/api/mailboxes/{mailbox}/approve", None, "approve_email"),
        ("POST", f"/api/mailboxes/{mailbox}/test-and-enable", None, "write_mailboxes"),
        ("GET", "/api/users", None, "read_users"),
        ("POST", "/api/users", {"full_name": "Z", "email": "z@n.example"}, "write_users"),
        ("GET", f"/api/users/{user}", None, "read_users"),
        ("PATCH", f"/api/users/{user}", {"full_name": "Dana D"}, "write_users"),
        ("POST", f"/api/users/{user}/deactivate", None, "write_users"),
        ("PUT", f"/api/users/{user}/password", {"password": "new-password-1"}, "write_users"),
        ("PUT", f"/api/users/{user}/roles", {"role_ids": []}, "write_users"),
        ("GET", "/api/queues", None, "read_users"),
        ("POST", "/api/queues", {"name": "Q", "email": "q@n.example"}, "write_users"),
        ("GET", "/api/queues/1", None, "read_users"),
        ("PATCH", "/api/queues/1", {"name": "Q2"}, "write_users"),
        ("PUT", "/api/queues/1/roles", {"role_ids": []}, "write_users"),
        ("GET", "/api/roles", None, "read_users"),
        ("POST", "/api/roles", {"name": "R", "privileges": []}, "write_users"),
        ("PATCH", "/api/roles/1", {"name": "R2"}, "write_users"),
        ("GET", f"/api/users/{user}/options", None, "read_user_settings"),
        (
            "PATCH",
            f"/api/users/{user}/options",
            {"track_incoming": "all_email_messages"},
            "write_user_settings",
        ),
        ("GET", "/api/business-units", None, "read_users"),
        ("POST", "/api/business-units", {"name": "Sales"}, "write_users"),
        ("PATCH", "/api/business-units/1", {"name": "Org"}, "write_users"),
        ("DELETE", "/api/business-units/1", None, "write_users"),
        ("PUT", f"/api/users/{user}/business-unit", {"business_unit_id": 1}, "write_users"),
        ("PUT", "/api/queues/1/business-unit", {"business_unit_id": 1}, "write_users"),
        ("GET", "/api/queues/1/members", None, "read_users"),
        ("PUT", "/api/queues/1/members", {"user_ids": [user]}, "write_users"),
        ("GET", "/api/roles/1/privileges", None, "read_users"),
        ("PUT", "/api/roles/1/privileges", {"levels": {"read_records": "user"}}, "write_users"),
        ("GET", f"/api/mailboxes/{mailbox}/folder-rules", None, "read_mailboxes"),
        ("PUT", f"/api/mailboxes/{mailbox}/folder-rules", [rule], "write_mailboxes"),
        ("POST", f"/api/mailboxes/{mailbox}/folder-rules", rule, "write_mailboxes"),
        ("DELETE", f"/api/mailboxes/{mailbox}/folder-rules/Projects", None, "write_mailboxes"),
        (
            "GET",
            f"/api/mailboxes/{mailbox}/not-tracked",
            None,
            "You haven't been authorized to use this app",
        ),
        (
            "POST",
            "/api/activities/track",
            {"raw_message_id": 1},
            "You haven't been authorized to use this app",
        ),
        (
            "POST",
            "/api/activities/1/untrack",
            {"reason": "private"},
            "You haven't been authorized to use this app",
        ),
        (
            "PUT",
            "/api/activities/1/regarding",
            {"regarding": None},
            "You haven't been authorized to use this app",
        ),
        ("POST", "/api/parked/replay", None, "write_mailboxes"),
        ("POST", "/api/parked/1/replay", None, "write_mailboxes"),
    ]


def test_every_administration_endpoint_refuses_a_caller_without_its_privilege(
    org: Org, client: TestClient
) -> None:
    # Checked for every route the app serves under these paths, so none can be forgotten.
    endpoints = _endpoints(_ids(org))
    for method, path, body, words in endpoints:
        response = client.request(method, path, json=body, auth=NOBODY)
        assert response.status_code == 403, (method, path, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert words in response.json()["detail"], (method, path)
    covered = {(m, _template(p)) for m, p, _, _ in endpoints}
    served = {
        (method.upper(), path)
        for path, operations in client.app.openapi()["paths"].items()
        for method in operations
    }
    admin_paths = {
        (m, p)
        for m, p in served
        if not (
            m == "GET"
            and p in {"/api/mailboxes", "/api/parked", "/healthz", "/readyz", "/api/users/me"}
        )
        # Reading activities and conversations: refused in their own tests.
        and not (m == "GET" and p.startswith(("/api/activities", "/api/conversations")))
        and not p.startswith(RECORD_AND_WEBHOOK_PATHS)
    }
    assert admin_paths - covered == set()


#: Checked generically below: every operation there needs a privilege a role-less user lacks
#: (email written in the CRM needs the tracking role; metrics, reading mailboxes).
RECORD_AND_WEBHOOK_PATHS = (
    "/api/emails",
    "/metrics",
    "/api/accounts",
    "/api/contacts",
    "/api/leads",
    "/api/opportunities",
    "/api/cases",
    "/api/webhooks",
)


def test_every_record_and_webhook_endpoint_refuses_a_caller_without_roles(
    client: TestClient,
) -> None:
    # Every operation the OpenAPI document lists under these paths, ids set to 1.
    checked = 0
    for path, operations in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        if not path.startswith(RECORD_AND_WEBHOOK_PATHS):
            continue
        url = re.sub(r"\{[a-z_]+\}", "1", path)
        for method in operations:
            response = client.request(method.upper(), url, json={}, auth=NOBODY)
            assert response.status_code == 403, (method, path, response.text)
            assert response.headers["content-type"] == PROBLEM
            checked += 1
    assert checked >= 30


def _template(path: str) -> str:
    """/api/users/3/options -> /api/users/{user_id}/options, as the OpenAPI spec names it."""
    names = {
        "users": "user_id",
        "mailboxes": "mailbox_id",
        "server-profiles": "profile_id",
        "queues": "queue_id",
        "roles": "role_id",
        "business-units": "unit_id",
        "activities": "activity_id",
        "parked": "parked_id",
        "folder-rules": "folder",
        "views": "view",
        "not-tracked": None,
    }
    parts = path.split("/")
    for i, part in enumerate(parts):
        if i and (part.isdigit() or part in {"all", "Projects"}):
            parts[i] = "{" + names[parts[i - 1]] + "}"
    return "/".join(parts)


def test_without_sign_in_every_endpoint_asks_for_it(org: Org, client: TestClient) -> None:
    for method, path, body, _ in _endpoints(_ids(org))[:5]:
        response = client.request(method, path, json=body)
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM


def test_secrets_never_appear_in_any_response(org: Org, client: TestClient) -> None:
    # Profile, mailbox and user passwords go in; no response carries them or their hashes.
    secrets = ["Profile-Secret-1", "Mailbox-Secret-2", "User-Secret-3"]
    created = client.post(
        "/api/server-profiles",
        json={
            **IMAP,
            "credential_source": "profile",
            "credentials": {"username": "svc@contoso.example", "password": secrets[0]},
        },
        auth=ROOT,
    )
    assert created.status_code == 201, created.text
    profile = created.json()
    assert profile["credential_usernames"] == {"incoming": "svc@contoso.example"}
    mailbox = org.mailboxes["dana"]
    assert (
        client.put(
            f"/api/mailboxes/{mailbox}/credentials",
            json={"username": "dana@northwind.example", "password": secrets[1]},
            auth=ROOT,
        ).status_code
        == 204
    )
    user = client.post(
        "/api/users",
        json={"full_name": "Ivo", "email": "ivo@northwind.example", "password": secrets[2]},
        auth=ROOT,
    )
    assert user.status_code == 201
    bodies = [created.text, user.text]
    for path in (
        "/api/server-profiles",
        f"/api/server-profiles/{profile['id']}",
        "/api/mailboxes",
        "/api/mailboxes/views/all",
        f"/api/mailboxes/{mailbox}",
        "/api/users",
        f"/api/users/{user.json()['id']}",
        "/api/users/me",
        "/api/openapi.json",
    ):
        response = client.get(path, auth=ROOT)
        assert response.status_code == 200, path
        bodies.append(response.text)
    for body in bodies:
        for secret in secrets:
            assert secret not in body
        assert "$argon2" not in body  # a password hash
        assert "gAAAAA" not in body  # a Fernet token: a sealed password
        assert "password_hash" not in body
    assert client.get(f"/api/mailboxes/{mailbox}", auth=ROOT).json()["credential_usernames"] == {
        "incoming": "dana@northwind.example"
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        ("PATCH", "/api/settings/email", {"max_attachment_kb": -5}, 422, "max_attachment_kb"),
        ("PATCH", "/api/settings/email", {"colour": "blue"}, 422, "colour"),
        ("PATCH", "/api/settings/email", {"processing": None}, 400, "processing"),
        (
            "PATCH",
            "/api/settings/email",
            {"blocked_extensions": ["a b"]},
            422,
            "body.blocked_extensions: 'a b' is not a file extension",
        ),
        (
            "POST",
            "/api/server-profiles",
            {**IMAP, "incoming_security": "none"},
            400,
            "allow insecure",
        ),
        ("POST", "/api/server-profiles", {**IMAP, "incoming_port": 70000}, 422, "incoming_port"),
        ("POST", "/api/server-profiles", {**IMAP, "name": "a\x00b"}, 422, "name"),
        ("POST", "/api/server-profiles", {"name": "No kind"}, 422, "kind"),
        (
            "POST",
            "/api/server-profiles",
            {**IMAP, "incoming_host": ""},
            422,
            "body.incoming_host: the incoming server needs a host name",
        ),
        (
            "POST",
            "/api/server-profiles",
            {**IMAP, "process_email_received_after": "2026-01-01T00:00:00"},
            422,
            "body.process_email_received_after: needs a time zone",
        ),
        ("GET", "/api/server-profiles/99999999999", None, 422, "profile_id"),
        ("GET", "/api/server-profiles/77", None, 404, "no server profile with id 77"),
        ("GET", "/api/mailboxes/views/busy", None, 422, "view"),
        (
            "POST",
            "/api/mailboxes",
            {"address": "nowhere", "owner": "user:1"},
            422,
            "body.address: 'nowhere' is not an email address",
        ),
        (
            "POST",
            "/api/mailboxes",
            {"address": "a@b.example", "owner": "planet:1"},
            422,
            "unknown record kind",
        ),
        (
            "POST",
            "/api/mailboxes",
            {"address": "a@b.example", "owner": "user:1"},
            409,
            "already has a mailbox",
        ),
        ("POST", "/api/mailboxes/approve", {"ids": []}, 422, "ids"),
        ("POST", "/api/mailboxes/approve", {"ids": [4242]}, 404, "no mailbox with id 4242"),
        (
            "POST",
            "/api/users",
            {"full_name": "X", "email": "dana@northwind.example"},
            409,
            "belongs to another user",
        ),
        (
            "POST",
            "/api/users",
            {"full_name": "X", "email": "x@n.example", "password": "short"},
            422,
            "body.password: a password needs at least 8",
        ),
        ("POST", "/api/roles", {"name": "R", "privileges": ["fly"]}, 422, "privileges"),
        ("PATCH", "/api/users/1/options", {"track_incoming": "sometimes"}, 422, "track_incoming"),
        ("PUT", "/api/activities/1/regarding", {"regarding": "deal:1"}, 422, "unknown record kind"),
        ("POST", "/api/activities/track", {}, 422, "raw_message_id or message_id"),
        (
            "POST",
            "/api/activities/track",
            {"raw_message_id": 999},
            404,
            "no stored email with id 999",
        ),
        ("POST", "/api/activities/1/untrack", {"reason": ""}, 422, "reason"),
        ("POST", "/api/parked/5/replay", None, 404, "no parked email with id 5"),
    ],
)
def test_bad_input_is_a_clear_4xx_problem(
    client: TestClient, method, path, body, status, words
) -> None:
    response = client.request(method, path, json=body, auth=ROOT)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert words in response.json()["detail"]


def test_the_set_up_procedure_through_the_api(org: Org, client: TestClient) -> None:
    # Settings, a profile, a user with the tracking role, a mailbox, Approve Email,
    # Test & Enable (failing here: no profile), folder rules, options.
    settings = client.patch(
        "/api/settings/email",
        json={"processing": "server_side_synchronization", "default_outgoing_method": "none"},
        auth=ROOT,
    )
    assert settings.json()["default_outgoing_method"] == "none"
    profile = client.post("/api/server-profiles", json=IMAP, auth=ROOT).json()
    roles = {r["name"]: r["id"] for r in client.get("/api/roles", auth=ROOT).json()}
    user = client.post(
        "/api/users",
        json={
            "full_name": "Ivo Novak",
            "email": "ivo@northwind.example",
            "password": "ivo-password-1",
            "role_ids": [roles["Tidings App User"]],
        },
        auth=ROOT,
    ).json()
    mailbox = client.post(
        "/api/mailboxes",
        json={
            "address": "ivo@northwind.example",
            "owner": f"user:{user['id']}",
            "profile_id": profile["id"],
        },
        auth=ROOT,
    ).json()
    assert (mailbox["approval"], mailbox["outgoing_method"]) == ("pending_approval", "none")
    pending = client.get("/api/mailboxes/views/pending_approval", auth=ROOT).json()
    assert [(m["address"], m["owner_name"], m["profile_name"]) for m in pending] == [
        ("ivo@northwind.example", "Ivo Novak", "Contoso IMAP")
    ]
    approved = client.post(
        "/api/mailboxes/approve", json={"ids": [mailbox["id"]]}, auth=ROOT
    ).json()
    assert approved[0]["approval"] == "approved"
    unprofiled = client.patch(
        f"/api/mailboxes/{mailbox['id']}", json={"profile_id": None}, auth=ROOT
    )
    assert unprofiled.json()["profile_id"] is None
    report = client.post(f"/api/mailboxes/{mailbox['id']}/test-and-enable", auth=ROOT).json()
    assert report["incoming"] == {
        "status": "failure",
        "message": "no email server profile: choose one",
    }
    assert not report["enabled"]
    ivo = ("ivo@northwind.example", "ivo-password-1")
    options = client.patch(
        f"/api/users/{user['id']}/options",
        json={"track_incoming": "email_messages_from_leads_contacts_and_accounts"},
        auth=ivo,
    ).json()
    assert options["track_incoming_label"] == "Email messages from Leads, Contacts, and Accounts"
    rules = client.put(
        f"/api/mailboxes/{mailbox['id']}/folder-rules",
        json=[{"folder": f"Clients/{n}"} for n in range(25)],
        auth=ivo,
    )
    assert len(rules.json()) == 25
    refused = client.post(
        f"/api/mailboxes/{mailbox['id']}/folder-rules",
        json={"folder": "Clients/26", "regarding": str(org.records["deal"])},
        auth=ivo,
    )
    assert refused.status_code == 400
    assert refused.json()["detail"] == "at most 25 folders can be tracked per mailbox"
    removed = client.delete(f"/api/mailboxes/{mailbox['id']}/folder-rules/Clients/3", auth=ivo)
    assert len(removed.json()) == 24
    assert client.delete(f"/api/server-profiles/{profile['id']}", auth=ROOT).status_code == 204


def test_tracking_by_hand_through_the_api(org: Org, client: TestClient) -> None:
    org.tidings.personal_options.update_options(
        _caller(org), org.users["dana"].id, track_incoming=TrackIncoming.NONE
    )
    kept = org.deliver(make_email(message_id="<api@contoso.example>"))
    tracked = client.post(
        "/api/activities/track", json={"message_id": "<api@contoso.example>"}, auth=DANA
    )
    assert tracked.status_code == 201, tracked.text
    activity_id = tracked.json()["activity_id"]
    regarding = client.put(
        f"/api/activities/{activity_id}/regarding",
        json={"regarding": str(org.records["deal"])},
        auth=DANA,
    )
    assert regarding.json() == {"activity_id": activity_id, "regarding": str(org.records["deal"])}
    again = client.post(
        "/api/activities/track", json={"raw_message_id": kept.raw_message_id}, auth=DANA
    )
    assert again.status_code == 409
    gone = client.post(
        f"/api/activities/{activity_id}/untrack", json={"reason": "private"}, auth=DANA
    )
    assert gone.status_code == 204
    assert client.get(f"/api/activities/{activity_id}", auth=DANA).status_code == 404


def _caller(org: Org):
    from tidings.domain.people import Caller, Privilege

    return Caller(org.users["dana"], frozenset(Privilege))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_approve_and_test_and_enable_through_the_api_against_real_servers(
    org: Org, client: TestClient, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    # The admin's procedure, by HTTP only: profile, user, mailbox, credentials, Approve
    # Email, Test & Enable; the mailbox logs in to Dovecot and the SMTP server and is enabled.
    profile = client.post(
        "/api/server-profiles",
        json={
            "name": "Test servers",
            "kind": "imap_smtp",
            "incoming_host": "127.0.0.1",
            "incoming_port": dovecot.imaps_port,
            "incoming_security": "tls",
            "outgoing_host": "127.0.0.1",
            "outgoing_port": smtp_server.port,
            "outgoing_security": "none",
            "allow_insecure": True,
            "options": {"ca_file": str(dovecot.ca_file)},
        },
        auth=ROOT,
    ).json()
    assert profile["warnings"] == ["email and passwords travel unencrypted to this server"]
    user = client.post(
        "/api/users", json={"full_name": "Sam", "email": "sam@northwind.example"}, auth=ROOT
    ).json()
    mailbox = client.post(
        "/api/mailboxes",
        json={
            "address": "sam@northwind.example",
            "owner": f"user:{user['id']}",
            "profile_id": profile["id"],
        },
        auth=ROOT,
    ).json()
    credentials = {"username": "sam@northwind.example", "password": "sam-pass"}
    client.put(f"/api/mailboxes/{mailbox['id']}/credentials", json=credentials, auth=ROOT)
    client.post(f"/api/mailboxes/{mailbox['id']}/approve", auth=ROOT)
    [report] = client.post(
        "/api/mailboxes/test-and-enable", json={"ids": [mailbox["id"]]}, auth=ROOT
    ).json()
    assert (report["incoming"]["status"], report["outgoing"]["status"], report["enabled"]) == (
        "success",
        "success",
        True,
    )
    active = client.get("/api/mailboxes/views/active", auth=ROOT).json()
    assert "sam@northwind.example" in [m["address"] for m in active]
    alerts = client.get(f"/api/mailboxes/{mailbox['id']}", auth=ROOT).json()["alerts"]
    assert alerts[-1]["text"] == "Test & Enable passed: enabled"


def test_text_a_database_cannot_keep_is_refused(client: TestClient) -> None:
    # A lone surrogate or a date beyond what UTC can hold: 4xx problems, not server errors.
    surrogate = client.post(
        "/api/users",
        content=b'{"full_name": "\\ud800", "email": "x@northwind.example"}',
        headers={"content-type": "application/json"},
        auth=ROOT,
    )
    assert surrogate.status_code == 422
    assert "full_name" in surrogate.json()["detail"]
    far = client.post(
        "/api/server-profiles",
        json={**IMAP, "process_email_received_after": "0001-01-01T00:00:00+05:00"},
        auth=ROOT,
    )
    assert far.status_code == 422
    assert (
        far.json()["detail"] == "body.process_email_received_after: must be between 1970 and 9998"
    )


def test_a_user_lists_their_kept_but_untracked_email(org: Org, client: TestClient) -> None:
    org.tidings.personal_options.update_options(
        _caller(org), org.users["dana"].id, track_incoming=TrackIncoming.NONE
    )
    kept = org.deliver(make_email(subject="Lunch?", message_id="<lunch@contoso.example>"))
    listed = client.get(f"/api/mailboxes/{org.mailboxes['dana']}/not-tracked", auth=DANA).json()
    assert [(k["raw_message_id"], k["subject"], k["sender"]) for k in listed] == [
        (kept.raw_message_id, "Lunch?", "maria@contoso.example")
    ]
    assert listed[0]["summary"] == kept.summary


def test_skipping_automated_email_is_an_email_setting_of_the_api(
    org: Org, client: TestClient
) -> None:
    # On by default; an admin turns it off and automatic replies are then tracked.
    assert client.get("/api/settings/email", auth=ROOT).json()["skip_automated_email"] is True

    changed = client.patch("/api/settings/email", json={"skip_automated_email": False}, auth=ROOT)

    assert changed.status_code == 200, changed.text
    assert changed.json()["skip_automated_email"] is False
    ooo = make_email(message_id="<ooo-api@c.example>", headers={"Auto-Submitted": "auto-replied"})
    assert org.deliver(ooo).outcome is Outcome.TRACKED


def test_many_users_and_mailboxes_are_created_from_json_and_bad_rows_are_a_problem(
    client: TestClient,
) -> None:
    # The whole file is checked first: one bad row and nothing is written, with every
    # problem by row and field; a second run reports what exists; no password comes back.
    assert client.post("/api/server-profiles", json=IMAP, auth=ROOT).status_code == 201
    rows = [
        {
            "full_name": f"Staff {n}",
            "email": f"staff{n}@northwind.example",
            "profile": "Contoso IMAP",
            "password": f"staff-secret-{n}",
        }
        for n in range(3)
    ]
    bad = [*rows, {"email": "x@northwind.example", "profile": "Contoso IMAP", "colour": "red"}]
    refused = client.post("/api/mailboxes/bulk", json=bad, auth=ROOT)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == PROBLEM
    report = refused.json()["report"]
    assert report["committed"] is False and report["invalid_rows"] == 1
    # Every problem of the row at once: an unknown column, and a new user without a name.
    assert [(p["row"], p["field"]) for p in report["problems"]] == [(4, "colour"), (4, "full_name")]

    created = client.post("/api/mailboxes/bulk", json=rows, auth=ROOT)
    assert created.status_code == 200, created.text
    outcomes = created.json()["outcomes"]
    assert [(o["user"], o["mailbox"]) for o in outcomes] == [("created", "created")] * 3
    assert "staff-secret" not in created.text
    mailbox = client.get(f"/api/mailboxes/{outcomes[0]['mailbox_id']}", auth=ROOT).json()
    assert mailbox["address"] == "staff0@northwind.example"
    assert "staff-secret" not in str(mailbox)

    csv = "email,profile\nstaff1@northwind.example,Contoso IMAP\n"
    again = client.post(
        "/api/mailboxes/bulk", content=csv, headers={"content-type": "text/csv"}, auth=ROOT
    )
    assert [(o["user"], o["mailbox"]) for o in again.json()["outcomes"]] == [("exists", "exists")]
