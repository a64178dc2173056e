"""Every console route and form, walked with hostile values: no server error, nothing echoed
unescaped, out-of-range ids not found. The routes are read from the app itself, so pages
added later are walked too; the form fields are those the pages' own forms carry."""

from __future__ import annotations

import re
from collections import defaultdict
from html.parser import HTMLParser

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.builders import Org, make_email
from tests.integration.test_console import ADMIN, csrf_of, sign_in, signed_in_admin
from tests.routes import all_routes
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import ServerProfile, ServerProfileKind
from tidings.entrypoints.web.console import is_console_path

HUGE = "99999999999999999999"
#: Just past a signed 64-bit integer, and far past it: what overflows a database's integer.
BEYOND_64_BITS = (str(2**63), str(10**30))
MARKUP = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
#: What goes into forms and query strings.
HOSTILE = (HUGE, *BEYOND_64_BITS, "-1", "x" * 100_000, "a\x00b", *MARKUP)
#: What goes into a URL's path: a server takes no 100,000-character URL, so 8,000.
HOSTILE_IN_PATH = (HUGE, *BEYOND_64_BITS, "-1", "0", "x" * 8_000, "a%00b", "%3Cscript%3E")
NOT_FOUND_IN_PATH = (HUGE, *BEYOND_64_BITS, "-1", "0")
#: Routes left out: signing out ends the walk's own session.
SKIPPED = {("POST", "/signout")}


class _Forms(HTMLParser):
    """The fields of every POST form of a page, by the path it posts to."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, set[str]] = defaultdict(set)
        self._action: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form" and (found.get("method") or "").lower() == "post":
            self._action = (found.get("action") or "").split("?")[0]
        elif tag in ("input", "select", "textarea") and self._action and found.get("name"):
            self.fields[self._action].add(str(found["name"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._action = None


class _FilledForms(HTMLParser):
    """Every POST form of a page as a browser would post it untouched: its action and its
    (name, value) pairs, hidden fields, typed values, ticked boxes and chosen options."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, list[tuple[str, str]]]] = []
        self._pairs: list[tuple[str, str]] | None = None
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form" and found.get("method", "").lower() == "post":
            self._pairs = []
            self.forms.append(((found.get("action") or "").split("?")[0], self._pairs))
        elif self._pairs is None or (not found.get("name") and tag != "option"):
            return
        elif tag == "input" and found.get("type") in ("checkbox", "radio"):
            if "checked" in found:
                self._pairs.append((found["name"], found.get("value") or "on"))
        elif tag in ("input", "textarea") and found.get("type") not in ("submit", "file"):
            self._pairs.append((found["name"], found.get("value", "")))
        elif tag == "select":
            self._select, self._options = found["name"], []
        elif tag == "option" and self._select is not None:
            self._options.append((found.get("value", ""), "selected" in found))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None and self._pairs is not None:
            chosen = [v for v, selected in self._options if selected] or [
                v for v, _ in self._options[:1]
            ]
            self._pairs += [(self._select, v) for v in chosen]
            self._select = None
        elif tag == "form":
            self._pairs = None


def _console_routes(client: TestClient) -> list[tuple[str, str, APIRoute]]:
    app = client.app
    assert isinstance(app, FastAPI)
    return [
        (method, path, route)
        for method, path, route in all_routes(app)
        if method in ("GET", "POST") and is_console_path(path)
    ]


def _with_ids(path: str, value: str = "1") -> str:
    return re.sub(r"\{[a-z_]+(:[a-z]+)?\}", value, path)


def _form_fields(
    client: TestClient, routes: list[tuple[str, str, APIRoute]]
) -> dict[str, set[str]]:
    """Each POST path's field names: its declared form parameters, and what the pages' forms
    (opened with id 1, and the new-profile form of every kind) post to it."""
    parser = _Forms()
    pages = [_with_ids(path) for method, path, _ in routes if method == "GET"]
    pages += [f"/profiles/new?kind={k}" for k in ("imap_smtp", "pop3_smtp", "exchange_online")]
    for url in pages:
        answer = client.get(url)
        if answer.headers.get("content-type", "").startswith("text/html"):
            parser.feed(answer.text)
    fields: dict[str, set[str]] = defaultdict(set, parser.fields)
    for method, path, route in routes:
        if method == "POST":
            fields[_with_ids(path)] |= {p.alias for p in route.dependant.body_params}
    return fields


def _check(answer, where: str, value: str) -> None:
    assert answer.status_code < 500, f"{where}: {answer.status_code}\n{answer.text[-2000:]}"
    for markup in MARKUP:
        assert markup not in answer.text, f"{where} echoes {markup!r} unescaped"


@pytest.fixture
def admin(org: Org) -> TestClient:
    return signed_in_admin(org)


def _still_signed_in(client: TestClient) -> None:
    # A hostile form may have changed the admin's own account; sign in again if so.
    answer = client.get("/tokens", follow_redirects=False)
    if answer.status_code != 200:
        client.headers["X-CSRF-Token"] = sign_in(client, *ADMIN)
    else:
        client.headers["X-CSRF-Token"] = csrf_of(answer.text)


