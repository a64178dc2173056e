"""The sign-in throttle's rules: backoffs, keys, good history, and buckets for unknowns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tidings.domain.sign_in_throttle import (
    UNKNOWN_BUCKETS,
    Backoff,
    Counter,
    SignInThrottle,
    client_label,
    keys_for,
)

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_the_first_failures_cost_nothing_then_each_doubles_the_wait_up_to_the_ceiling() -> None:
    backoff = Backoff(free=5, ceiling=timedelta(minutes=15))
    assert [backoff.until(Counter(n, T0)) for n in range(5)] == [None] * 5
    assert [backoff.until(Counter(n, T0)) for n in (5, 6, 7, 40)] == [
        T0 + timedelta(seconds=2),
        T0 + timedelta(seconds=4),
        T0 + timedelta(seconds=8),
        T0 + timedelta(minutes=15),
    ]


def test_an_ipv6_client_is_counted_by_its_64_and_a_mapped_ipv4_as_ipv4() -> None:
    assert client_label("2001:db8:1:2:aaaa::1") == client_label("2001:db8:1:2:bbbb::9")
    assert client_label("2001:db8:1:2::1") != client_label("2001:db8:1:3::1")
    assert client_label("::ffff:203.0.113.9") == client_label("203.0.113.9") == "203.0.113.9"
    assert client_label(None) == "local"


def test_keys_are_digests_and_hold_no_address_in_clear() -> None:
    keys = keys_for("203.0.113.9", "ada@northwind.example", known=True)
    for key in (keys.client, keys.pair, keys.account, keys.trusted):
        assert len(key) == 64 and "ada" not in key and "203" not in key
    assert len({keys.client, keys.pair, keys.account, keys.trusted}) == 4


def test_unknown_addresses_share_a_bounded_number_of_account_keys() -> None:
    accounts = {
        keys_for("x", f"ghost{n}@nowhere.example", known=False).account for n in range(5000)
    }
    assert len(accounts) <= UNKNOWN_BUCKETS
    known = {keys_for("x", f"real{n}@northwind.example", known=True).account for n in range(50)}
    assert len(known) == 50


def test_an_accounts_failures_slow_down_strangers_but_not_a_client_with_good_history() -> None:
    throttle = SignInThrottle()
    stranger = keys_for("198.51.100.1", "ada@northwind.example", known=True)
    owner = keys_for("203.0.113.9", "ada@northwind.example", known=True)
    assert stranger.account == owner.account
    counters = {owner.account: Counter(50, T0)}
    until = throttle.wait_until(counters, stranger, T0)
    assert until is not None and until - T0 <= timedelta(minutes=1)
    counters[owner.trusted] = Counter(1, T0 - timedelta(days=3))
    assert throttle.wait_until(counters, owner, T0) is None
    # History goes stale: a month without signing in there, and the slow-down applies.
    counters[owner.trusted] = Counter(1, T0 - timedelta(days=31))
    assert throttle.wait_until(counters, owner, T0) is not None


def test_a_client_that_fails_everywhere_waits_whatever_account_it_tries() -> None:
    throttle = SignInThrottle()
    keys = keys_for("198.51.100.1", "new@northwind.example", known=True)
    assert throttle.wait_until({keys.client: Counter(25, T0)}, keys, T0) is not None
    assert throttle.wait_until({keys.client: Counter(19, T0)}, keys, T0) is None
