"""Who reaches what through the console: every page and form of the web app (every route
not under /api, read from the app itself) against every kind of visitor.

The visitors: nobody signed in; Nora, signed in but holding no role; Una (Tidings App User,
Sales); Sam (Salesperson, Sales); Pat (Support, Support unit, member of the queue Help);
the System Administrator (root unit). Every URL names the administrator's things, which no
other role reaches (the world of ``access_world``): his activity, mailbox, options, draft,
parked email, saved view and API token. So the table below also says that no role reads or
changes another user's things: such a page is not found (404) or not allowed (403), no page
shows his email or account to anyone else, and nobody else's request changes anything in
the database (but their own new token or saved view).

Each route gets a fresh copy of one prepared SQLite file, so that a form the administrator
may send (deleting a profile, say) changes nothing another route is asked about.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.builders import TickingClock, make_email
from tests.conftest import settings_for
from tests.integration.access_world import CONSOLE_BASE, World, build_world
from tests.routes import all_routes
from tidings.bootstrap import Tidings, bootstrap
from tidings.domain.people import (
    NOT_AUTHORIZED_TO_TRACK,
    TRACKING_ROLE,
    PersonalOptions,
    TrackIncoming,
)
from tidings.domain.server_profile import ServerProfile, ServerProfileKind
from tidings.entrypoints.api.app import create_app
from tidings.entrypoints.web.session import COOKIE

VISITORS = ("anonymous", "nora", "una", "sam", "pat", "admin")

#: What a visitor gets: sent to sign in; the page (or the form done: a redirect elsewhere);
#: not allowed (403, the not-authorized page); not found (404); the form refused as
#: invalid (400, 409, 422) before anything changed.
SIGN_IN, OK, REFUSED, ABSENT, INVALID = "sign in", "ok", "refused", "absent", "invalid"


def _expect(everyone: str, anonymous: str = SIGN_IN, **visitors: str) -> dict[str, str]:
    return {
        who: visitors.get(who, anonymous if who == "anonymous" else everyone) for who in VISITORS
    }


#: Served to anyone, signed in or not (the sign-in page, the add-in's frame, liveness).
PUBLIC = _expect(OK, anonymous=OK)
#: Anyone signed in, whatever their roles: help, one's own options, API tokens, saved views.
SIGNED_IN = _expect(OK)
#: Lists and pages of the tracking role and up (each list shows only what is in reach).
TRACKING = _expect(OK, nora=REFUSED)
#: The organization's administration, or the administrator's own mailbox to send from.
ADMIN_ONLY = _expect(REFUSED, admin=OK)
#: The administrator's thing named by id: not found for every role that holds the privilege
#: at a level short of his, not allowed for Nora, who holds none.
THEIRS = _expect(ABSENT, nora=REFUSED, admin=OK)
#: The administrator's own token or saved view: nobody else's, whatever their roles.
THEIRS_PERSONAL = _expect(ABSENT, admin=OK)


@dataclass(frozen=True)
class Entry:
    """A route asked for: the URL (``{name}`` from ``Prepared.targets``), the form sent with a POST
    (``csrf_token`` is added), and each visitor's outcome."""

    url: str
    expect: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)