def test_every_console_route_and_form_survives_hostile_values(admin: TestClient) -> None:
    routes = _console_routes(admin)
    assert len(routes) > 30
    fields = _form_fields(admin, routes)
    walked = 0
    for method, path, route in routes:
        if (method, path) in SKIPPED:
            continue
        params = [p.alias for p in route.dependant.query_params]
        names = sorted(fields.get(_with_ids(path), set()) - {"csrf_token"})
        # Hostile values in the path (the rest valid), then in every field and parameter.
        if "{" in path:
            for value in HOSTILE_IN_PATH:
                url = _with_ids(path, value)
                answer = admin.request(method, url, follow_redirects=False)
                _check(answer, f"{method} {url[:80]}", value)
                if value in NOT_FOUND_IN_PATH:
                    assert answer.status_code in (404, 403), f"{method} {url}: {answer.status_code}"
        for value in HOSTILE:
            url = _with_ids(path)
            query = dict.fromkeys(params, value) if len(value) < 10_000 else {}
            form = dict.fromkeys(names, value) if method == "POST" else None
            answer = admin.request(method, url, params=query, data=form, follow_redirects=False)
            _check(answer, f"{method} {path} with {value[:30]!r}", value)
            walked += 1
            _still_signed_in(admin)
    assert walked > 150


def test_an_id_beyond_the_database_range_is_not_found_rather_than_an_error(
    admin: TestClient,
) -> None:
    for url in ("/mailboxes/" + HUGE, "/activities/" + HUGE, "/users/" + HUGE, "/profiles/-3"):
        answer = admin.get(url)
        assert answer.status_code == 404, url
        assert "no such record" in answer.text
    # In a form, it is the field's mistake.
    answer = admin.post("/mailboxes/approve", data={"mailbox_id": [HUGE]})
    assert answer.status_code == 422
    assert "mailbox id" in answer.text


def test_a_profile_form_shows_every_field_error_at_once_beside_its_field(
    admin: TestClient,
) -> None:
    answer = admin.post(
        "/profiles/new",
        data={
            "kind": "imap_smtp",
            "name": "Hostile",
            "credential_source": "mailbox",
            "incoming_host": "imap_server!",
            "incoming_port": "99999",
            "incoming_security": "tls",
            "outgoing_host": "x" * 100_000,
            "outgoing_port": "25",
            "outgoing_security": "<script>",
            "max_concurrent_connections": HUGE,
            "min_polling_interval_minutes": "5",
            "connection_timeout_seconds": "30",
            "options.save_sent_copy": "maybe",
        },
    )
    assert answer.status_code == 422
    errors = dict(re.findall(r'id="f-([a-z-]+)-error">([^<]*)<', answer.text))
    assert set(errors) == {
        "incoming-host",
        "incoming-port",
        "outgoing-host",
        "outgoing-security",
        "max-concurrent-connections",
        "options-save-sent-copy",
    }
    assert "host name" in errors["incoming-host"]
    assert 'aria-describedby="f-incoming-port-error"' in answer.text
    assert "x" * 1000 not in answer.text.split("</form>")[0].split("<form")[0]


def test_settings_refuse_anything_but_yes_or_no_for_a_yes_or_no_option(
    admin: TestClient, org: Org
) -> None:
    operator = Caller(next(iter(org.users.values())), frozenset(Privilege))
    before = org.tidings.email_settings.get(operator)
    answer = admin.post("/settings/email", data={"use_correlation": "maybe"})
    assert answer.status_code == 422
    assert 'id="f-use-correlation-error">choose yes or no<' in answer.text
    assert org.tidings.email_settings.get(operator) == before


def _furnish(org: Org, closed: int) -> None:
    """Records for the pages' forms to be about: a profile whose server refuses at once (a
    port nothing listens on: ``closed``), an email with attachments, a tracked folder, a
    draft."""
    profile = ServerProfile(
        "Closed", ServerProfileKind.IMAP_SMTP, incoming_host="127.0.0.1",
        incoming_port=closed, outgoing_host="127.0.0.1", outgoing_port=closed,
        connection_timeout_seconds=2,
    )  # fmt: skip
    org.use_profile(profile, {"dana": "dana-pass"})
    org.deliver(make_email(attachments=[("a.pdf", b"%PDF", "application/pdf")]))
    org.add_folder_rule("dana", "Projects")


def _pages_with_forms(client: TestClient, routes: list[tuple[str, str, APIRoute]]) -> list[str]:
    pages = [_with_ids(path) for method, path, _ in routes if method == "GET"]
    kinds = ("imap_smtp", "pop3_smtp", "exchange_online", "exchange_server", "gmail")
    return pages + [f"/profiles/new?kind={k}" for k in kinds]


def test_every_form_field_alone_survives_hostile_values_while_the_others_are_valid(
    admin: TestClient, org: Org, closed_port: int
) -> None:
    # One field at a time, the rest as the page filled them in: a check that stops at the
    # first bad field cannot hide what a later field would do.
    _furnish(org, closed_port)
    routes = _console_routes(admin)
    forms: dict[tuple[str, tuple[str, ...]], list[tuple[str, str]]] = {}
    for url in _pages_with_forms(admin, routes):
        answer = admin.get(url)
        if not answer.headers.get("content-type", "").startswith("text/html"):
            continue
        parser = _FilledForms()
        parser.feed(answer.text)
        for action, pairs in parser.forms:
            if action != "/signout":
                forms.setdefault((action, tuple(sorted({n for n, _ in pairs}))), pairs)
    assert len(forms) > 25
    # The record pages' own forms are among them.
    actions = {action for action, _ in forms}
    assert {"/profiles/1/test", "/mailboxes/1/folders", "/mailboxes/disable"} <= actions
    walked = 0
    for (action, names), pairs in forms.items():
        for name in names:
            if name == "csrf_token":
                continue
            _still_signed_in(admin)
            for value in HOSTILE:
                data: dict[str, list[str]] = {name: [value]}
                for other, given in pairs:
                    if other not in (name, "csrf_token"):
                        data.setdefault(other, []).append(given)
                answer = admin.post(action, data=data, follow_redirects=False)
                _check(answer, f"POST {action} with {name}={value[:30]!r}", value)
                walked += 1
    assert walked > 500
