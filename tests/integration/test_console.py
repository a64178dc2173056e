"""The web console over HTTP: sign-in, sessions, CSRF, roles, security headers, and email HTML
made harmless. (tests/e2e/test_console_browser.py drives the same pages in Chromium.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.builders import Org, make_email
from tidings.domain.people import NOT_AUTHORIZED_TO_TRACK, TrackIncoming
from tidings.entrypoints.api.app import create_app
from tidings.entrypoints.web.console import ROUTERS

ADMIN = ("ada@northwind.example", "ada-password")
BASE = "http://127.0.0.1:8025"
HOSTILE = sorted((Path(__file__).parents[1] / "data" / "hostile_html").glob("*.html"))


@pytest.fixture
def client(org: Org) -> TestClient:
    org.tidings.access.create_admin("Ada Admin", *ADMIN)
    return TestClient(create_app(org.tidings), base_url=BASE)


def form_token(client: TestClient) -> str:
    """Open the sign-in page, as a browser does before posting it: its CSRF token."""
    return csrf_of(client.get("/signin").text)


def sign_in(client: TestClient, email: str, password: str) -> str:
    """Sign in through the form; returns the page's CSRF token."""
    done = client.post(
        "/signin",
        data={"csrf_token": form_token(client), "email": email, "password": password, "next": "/"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    return csrf_of(client.get("/tokens").text)


def signed_in_admin(org: Org) -> TestClient:
    """A console client signed in as a new System Administrator of ``org``, sending the
    page's CSRF token with every request."""
    org.tidings.access.create_admin("Ada Admin", *ADMIN)
    client = TestClient(create_app(org.tidings), base_url=BASE)
    client.headers["X-CSRF-Token"] = sign_in(client, *ADMIN)
    return client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def test_pages_send_a_visitor_without_a_session_to_sign_in_and_back(client: TestClient) -> None:
    first = client.get("/activities?q=quote", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/signin?next=%2Factivities%3Fq%3Dquote"
    done = client.post(
        "/signin",
        data={
            "csrf_token": form_token(client),
            "email": ADMIN[0],
            "password": ADMIN[1],
            "next": "/activities?q=quote",
        },
        follow_redirects=False,
    )
    assert done.headers["location"] == "/activities?q=quote"
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie


def test_sign_in_never_redirects_to_another_site(client: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        done = client.post(
            "/signin",
            data={
                "csrf_token": form_token(client),
                "email": ADMIN[0],
                "password": ADMIN[1],
                "next": target,
            },
            follow_redirects=False,
        )
        assert done.headers["location"] == "/"


def test_a_wrong_password_shows_the_form_again_without_saying_which_part_was_wrong(
    client: TestClient,
) -> None:
    wrong = client.post(
        "/signin", data={"csrf_token": form_token(client), "email": ADMIN[0], "password": "nope"}
    )
    assert wrong.status_code == 401
    assert "That email address and password do not match a Tidings user." in wrong.text
    assert "tidings_session" not in wrong.headers.get("set-cookie", "")


def test_repeated_failures_are_throttled_in_the_console_too(client: TestClient) -> None:
    # Each refusal shows the form again with a fresh token; a few failures in, the next
    # attempt waits (this test's clock moves a second at every reading, so the count of
    # failures before it varies; test_sign_in_security.py pins the exact rules).
    token = form_token(client)
    for _ in range(10):
        data = {"email": ADMIN[0], "password": "nope", "csrf_token": token}
        answer = client.post("/signin", data=data)
        token = csrf_of(answer.text)
        if answer.status_code == 429:
            break
        assert answer.status_code == 401
    assert answer.status_code == 429
    assert "Too many failed sign-ins" in answer.text
    assert int(answer.headers["retry-after"]) > 0


def test_a_form_without_the_session_csrf_token_changes_nothing(client: TestClient) -> None:
    sign_in(client, *ADMIN)
    forged = client.post("/tokens", data={"name": "forged"})
    assert forged.status_code == 403
    assert "reload the page" in forged.text
    assert "forged" not in client.get("/tokens").text


def test_a_form_posted_from_another_site_is_refused_even_with_a_token(client: TestClient) -> None:
    token = sign_in(client, *ADMIN)
    foreign = client.post(
        "/tokens",
        data={"name": "cross-site", "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    framed = client.post(
        "/tokens", data={"name": "from a frame", "csrf_token": token}, headers={"Origin": "null"}
    )
    assert framed.status_code == 403
    same = client.post(
        "/tokens", data={"name": "mine", "csrf_token": token}, headers={"Origin": BASE}
    )
    assert same.status_code == 200 and "tdg_" in same.text


def test_sign_out_ends_the_session_on_the_server(client: TestClient) -> None:
    token = sign_in(client, *ADMIN)
    cookie = client.cookies.get("tidings_session")
    assert (
        client.post("/signout", data={"csrf_token": token}, follow_redirects=False).status_code
        == 303
    )
    client.cookies.set("tidings_session", cookie or "")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_user_without_the_tracking_role_gets_d365s_words(client: TestClient, org: Org) -> None:
    org.tidings.setup.add_user("Nora", "nora@northwind.example", [], "nora-password")
    sign_in_page = client.post(
        "/signin",
        data={
            "csrf_token": form_token(client),
            "email": "nora@northwind.example",
            "password": "nora-password",
            "next": "/",
        },
    )
    assert sign_in_page.status_code == 403
    assert NOT_AUTHORIZED_TO_TRACK in sign_in_page.text.replace("&#39;", "'")
    activities = client.get("/activities")
    assert activities.status_code == 403
    assert NOT_AUTHORIZED_TO_TRACK in activities.text.replace("&#39;", "'")
    assert client.get("/mailboxes").status_code == 403


def test_every_console_page_carries_a_strict_content_security_policy(
    client: TestClient, org: Org
) -> None:
    sign_in(client, *ADMIN)
    org.deliver(make_email(html="<p>Hello</p>"))
    for path in ("/", "/activities", "/activities/1", "/mailboxes?view=all", "/parked",
                 "/tokens", "/explain", "/signin", "/no-such-page"):  # fmt: skip
        policy = client.get(path).headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
        assert "unsafe-inline" not in policy.split("style-src")[0], path


@pytest.mark.parametrize("sample", HOSTILE, ids=lambda p: p.stem)
def test_hostile_email_html_reaches_the_frame_without_anything_active(
    client: TestClient, org: Org, sample: Path
) -> None:
    sign_in(client, *ADMIN)
    org.deliver(make_email(html=sample.read_text(), message_id=f"<{sample.stem}@evil.example>"))
    body = client.get("/activities/1/body")
    html = body.text.lower()
    for active in ("<script", "javascript:", "vbscript:", " on", "<form", "<iframe", "<object",
                   "<embed", "<meta http-equiv", "<base", "<link", "<style", "<svg",
                   "position:", "url(", "http://attacker"):  # fmt: skip
        found = [m.start() for m in re.finditer(re.escape(active), html)]
        if active == " on":  # an attribute such as onerror=, not the word "on" in text
            found = [i for i in found if re.match(r" on[a-z]+\s*=", html[i:])]
        assert not found, f"{active!r} survived in {sample.name}: {html}"
    policy = body.headers["content-security-policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy
    assert "script-src" not in policy


def test_remote_images_wait_until_the_reader_asks(client: TestClient, org: Org) -> None:
    sign_in(client, *ADMIN)
    org.deliver(make_email(html=(Path(HOSTILE[0]).parent / "remote_images.html").read_text()))
    page = client.get("/activities/1").text
    assert "3 remote images blocked" in page
    assert "tracker.example" not in client.get("/activities/1/body").text
    shown = client.get("/activities/1/body?images=1")
    assert "https://cdn.example/banner.png" in shown.text
    assert "https:" in shown.headers["content-security-policy"]


def test_an_email_left_out_is_tracked_by_hand_then_untracked_with_a_reason(
    client: TestClient, org: Org
) -> None:
    # Nora's option tracks nothing; Ada (an admin with the tracking role) tracks it by hand.
    org.add_user("nora", TrackIncoming.NONE)
    result = org.deliver(make_email(to="nora@northwind.example", message_id="<left@out>"), "nora")
    assert result.activity_id is None
    token = sign_in(client, *ADMIN)
    page = client.get("/explain", params={"message_id": "left@out"}).text
    assert "Track this email" in page
    raw_id = re.search(r'name="raw_message_id" value="(\d+)"', page)
    assert raw_id
    tracked = client.post(
        "/explain/track",
        data={"raw_message_id": raw_id.group(1), "csrf_token": token},
        follow_redirects=False,
    )
    assert tracked.status_code == 303
    activity_path = tracked.headers["location"].split("?")[0]
    assert "The email is tracked." in client.get(tracked.headers["location"]).text
    untracked = client.post(
        f"{activity_path}/untrack", data={"reason": "private email", "csrf_token": token}
    )
    assert untracked.status_code == 200
    assert client.get(activity_path).status_code == 404
    again = client.get("/explain", params={"message_id": "left@out"}).text
    assert "untracked by hand by Ada Admin: private email" in again


#: Pages every signed-in user may open, whatever their roles: their own options and tokens.
OPEN_TO_EVERYONE = {"/options", "/options/{user_id}", "/tokens", "/signin", "/signout"}
#: The App for Outlook's shell page and its sign-in dialog's last page carry no data; the
#: panel they load answers a user without the tracking role with 403.
OPEN_TO_EVERYONE |= {"/addin/taskpane", "/addin/signed-in"}
#: Help is the public documentation: any signed-in visitor may read it.
OPEN_TO_EVERYONE |= {"/help", "/help/{name:path}", "/help/images/{name}"}


def test_no_console_page_or_form_answers_a_user_without_roles(client: TestClient, org: Org) -> None:
    # Every route of the app, with 1 for each id: a user holding no role gets 403 (or, on
    # their own options and tokens, only their own data).
    org.tidings.setup.add_user("Nora", "nora@northwind.example", [], "nora-password")
    nora_id = org.tidings.access.authenticate("nora@northwind.example", "nora-password")
    assert nora_id is not None
    token = sign_in(client, "nora@northwind.example", "nora-password")
    checked = 0
    for route in [r for router in ROUTERS for r in router.routes]:
        path = getattr(route, "path", "")
        methods = getattr(route, "methods", None) or set()
        if path in OPEN_TO_EVERYONE or path.startswith(("/static", "/api", "/healthz")):
            continue
        url = re.sub(r"\{[a-z_]+\}", "1", path)
        for method in methods & {"GET", "POST"}:
            if method == "GET":
                answer = client.get(url, follow_redirects=False)
            else:
                answer = client.post(url, data={"csrf_token": token}, follow_redirects=False)
            assert answer.status_code in (403, 404, 422), f"{method} {path}: {answer.status_code}"
            assert answer.status_code != 404 or "{" in path, f"{method} {path} is missing"
            checked += 1
    assert checked > 30
    others = client.get("/options/1")
    assert others.status_code == 403


def test_behind_https_the_session_cookie_is_secure(org: Org) -> None:
    # A proxy terminating TLS tells uvicorn the scheme; here the client speaks https itself.
    org.tidings.access.create_admin("Ada Admin", *ADMIN)
    client = TestClient(create_app(org.tidings), base_url="https://tidings.example")
    done = client.post(
        "/signin",
        data={"csrf_token": form_token(client), "email": ADMIN[0], "password": ADMIN[1]},
        follow_redirects=False,
    )
    cookie = done.headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_the_api_documentation_loads_nothing_from_another_site(client: TestClient) -> None:
    # Swagger UI's script and styles come from Tidings itself; the page's policy allows no
    # other origin, so a browser could not load them from a CDN even if asked to.
    page = client.get("/api/docs")
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    assert "http" not in policy and "script-src 'self'" in policy
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {a for a in assets if not a.startswith("/")} == set()
    scripts = [a for a in assets if a.endswith(".js")]
    assert scripts and all(client.get(a).status_code == 200 for a in scripts)


def test_the_dashboard_says_whether_a_sync_worker_is_running(client: TestClient, org: Org) -> None:
    sign_in(client, *ADMIN)
    assert "No sync worker is running" in client.get("/").text
    org.tidings.sync.status.beat("worker-1", org.tidings.clock.now())
    page = client.get("/").text
    assert "Server-side synchronization is running" in page
    assert "No sync worker is running" not in page
    org.tidings.sync.status.forget_worker("worker-1")
    assert "No sync worker is running" in client.get("/").text


def test_regarding_is_chosen_by_looking_the_record_up_by_name(client: TestClient, org: Org) -> None:
    # Ada types part of a name, sees what matches of every kind, and picks one.
    result = org.deliver(make_email(subject="Seats", message_id="<seats@c.example>"))
    assert result.activity_id is not None
    path = f"/activities/{result.activity_id}"
    token = sign_in(client, *ADMIN)
    found = client.get(path, params={"find": "contoso"}).text
    picks = re.findall(r"Set regarding: ([^<]+)</button>", found)
    assert set(picks) == {"Contoso", "Contoso: 500 seats"}
    deal = org.records["deal"]
    chosen = client.post(
        f"{path}/regarding",
        data={"kind": deal.kind.value, "record_id": str(deal.id), "csrf_token": token},
    )
    assert chosen.status_code == 200
    assert org.tidings.queries.activity(result.activity_id).activity.regarding == deal
    nothing = client.get(path, params={"find": "no such name"}).text
    assert "No account, contact, lead, opportunity or case matches" in nothing


def test_the_email_settings_page_turns_skipping_automated_email_off_and_on(
    client: TestClient, org: Org
) -> None:
    # The setting sits with the other email configuration settings, on by default.
    from tidings.entrypoints.web.forms import shown_value
    from tidings.entrypoints.web.views.settings import FIELDS

    token = sign_in(client, *ADMIN)
    page = client.get("/settings/email").text
    assert "Skip automatic replies, bounces, read receipts and bulk email" in page
    with org.tidings.uow() as uow:
        config = uow.settings.get()
    form: dict[str, object] = {"csrf_token": token}
    for field in FIELDS:
        value = shown_value(config, field)
        if field.kind != "bool":
            form[field.name] = str(value)
        elif value and field.name != "skip_automated_email":
            form[field.name] = "on"

    saved = client.post(
        "/settings/email", data=form, headers={"Origin": BASE}, follow_redirects=False
    )

    assert saved.status_code == 303, saved.text
    with org.tidings.uow() as uow:
        after = uow.settings.get()
    assert after.skip_automated_email is False
    assert after == config.evolve(skip_automated_email=False)