CONSOLE: dict[tuple[str, str], Entry] = {
    ("GET", "/"): Entry("/", TRACKING),
    ("GET", "/activities"): Entry("/activities", TRACKING),
    ("GET", "/activities/export.csv"): Entry("/activities/export.csv", TRACKING),
    ("GET", "/activities/{activity_id}"): Entry("/activities/{activity}", THEIRS),
    ("GET", "/activities/{activity_id}/attachments/{number}"): Entry(
        "/activities/{activity}/attachments/1", THEIRS
    ),
    ("GET", "/activities/{activity_id}/body"): Entry("/activities/{activity}/body", THEIRS),
    ("GET", "/addin/manifest.xml"): Entry("/addin/manifest.xml", ADMIN_ONLY),
    # The panel of the administrator's email: a sign-in button for nobody, and nothing of it
    # to those it is out of reach of.
    ("GET", "/addin/panel"): Entry(
        "/addin/panel?message_id=%3Cadmin-0%40contoso.example%3E",
        _expect(OK, anonymous=OK, nora=REFUSED),
    ),
    ("GET", "/addin/signed-in"): Entry("/addin/signed-in", SIGNED_IN),
    ("GET", "/addin/taskpane"): Entry("/addin/taskpane", PUBLIC),
    ("GET", "/business-units"): Entry("/business-units", ADMIN_ONLY),
    ("GET", "/emails/new"): Entry("/emails/new?reply_to={activity}", TRACKING),
    ("GET", "/emails/{email_id}/edit"): Entry("/emails/{email}/edit", THEIRS),
    ("GET", "/emails/{email_id}/status"): Entry("/emails/{email}/status", THEIRS),
    ("GET", "/explain"): Entry("/explain?raw_id={raw}", TRACKING),
    ("GET", "/healthz"): Entry("/healthz", PUBLIC),
    ("GET", "/help"): Entry("/help", SIGNED_IN),
    ("GET", "/help/images/{name}"): Entry("/help/images/console-activity.png", SIGNED_IN),
    ("GET", "/help/{name:path}"): Entry("/help/security-model", SIGNED_IN),
    ("GET", "/mailboxes"): Entry("/mailboxes", TRACKING),
    ("GET", "/mailboxes/export.csv"): Entry("/mailboxes/export.csv", TRACKING),
    ("GET", "/mailboxes/{mailbox_id}"): Entry("/mailboxes/{mailbox}", THEIRS),
    ("GET", "/mailboxes/{mailbox_id}/folders"): Entry("/mailboxes/{mailbox}/folders", THEIRS),
    # Scraped with an API token; a console session is none.
    ("GET", "/metrics"): Entry("/metrics", _expect("401", anonymous="401")),
    ("GET", "/options"): Entry("/options", SIGNED_IN),
    ("GET", "/options/{user_id}"): Entry("/options/{user}", THEIRS),
    ("GET", "/parked"): Entry("/parked", TRACKING),
    ("GET", "/profiles"): Entry("/profiles", ADMIN_ONLY),
    ("GET", "/profiles/export.csv"): Entry("/profiles/export.csv", ADMIN_ONLY),
    ("GET", "/profiles/new"): Entry("/profiles/new", ADMIN_ONLY),
    ("GET", "/profiles/{profile_id}"): Entry("/profiles/{profile}", ADMIN_ONLY),
    # Not ready while no sync worker runs; it shows no data to anyone.
    ("GET", "/readyz"): Entry("/readyz", _expect("503", anonymous="503")),
    ("GET", "/roles"): Entry("/roles", ADMIN_ONLY),
    ("GET", "/roles/{role_id}"): Entry("/roles/{role}", ADMIN_ONLY),
    ("GET", "/settings/email"): Entry("/settings/email", ADMIN_ONLY),
    ("GET", "/signin"): Entry("/signin", PUBLIC),
    ("GET", "/tokens"): Entry("/tokens", SIGNED_IN),
    ("GET", "/users"): Entry("/users", ADMIN_ONLY),
    ("GET", "/users/export.csv"): Entry("/users/export.csv", ADMIN_ONLY),
    ("GET", "/users/{user_id}"): Entry("/users/{user}", ADMIN_ONLY),
    ("POST", "/activities/{activity_id}/regarding"): Entry(
        "/activities/{activity}/regarding", THEIRS, {"kind": "account", "record_id": "{account}"}
    ),
    # Answering from the administrator's mailbox: only he sends from it.
    ("POST", "/activities/{activity_id}/reply"): Entry(
        "/activities/{activity}/reply", ADMIN_ONLY, {"mailbox_id": "{mailbox}", "mode": "reply"}
    ),
    ("POST", "/activities/{activity_id}/untrack"): Entry(
        "/activities/{activity}/untrack", THEIRS, {"reason": "x"}
    ),
    ("POST", "/addin/regarding"): Entry(
        "/addin/regarding",
        THEIRS,
        {"activity_id": "{activity}", "kind": "account", "record_id": "{account}"},
    ),
    # An item token Outlook never gave: refused as invalid for every tracking user.
    ("POST", "/addin/track-when-sent"): Entry(
        "/addin/track-when-sent",
        _expect(INVALID, nora=REFUSED),
        {"token": "x", "kind": "account", "record_id": "{account}"},
    ),
    ("POST", "/addin/track"): Entry("/addin/track", THEIRS, {"raw_message_id": "{raw_untracked}"}),
    ("POST", "/addin/untrack"): Entry(
        "/addin/untrack", THEIRS, {"activity_id": "{activity}", "reason": "x"}
    ),
    ("POST", "/business-units"): Entry("/business-units", ADMIN_ONLY, {"name": "Finance"}),
    ("POST", "/business-units/{unit_id}/delete"): Entry(
        "/business-units/{unit}/delete", {**ADMIN_ONLY, "admin": INVALID}
    ),
    ("POST", "/emails"): Entry(
        "/emails", ADMIN_ONLY, {"mailbox_id": "{mailbox}", "subject": "New"}
    ),
    ("POST", "/emails/{email_id}"): Entry(
        "/emails/{email}", THEIRS, {"subject": "Changed", "action": "save"}
    ),
    ("POST", "/emails/{email_id}/attachments/{attachment_id}/remove"): Entry(
        "/emails/{email}/attachments/{attachment}/remove", THEIRS
    ),
    ("POST", "/emails/{email_id}/delete"): Entry("/emails/{email}/delete", THEIRS),
    ("POST", "/emails/{email_id}/recipients"): Entry(
        "/emails/{email}/recipients",
        {**THEIRS, "admin": INVALID},
        {"record": "account:{account}", "role": "to"},
    ),
    ("POST", "/emails/{email_id}/retry"): Entry(
        "/emails/{email}/retry", {**THEIRS, "admin": INVALID}, {"confirm_not_delivered": "on"}
    ),
    ("POST", "/explain/track"): Entry(
        "/explain/track", THEIRS, {"raw_message_id": "{raw_untracked}"}
    ),
    ("POST", "/mailboxes"): Entry(
        "/mailboxes",
        {**ADMIN_ONLY, "admin": INVALID},
        {"address": "new@northwind.example", "owner": "user:{user}"},
    ),
    ("POST", "/mailboxes/approve"): Entry(
        "/mailboxes/approve", ADMIN_ONLY, {"mailbox_id": "{mailbox}"}
    ),
    ("POST", "/mailboxes/bulk"): Entry(
        "/mailboxes/bulk", ADMIN_ONLY, {"action": "disable", "mailbox_id": "{mailbox}"}
    ),
    ("POST", "/mailboxes/bulk/run"): Entry(
        "/mailboxes/bulk/run", ADMIN_ONLY, {"action": "disable", "mailbox_id": "{mailbox}"}
    ),
    ("POST", "/mailboxes/disable"): Entry(
        "/mailboxes/disable", ADMIN_ONLY, {"mailbox_id": "{mailbox}"}
    ),
    ("POST", "/mailboxes/test-enable"): Entry(
        "/mailboxes/test-enable", ADMIN_ONLY, {"mailbox_id": "{mailbox}"}
    ),
    ("POST", "/mailboxes/{mailbox_id}"): Entry(
        "/mailboxes/{mailbox}", {**THEIRS, "admin": INVALID}, {"incoming_method": "none"}
    ),
    ("POST", "/mailboxes/{mailbox_id}/credentials"): Entry(
        "/mailboxes/{mailbox}/credentials",
        THEIRS,
        {"direction": "incoming", "username": "admin@northwind.example", "password": "p"},
    ),
    ("POST", "/mailboxes/{mailbox_id}/folders"): Entry(
        "/mailboxes/{mailbox}/folders", THEIRS, {"folder": "Archive"}
    ),
    ("POST", "/mailboxes/{mailbox_id}/folders/regarding"): Entry(
        "/mailboxes/{mailbox}/folders/regarding",
        {**THEIRS, "admin": INVALID},
        {"folder": "INBOX", "kind": "account", "record_id": "{account}"},
    ),
    ("POST", "/options/{user_id}"): Entry(
        "/options/{user}", THEIRS, {"track_incoming": "no_email_messages"}
    ),
    ("POST", "/options/{user_id}/folders"): Entry(
        "/options/{user}/folders", THEIRS, {"folder": "Archive", "mailbox_id": "{mailbox}"}
    ),
    ("POST", "/options/{user_id}/folders/remove"): Entry(
        "/options/{user}/folders/remove",
        {**ADMIN_ONLY, "admin": ABSENT},
        {"folder": "INBOX", "mailbox_id": "{mailbox}"},
    ),
    ("POST", "/parked/replay"): Entry("/parked/replay", ADMIN_ONLY),
    ("POST", "/parked/{parked_id}/replay"): Entry("/parked/{parked}/replay", ADMIN_ONLY),
    ("POST", "/profiles/new"): Entry(
        "/profiles/new",
        {**ADMIN_ONLY, "admin": INVALID},
        {
            "kind": "imap_smtp",
            "name": "Fabrikam",
            "incoming_host": "imap.fabrikam.example",
            "outgoing_host": "smtp.fabrikam.example",
        },
    ),
    ("POST", "/profiles/{profile_id}"): Entry(
        "/profiles/{profile}", {**ADMIN_ONLY, "admin": INVALID}, {"name": "Renamed"}
    ),
    ("POST", "/profiles/{profile_id}/delete"): Entry("/profiles/{profile}/delete", ADMIN_ONLY),
    ("POST", "/profiles/{profile_id}/test"): Entry(
        "/profiles/{profile}/test", {**ADMIN_ONLY, "admin": INVALID}
    ),
    ("POST", "/queues"): Entry(
        "/queues", ADMIN_ONLY, {"email": "sales@northwind.example", "name": "Sales"}
    ),
    ("POST", "/queues/{queue_id}/members"): Entry(
        "/queues/{queue}/members", ADMIN_ONLY, {"member": "{user}", "unit": "{unit}"}
    ),
    ("POST", "/queues/{queue_id}/roles"): Entry(
        "/queues/{queue}/roles", ADMIN_ONLY, {"role_id": "{role}"}
    ),
    ("POST", "/roles"): Entry("/roles", ADMIN_ONLY, {"name": "New role"}),
    ("POST", "/roles/{role_id}"): Entry(
        "/roles/{role}", ADMIN_ONLY, {"level-read_activities": "organization"}
    ),
    ("POST", "/settings/email"): Entry(
        "/settings/email", {**ADMIN_ONLY, "admin": INVALID}, {"use_tracking_token": "on"}
    ),
    # Without the sign-in form's own token (tests/integration/test_console.py signs in).
    ("POST", "/signin"): Entry(
        "/signin",
        _expect(REFUSED, anonymous=REFUSED),
        {"email": "admin@northwind.example", "password": "wrong-password"},
    ),
    ("POST", "/signout"): Entry("/signout", SIGNED_IN),
    ("POST", "/tokens"): Entry("/tokens", SIGNED_IN, {"name": "Mine"}),
    ("POST", "/tokens/{token_id}/revoke"): Entry("/tokens/{token}/revoke", THEIRS_PERSONAL),
    ("POST", "/users"): Entry(
        "/users", ADMIN_ONLY, {"email": "newbie@northwind.example", "full_name": "Newbie"}
    ),
    ("POST", "/users/{user_id}"): Entry(
        "/users/{user}",
        {**ADMIN_ONLY, "admin": INVALID},
        {"email": "admin@northwind.example", "full_name": "Renamed"},
    ),
    ("POST", "/users/{user_id}/business-unit"): Entry(
        "/users/{user}/business-unit", ADMIN_ONLY, {"unit": "{unit}"}
    ),
    ("POST", "/users/{user_id}/roles"): Entry(
        "/users/{user}/roles", {**ADMIN_ONLY, "admin": INVALID}, {"role_id": "{role}"}
    ),
    ("POST", "/views"): Entry(
        "/views", SIGNED_IN, {"grid": "activities", "name": "Mine too", "query": "q=y"}
    ),
    ("POST", "/views/{view_id}/delete"): Entry("/views/{view}/delete", THEIRS_PERSONAL),
    ("POST", "/views/{view_id}/rename"): Entry(
        "/views/{view}/rename", THEIRS_PERSONAL, {"name": "Renamed"}
    ),
}

