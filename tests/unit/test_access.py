"""Session lifetimes and token digests, as pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tidings.domain.access import (
    SESSION_IDLE_TIMEOUT,
    SESSION_LIFETIME,
    SignInSession,
    digest_token,
)

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_a_session_ends_when_idle_too_long_or_too_old() -> None:
    session = SignInSession(1, digest_token("t"), "csrf", T0, T0)
    assert session.is_valid_at(T0 + SESSION_IDLE_TIMEOUT - timedelta(seconds=1))
    assert not session.is_valid_at(T0 + SESSION_IDLE_TIMEOUT)
    busy = SignInSession(1, digest_token("t"), "csrf", T0, T0 + SESSION_LIFETIME)
    assert not busy.is_valid_at(T0 + SESSION_LIFETIME)


def test_only_the_digest_of_a_token_is_kept_and_it_is_stable() -> None:
    assert digest_token("abc") == digest_token("abc") != digest_token("abd")
    assert "abc" not in digest_token("abc")
