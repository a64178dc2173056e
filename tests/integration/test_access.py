"""Signing in: sessions, API tokens, throttling and the first administrator, on both databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.builders import ManualClock, Org
from tests.conftest import settings_for
from tidings.bootstrap import Tidings, bootstrap
from tidings.domain.access import SESSION_IDLE_TIMEOUT, digest_token
from tidings.domain.errors import NotFoundError, SignInThrottledError, ValidationError
from tidings.domain.people import Privilege
from tidings.entrypoints.api.app import create_app

ADMIN = "ada@northwind.example"
PASSWORD = "correct horse battery"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def app(database_url: str, clock: ManualClock) -> Iterator[Tidings]:
    tidings = bootstrap(settings_for(database_url), clock=clock)
    Org.create(tidings)
    tidings.access.create_admin("Ada Admin", ADMIN, PASSWORD)
    yield tidings
    tidings.close()


def test_createadmin_makes_a_system_administrator_who_may_track(app: Tidings) -> None:
    # The first administrator can do everything, tracking included.
    caller = app.access.authenticate(ADMIN, PASSWORD)
    assert caller is not None
    assert caller.privileges == frozenset(Privilege)


def test_a_short_admin_password_is_refused(app: Tidings) -> None:
    with pytest.raises(ValidationError, match="at least 8 characters"):
        app.access.create_admin("Bo", "bo@northwind.example", "short")


def test_sign_in_is_case_blind_on_the_address_and_exact_on_the_password(app: Tidings) -> None:
    assert app.access.authenticate(" ADA@Northwind.example", PASSWORD) is not None
    assert app.access.authenticate(ADMIN, PASSWORD.upper()) is None
    assert app.access.authenticate("nobody@northwind.example", PASSWORD) is None


def test_repeated_failures_lock_the_account_for_a_growing_wait(
    app: Tidings, clock: ManualClock
) -> None:
    # Five free attempts, then even the right password waits out the lock.
    for _ in range(5):
        assert app.access.authenticate(ADMIN, "wrong") is None
    with pytest.raises(SignInThrottledError) as locked:
        app.access.authenticate(ADMIN, PASSWORD)
    assert locked.value.retry_after_seconds == 2
    clock.advance(seconds=2)
    assert app.access.authenticate(ADMIN, "wrong again") is None
    with pytest.raises(SignInThrottledError) as longer:
        app.access.authenticate(ADMIN, PASSWORD)
    assert longer.value.retry_after_seconds == 4
    clock.advance(seconds=4)
    assert app.access.authenticate(ADMIN, PASSWORD) is not None
    # Success clears the count: the next mistake is free again.
    assert app.access.authenticate(ADMIN, "wrong") is None
    assert app.access.authenticate(ADMIN, PASSWORD) is not None


def test_unknown_addresses_are_throttled_like_real_ones(app: Tidings) -> None:
    for _ in range(5):
        assert app.access.authenticate("ghost@northwind.example", "guess") is None
    with pytest.raises(SignInThrottledError):
        app.access.authenticate("ghost@northwind.example", "guess")


def test_a_session_lives_until_sign_out_and_stores_no_token(
    app: Tidings, clock: ManualClock
) -> None:
    signed_in = app.access.sign_in(ADMIN, PASSWORD)
    assert signed_in is not None
    found = app.access.session_caller(signed_in.token)
    assert found is not None and found[0].user.email == ADMIN
    with app.uow() as uow:
        stored = uow.access.get_session(digest_token(signed_in.token))
    assert stored is not None and stored.token_digest != signed_in.token
    app.access.sign_out(signed_in.token)
    assert app.access.session_caller(signed_in.token) is None


def test_an_idle_session_expires(app: Tidings, clock: ManualClock) -> None:
    signed_in = app.access.sign_in(ADMIN, PASSWORD)
    assert signed_in is not None
    clock.advance(seconds=SESSION_IDLE_TIMEOUT.total_seconds() - 60)
    assert app.access.session_caller(signed_in.token) is not None  # activity moves the limit
    clock.advance(seconds=SESSION_IDLE_TIMEOUT.total_seconds() - 60)
    assert app.access.session_caller(signed_in.token) is not None
    clock.advance(seconds=SESSION_IDLE_TIMEOUT.total_seconds())
    assert app.access.session_caller(signed_in.token) is None


def test_a_deactivated_user_loses_their_session(app: Tidings) -> None:
    signed_in = app.access.sign_in(ADMIN, PASSWORD)
    assert signed_in is not None
    with app.engine.begin() as conn:
        conn.execute(text("UPDATE users SET is_active = false WHERE email = :e"), {"e": ADMIN})
    assert app.access.session_caller(signed_in.token) is None


def test_api_tokens_act_for_their_user_until_revoked(app: Tidings) -> None:
    caller = app.access.authenticate(ADMIN, PASSWORD)
    assert caller is not None
    new = app.access.create_api_token(caller, "nightly import")
    assert new.token.startswith("tdg_") and new.record.hint == new.token[:8]
    acting = app.access.token_caller(new.token)
    assert acting is not None and acting.user.email == ADMIN
    listed = app.access.api_tokens(caller)
    assert [(t.name, t.is_active) for t in listed] == [("nightly import", True)]
    assert listed[0].last_used_at is not None
    assert new.token not in repr(listed)
    assert new.record.id is not None
    app.access.revoke_api_token(caller, new.record.id)
    assert app.access.token_caller(new.token) is None
    assert app.access.token_caller("tdg_made-up") is None


def test_a_user_cannot_revoke_someone_elses_token(app: Tidings) -> None:
    admin = app.access.authenticate(ADMIN, PASSWORD)
    assert admin is not None
    token = app.access.create_api_token(admin, "admin's").record
    app.setup.add_user("Tom", "tom@northwind.example", ["tracking"], "tom-password")
    tom = app.access.authenticate("tom@northwind.example", "tom-password")
    assert tom is not None and token.id is not None
    with pytest.raises(NotFoundError):
        app.access.revoke_api_token(tom, token.id)
    assert app.access.token_caller(app.access.create_api_token(admin, "again").token)


def test_the_api_takes_a_bearer_token_and_says_how_to_sign_in(app: Tidings) -> None:
    caller = app.access.authenticate(ADMIN, PASSWORD)
    assert caller is not None
    token = app.access.create_api_token(caller, "script").token
    client = TestClient(create_app(app))
    ok = client.get("/api/mailboxes", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    refused = client.get("/api/mailboxes", headers={"Authorization": "Bearer tdg_wrong"})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="Tidings"'
    assert refused.headers["content-type"] == "application/problem+json"


def test_the_api_answers_429_with_retry_after_while_an_account_is_locked(app: Tidings) -> None:
    client = TestClient(create_app(app))
    for _ in range(5):
        assert client.get("/api/mailboxes", auth=(ADMIN, "wrong")).status_code == 401
    locked = client.get("/api/mailboxes", auth=(ADMIN, PASSWORD))
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == "2"
    assert "too many failed sign-ins" in locked.json()["detail"]