#: Forms with which a visitor makes or ends something of their own (a token, a saved view,
#: their session): the only ones after which anyone but the administrator changed anything.
OWN = frozenset({("POST", "/tokens"), ("POST", "/views"), ("POST", "/signout")})


@dataclass(frozen=True)
class Prepared:
    """The prepared database, each visitor's session (token, CSRF token) and the ids the
    URLs name."""

    path: Path
    sessions: dict[str, tuple[str, str]]
    targets: dict[str, int]


def _prepare(tidings: Tidings) -> tuple[dict[str, tuple[str, str]], dict[str, int]]:
    world = build_world(tidings)
    world.org.add_user("nora", tracking_role=False)
    admin = world.clients["admin"]
    admin_mailbox = world.org.mailboxes["admin"]
    draft = admin.post("/api/emails", json={"mailbox_id": admin_mailbox, "subject": "Draft"})
    assert draft.status_code == 201, draft.text
    email_id = draft.json()["id"]
    attached = admin.post(
        f"/api/emails/{email_id}/attachments", files={"file": ("a.txt", b"a", "text/plain")}
    )
    assert attached.status_code == 201, attached.text
    world.org.deliver(b"", "admin")  # parked: bytes that are no email
    untracked = _untracked_email(tidings, world)
    with tidings.uow() as uow:
        profile_id = uow.server_profiles.add(
            ServerProfile(
                "Contoso IMAP",
                ServerProfileKind.IMAP_SMTP,
                incoming_host="imap.contoso.example",
                outgoing_host="smtp.contoso.example",
            )
        )
        help_queue = next(q.id for q in uow.directory.list_queues() if q.name == "Help")
        uow.commit()
    caller = tidings.access.caller_for("admin@northwind.example")
    [token] = tidings.access.api_tokens(caller)
    [parked] = tidings.queries.parked()
    targets = {
        "activity": world.activities["admin"],
        "raw": world.raw["admin"],
        "raw_untracked": untracked,
        "email": email_id,
        "attachment": attached.json()["attachments"][0]["id"],
        "mailbox": admin_mailbox,
        "view": tidings.saved_views.save(caller, "activities", "Mine", "q=x").id or 0,
        "profile": profile_id,
        "user": world.user_id("admin"),
        "role": world.org.roles[TRACKING_ROLE],
        "unit": world.units["sales"],
        "queue": help_queue or 0,
        "token": token.id or 0,
        "parked": parked.id,
        "account": world.accounts["admin"],
    }
    for who in ("una", "sam", "sue", "pat"):
        targets |= {
            f"{who}_activity": world.activities[who],
            f"{who}_mailbox": world.org.mailboxes[who],
            f"{who}_user": world.user_id(who),
        }
    return {who: _session(tidings, who) for who in VISITORS[1:]}, targets


