"""The sign-in throttle and session lifetimes, as pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tidings.domain.access import (
    SESSION_IDLE_TIMEOUT,
    SESSION_LIFETIME,
    SignInSession,
    SignInThrottle,
    digest_token,
)

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_the_first_failed_sign_ins_cost_nothing() -> None:
    throttle = SignInThrottle(free_attempts=5)
    assert [throttle.locked_until(n, T0) for n in range(5)] == [None] * 5


def test_each_failure_after_the_free_ones_doubles_the_wait_up_to_the_ceiling() -> None:
    throttle = SignInThrottle(5, timedelta(seconds=2), timedelta(minutes=15))
    waits = [throttle.locked_until(n, T0) for n in (5, 6, 7, 40)]
    assert waits == [
        T0 + timedelta(seconds=2),
        T0 + timedelta(seconds=4),
        T0 + timedelta(seconds=8),
        T0 + timedelta(minutes=15),
    ]


def test_a_session_ends_when_idle_too_long_or_too_old() -> None:
    session = SignInSession(1, digest_token("t"), "csrf", T0, T0)
    assert session.is_valid_at(T0 + SESSION_IDLE_TIMEOUT - timedelta(seconds=1))
    assert not session.is_valid_at(T0 + SESSION_IDLE_TIMEOUT)
    busy = SignInSession(1, digest_token("t"), "csrf", T0, T0 + SESSION_LIFETIME)
    assert not busy.is_valid_at(T0 + SESSION_LIFETIME)


def test_only_the_digest_of_a_token_is_kept_and_it_is_stable() -> None:
    assert digest_token("abc") == digest_token("abc") != digest_token("abd")
    assert "abc" not in digest_token("abc")
