"""Sign-in that an attacker cannot turn against the user, on both databases: throttling by
client, by client and account, and by account only as a slow-down the owner skips; a
bounded table whatever is typed; the sign-in form's CSRF token; no-store on the API."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.builders import ManualClock, Org
from tests.conftest import settings_for
from tidings.adapters.passwords import Argon2PasswordHasher
from tidings.adapters.storage import tables
from tidings.bootstrap import Tidings, bootstrap
from tidings.domain.errors import SignInThrottledError
from tidings.domain.sign_in_throttle import UNKNOWN_BUCKETS, Backoff, SignInThrottle
from tidings.entrypoints.api.app import create_app
from tidings.services.access import AccessService

ADA = "ada@northwind.example"
PASSWORD = "correct horse battery"
OWNER_AT = "203.0.113.9"
ATTACKER_AT = "198.51.100.66"
BASE = "http://127.0.0.1:8025"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def app(database_url: str, clock: ManualClock) -> Iterator[Tidings]:
    tidings = bootstrap(settings_for(database_url), clock=clock)
    Org.create(tidings)
    tidings.access.create_admin("Ada Admin", ADA, PASSWORD)
    yield tidings
    tidings.close()


def _fail_until_throttled(app: Tidings, email: str, client: str, limit: int = 100) -> int:
    """Wrong passwords from ``client`` until it is told to wait; how many were checked."""
    for tried in range(limit):
        try:
            assert app.access.authenticate(email, f"guess {tried}", client) is None
        except SignInThrottledError:
            return tried
    raise AssertionError(f"{client} was never throttled")


def test_a_strangers_failures_never_lock_the_owner_out(app: Tidings) -> None:
    # The owner has signed in from her desk before; someone else hammers her account.
    assert app.access.authenticate(ADA, PASSWORD, OWNER_AT) is not None
    assert _fail_until_throttled(app, ADA, ATTACKER_AT) == 5
    with pytest.raises(SignInThrottledError):
        app.access.authenticate(ADA, PASSWORD, ATTACKER_AT)
    assert app.access.authenticate(ADA, PASSWORD, OWNER_AT) is not None
    # Even her own typo is not held against her for the stranger's failures.
    assert app.access.authenticate(ADA, "typo", OWNER_AT) is None
    assert app.access.authenticate(ADA, PASSWORD, OWNER_AT) is not None


def test_guessing_from_many_clients_slows_down_new_clients_but_not_the_owners(
    app: Tidings, clock: ManualClock
) -> None:
    # A botnet tries one password from each of many addresses: the account slows down
    # for clients without good history, for at most a minute at a time.
    assert app.access.authenticate(ADA, PASSWORD, OWNER_AT) is not None
    for n in range(12):
        try:
            app.access.authenticate(ADA, "guess", f"192.0.2.{n + 1}")
        except SignInThrottledError:
            break
    with pytest.raises(SignInThrottledError) as slowed:
        app.access.authenticate(ADA, PASSWORD, "192.0.2.200")
    assert 0 < slowed.value.retry_after_seconds <= 60
    assert app.access.authenticate(ADA, PASSWORD, OWNER_AT) is not None
    clock.advance(seconds=61)
    assert app.access.authenticate(ADA, PASSWORD, "192.0.2.200") is not None


def test_one_client_trying_many_accounts_is_throttled_whatever_it_tries(app: Tidings) -> None:
    for n in range(20):
        assert app.access.authenticate(f"user{n}@northwind.example", "guess", ATTACKER_AT) is None
    with pytest.raises(SignInThrottledError):
        app.access.authenticate("someone-else@northwind.example", "guess", ATTACKER_AT)
    # Other clients are untouched.
    assert app.access.authenticate(ADA, PASSWORD, OWNER_AT) is not None


def test_the_throttle_says_the_same_for_an_account_and_for_no_account(app: Tidings) -> None:
    # Waiting is no way to learn which addresses are accounts.
    with pytest.raises(SignInThrottledError) as real:
        _fail_until_throttled(app, ADA, "192.0.2.10")
        app.access.authenticate(ADA, "x", "192.0.2.10")
    with pytest.raises(SignInThrottledError) as ghost:
        assert _fail_until_throttled(app, "ghost@northwind.example", "192.0.2.11") == 5
        app.access.authenticate("ghost@northwind.example", "x", "192.0.2.11")
    assert str(real.value) == str(ghost.value) == "too many failed sign-ins; try again in 2 s"


def test_ten_thousand_attempts_on_random_unknown_addresses_leave_a_bounded_table(
    app: Tidings,
) -> None:
    # Every client let through (its own limit lifted) so that each attempt reaches the
    # counters: unknown addresses share buckets, so the rows stay bounded.
    setup = app.setup
    cheap = Argon2PasswordHasher("cheapest")
    lenient = SignInThrottle(client=Backoff(free=10**9, ceiling=timedelta(seconds=2)))
    access = AccessService(app.uow, cheap, app.clock, setup, throttle=lenient)
    refused = 0
    for _ in range(10_000):
        try:
            access.authenticate(f"{secrets.token_hex(8)}@nowhere.example", "guess", ATTACKER_AT)
        except SignInThrottledError:
            refused += 1
    with app.engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(tables.sign_in_counters)).scalar()
    assert rows is not None and rows <= 2 * UNKNOWN_BUCKETS + 1
    assert refused > 0  # the buckets filled and throttled, rather than growing


def test_old_counters_are_forgotten(app: Tidings, clock: ManualClock) -> None:
    _fail_until_throttled(app, "ghost@northwind.example", ATTACKER_AT)
    clock.advance(days=2)
    assert app.access.authenticate("other@northwind.example", "guess", "192.0.2.99") is None
    with app.engine.connect() as conn:
        scopes = conn.execute(select(tables.sign_in_counters.c.scope)).scalars().all()
    # Only the new attempt's three counters are left: the old run's were forgotten.
    assert sorted(scopes) == ["account", "client", "pair"]


# The API ------------------------------------------------------------------------------


def test_the_api_answers_a_throttled_basic_sign_in_with_429_and_retry_after(app: Tidings) -> None:
    attacker = TestClient(create_app(app), client=(ATTACKER_AT, 40000))
    owner = TestClient(create_app(app), client=(OWNER_AT, 40000))
    assert owner.get("/api/mailboxes", auth=(ADA, PASSWORD)).status_code == 200
    statuses = [attacker.get("/api/mailboxes", auth=(ADA, "guess")).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    throttled = attacker.get("/api/mailboxes", auth=(ADA, PASSWORD))
    assert throttled.status_code == 429
    assert throttled.headers["content-type"] == "application/problem+json"
    assert int(throttled.headers["retry-after"]) > 0
    assert owner.get("/api/mailboxes", auth=(ADA, PASSWORD)).status_code == 200


def test_api_answers_are_never_stored_by_caches(app: Tidings) -> None:
    client = TestClient(create_app(app))
    client.auth = (ADA, PASSWORD)
    for path in ("/api/mailboxes", "/api/activities", "/api/users", "/api/webhooks"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-store", path
    # Errors too: a refusal can name an address.
    assert client.get("/api/users/999999").headers["cache-control"] == "no-store"
    assert TestClient(create_app(app)).get("/api/activities").headers["cache-control"] == (
        "no-store"
    )


# The console's sign-in form ---------------------------------------------------------


def _form_token(client: TestClient) -> str:
    page = client.get("/signin")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, "the sign-in form carries a CSRF token"
    return found.group(1)


def test_the_sign_in_form_carries_a_token_and_a_post_without_it_is_refused(app: Tidings) -> None:
    client = TestClient(create_app(app), base_url=BASE)
    token = _form_token(client)
    cookie = client.cookies.get("tidings_sign_in")
    assert cookie and token not in cookie  # the cookie holds the token sealed, not bare
    without = client.post(
        "/signin", data={"email": ADA, "password": PASSWORD}, follow_redirects=False
    )
    assert without.status_code == 403
    assert "too old or came from another site" in without.text
    assert "tidings_session" not in without.headers.get("set-cookie", "")
    # The refusal shows the form again, with a fresh token: signing in from it works.
    fresh = re.search(r'name="csrf_token" value="([^"]+)"', without.text)
    assert fresh is not None and fresh.group(1) != token
    done = client.post(
        "/signin",
        data={"email": ADA, "password": PASSWORD, "csrf_token": fresh.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and "tidings_session" in done.headers["set-cookie"]


def test_a_token_from_another_browser_or_a_forged_cookie_is_refused(app: Tidings) -> None:
    # Login CSRF: a page elsewhere posts the form with the attacker's own token.
    attacker = TestClient(create_app(app), base_url=BASE)
    stolen = _form_token(attacker)
    victim = TestClient(create_app(app), base_url=BASE)
    _form_token(victim)
    forged = victim.post(
        "/signin",
        data={"email": ADA, "password": PASSWORD, "csrf_token": stolen},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    planted = TestClient(create_app(app), base_url=BASE, cookies={"tidings_sign_in": stolen})
    assert (
        planted.post(
            "/signin",
            data={"email": ADA, "password": PASSWORD, "csrf_token": stolen},
            follow_redirects=False,
        ).status_code
        == 403
    )


def test_a_throttled_console_sign_in_says_so_plainly(app: Tidings) -> None:
    client = TestClient(create_app(app), base_url=BASE)
    for _ in range(5):
        data = {"email": ADA, "password": "nope", "csrf_token": _form_token(client)}
        assert client.post("/signin", data=data).status_code == 401
    data = {"email": ADA, "password": PASSWORD, "csrf_token": _form_token(client)}
    locked = client.post("/signin", data=data)
    assert locked.status_code == 429
    assert "Too many failed sign-ins. Wait 2 seconds, then try again." in locked.text
    assert locked.headers["retry-after"] == "2"
    assert locked.headers["cache-control"] == "no-store"