def _untracked_email(tidings: Tidings, world: World) -> int:
    """One email the administrator's options left untracked, for tracking by hand."""
    with tidings.uow() as uow:
        user = uow.directory.get_user(world.user_id("admin"))
        assert user is not None
        user.options = PersonalOptions(TrackIncoming.NONE)
        uow.directory.save_user(user)
        uow.commit()
    email = make_email(to="admin@northwind.example", subject="For admin, untracked")
    untracked = world.org.deliver(email, "admin")
    assert untracked.activity_id is None, untracked
    return untracked.raw_message_id


def _session(tidings: Tidings, who: str) -> tuple[str, str]:
    """Sign ``who`` in with a password they set themselves: the session cookie and its CSRF
    token."""
    email = f"{who}@northwind.example"
    caller = tidings.access.caller_for(email)
    password = f"{who}-console-password"
    tidings.people.set_password(caller, caller.user.id or 0, password)
    signed_in = tidings.access.sign_in(email, password)
    assert signed_in is not None
    return signed_in.token, signed_in.session.csrf_token


@pytest.fixture(scope="session")
def prepared(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    path = tmp_path_factory.mktemp("console-matrix") / "tidings.db"
    shutil.copyfile(sqlite_template, path)
    app = bootstrap(settings_for(f"sqlite:///{path}"), clock=TickingClock())
    try:
        sessions, targets = _prepare(app)
    finally:
        app.close()
    return Prepared(path, sessions, targets)


@pytest.fixture
def copy(prepared: Prepared, tmp_path: Path) -> Iterator[tuple[Tidings, Path]]:
    """A Tidings on a fresh copy of the prepared database, and that copy's path."""
    path = tmp_path / "tidings.db"
    shutil.copyfile(prepared.path, path)
    app = bootstrap(settings_for(f"sqlite:///{path}"), clock=TickingClock())
    yield app, path
    app.close()


#: A request writes these without changing anything of anyone's: a session's (or token's)
#: last sign of life.
_VOLATILE = frozenset({"sign_in_sessions", "api_tokens"})


def fingerprint(path: Path) -> dict[str, str]:
    """Each table's rows, hashed: what a refused request must leave as it was."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        names = [
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if row[0] not in _VOLATILE
        ]
        return {
            name: hashlib.sha256(
                repr(conn.execute(f'SELECT * FROM "{name}" ORDER BY 1').fetchall()).encode()
            ).hexdigest()
            for name in names
        }


def outcome_of(status: int, location: str) -> str:
    if status == 303 and location.startswith("/signin?next="):
        return SIGN_IN
    if status in (200, 201, 204, 302, 303):
        return OK
    named = {403: REFUSED, 404: ABSENT, 400: INVALID, 409: INVALID, 422: INVALID}
    return named.get(status, str(status))


#: Answers that are not console pages, and so have no top bar: the add-in's panel, the
#: sign-in form, the scrape endpoint.
_NOT_PAGES = ("/addin/", "/signin", "/metrics")

#: The administrator's email and account: no page anyone else gets may show them.
_ADMINS_OWN = ("For admin", "admin Ltd")


def test_every_console_route_has_an_entry(copy: tuple[Tidings, Path]) -> None:
    # A new page or form must say who may use it, or this fails.
    routes = {
        (method, path)
        for method, path, _route in all_routes(create_app(copy[0]))
        if not path.startswith("/api/")
    }
    assert sorted(routes - set(CONSOLE)) == []
    assert sorted(set(CONSOLE) - routes) == []


def _ask(
    client: TestClient, method: str, url: str, form: dict[str, str], csrf: str
) -> tuple[int, str, str]:
    if method == "GET":
        response = client.get(url, follow_redirects=False)
    else:
        response = client.post(url, data={**form, "csrf_token": csrf}, follow_redirects=False)
    return response.status_code, response.headers.get("location", ""), response.text


@pytest.mark.parametrize(
    ("method", "path"), sorted(CONSOLE), ids=[f"{m} {p}" for m, p in sorted(CONSOLE)]
)
def test_each_visitor_gets_what_their_roles_allow(
    copy: tuple[Tidings, Path], prepared: Prepared, method: str, path: str
) -> None:
    # Each visitor in turn; nobody but the administrator changes anything (but their own
    # token, view or session), and a refusal is a console page with the top bar.
    tidings, db = copy
    entry = CONSOLE[method, path]
    url = entry.url.format(**prepared.targets)
    form = {name: value.format(**prepared.targets) for name, value in entry.form.items()}
    app = create_app(tidings)
    got = {}
    before = fingerprint(db)
    for who in VISITORS:
        client = TestClient(app, base_url=CONSOLE_BASE)
        token, csrf = prepared.sessions.get(who, ("", ""))
        if token:
            client.cookies.set(COOKIE, token)
        status, location, text = _ask(client, method, url, form, csrf)
        got[who] = outcome_of(status, location)
        after = fingerprint(db)
        may_change = got[who] == OK and (who == "admin" or (method, path) in OWN)
        assert may_change or after == before, f"{who} changed something"
        before = after
        if who != "admin":
            assert not any(own in text for own in _ADMINS_OWN), f"{who} was shown his email"
        if who != "anonymous" and got[who] in (REFUSED, ABSENT) and not path.startswith(_NOT_PAGES):
            assert 'id="problem"' in text and ">Sign out</button>" in text, who
    assert got == entry.expect


@pytest.mark.parametrize(
    ("who", "theirs", "expected"),
    [
        ("una", "una", {"activity": 200, "mailbox": 200, "options": 200}),
        ("sam", "sam", {"activity": 200, "mailbox": 200, "options": 200}),
        ("pat", "pat", {"activity": 200, "mailbox": 200, "options": 200}),
        # Sam reads activities in his unit (Sue's too), but mailboxes and options his own only.
        ("sam", "sue", {"activity": 200, "mailbox": 404, "options": 404}),
        ("una", "sam", {"activity": 404, "mailbox": 404, "options": 404}),
        ("pat", "una", {"activity": 404, "mailbox": 404, "options": 404}),
    ],
)
def test_ones_own_pages_open_and_others_as_far_as_the_level_reaches(
    copy: tuple[Tidings, Path], prepared: Prepared, who: str, theirs: str, expected: dict[str, int]
) -> None:
    # The other side of the table above: the same pages answer 200 within reach.
    client = TestClient(create_app(copy[0]), base_url=CONSOLE_BASE)
    client.cookies.set(COOKIE, prepared.sessions[who][0])
    ids = prepared.targets
    pages = {
        "activity": f"/activities/{ids[f'{theirs}_activity']}",
        "mailbox": f"/mailboxes/{ids[f'{theirs}_mailbox']}",
        "options": f"/options/{ids[f'{theirs}_user']}",
    }
    got = {name: client.get(url).status_code for name, url in pages.items()}
    assert got == expected


def test_the_not_authorized_page_keeps_the_top_bar_and_sign_out(
    copy: tuple[Tidings, Path], prepared: Prepared
) -> None:
    # Nora holds no role: D365's words, with Help and Sign out to find her way.
    client = TestClient(create_app(copy[0]), base_url=CONSOLE_BASE)
    client.cookies.set(COOKIE, prepared.sessions["nora"][0])
    refused = client.get("/")
    assert refused.status_code == 403
    assert NOT_AUTHORIZED_TO_TRACK.replace("'", "&#39;") in refused.text
    assert '<header class="top">' in refused.text
    assert "Nora &lt;nora@northwind.example&gt;" in refused.text
    assert ">Sign out</button>" in refused.text and ">Help</a>" in refused.text
    signed_out = client.post(
        "/signout", data={"csrf_token": prepared.sessions["nora"][1]}, follow_redirects=False
    )
    assert signed_out.status_code == 303
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/signin")
